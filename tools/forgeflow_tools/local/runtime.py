"""The embedded local runtime: the whole application on AWS emulated in-process by moto.

`LocalRuntime` starts moto, installs the shims, creates the stack from `template.yaml` and then offers
what an operator or a test does with the deployed application: drop a dataset into the bucket, send a
"FineTune Requested" event, follow executions, read back the results bus, the ledger and the emulated
training jobs, and copy a run's outputs to disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from forgeflow.errors import DataError, InputError
from forgeflow_tools.local.functions import FunctionRegistry
from forgeflow_tools.local.moto_shims import DeliveryLog, abort_on_entering, install_shims, redeliver_event
from forgeflow_tools.local.records import RUN_RECORD_FILE, RunRecord, TrainingJobRecord
from forgeflow_tools.local.sagemaker import FailureInjection, TrainingJobEmulator
from forgeflow_tools.local.stack import Stack, StackBuilder
from forgeflow_tools.local.template import Template, load_template

# Parameter overrides the local runtime applies unless told otherwise (as `sam deploy
# --parameter-overrides` would): the shortest retry interval ASL allows, no backoff between job attempts,
# no wait before the sweeper's second sweep.
LOCAL_PARAMETER_DEFAULTS = {
    "LambdaRetrySeconds": "1",
    "ThrottleRetrySeconds": "1",
    "JobRetrySeconds": "0",
    "ResweepSeconds": "0",
    # Serverless runs need a model package group, a base-model ARN and the EULA accepted: emulated
    # stand-ins, named so (no such group or hub content exists outside this emulation).
    "ModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/forgeflow-emulated",
    "BaseModelArnLite2": (
        "arn:aws:sagemaker:us-east-1:aws:hub-content/ForgeFlowEmulatedHub/Model/nova-textgeneration-lite-v2/1.0.0"
    ),
    "AcceptBaseModelEula": "true",
}
# Logical ids fixed by docs/design/pipeline-contract.md.
DATA_BUCKET = "DataBucket"
LEDGER_TABLE = "RunLedgerTable"
RESULTS_BUS = "ResultsBus"
STATE_MACHINE = "PipelineStateMachine"
FINE_TUNE_RULE = "FineTuneRequestedRule"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """moto logs every failed state as an error and Powertools warns about empty metrics: both are the
    emulated services talking, not the user's problem. Handler logs are kept per function instead."""
    moto_logger = logging.getLogger("moto")
    level = moto_logger.level
    moto_logger.setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        warnings.filterwarnings("ignore", message=r"Exception\(\w+\) with code")
        try:
            yield
        finally:
            moto_logger.setLevel(level)


@contextlib.contextmanager
def _isolated_aws_environment(region: str) -> Iterator[None]:
    """Fake credentials, no profile, the runtime's region: the user's AWS setup can neither break the
    local runtime nor be reached by it. boto3's default session is rebuilt inside and after."""
    import boto3

    fake = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    saved = {name: os.environ.get(name) for name in [*fake, "AWS_PROFILE", "AWS_DEFAULT_PROFILE"]}
    os.environ.update(fake)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        os.environ.pop(name, None)
    boto3.DEFAULT_SESSION = None
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        boto3.DEFAULT_SESSION = None


def find_template(start: Path | None = None) -> Path:
    """`template.yaml` in the working directory or its parents, else the one next to this package."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "template.yaml").is_file():
            return folder / "template.yaml"
    packaged = Path(__file__).resolve().parents[3] / "template.yaml"
    if packaged.is_file():
        return packaged
    raise InputError(
        "no template.yaml found", code="NOT_FOUND", hint="run from the project or pass --template"
    )


@dataclass
class RunOutcome:
    """One finished execution and what it left behind."""

    execution: dict[str, Any]
    run_id: str
    events: list[dict[str, Any]]
    ledger: dict[str, Any] | None

    @property
    def status(self) -> str:
        return str(self.execution["status"])

    @property
    def execution_arn(self) -> str:
        return str(self.execution["executionArn"])

    def detail_types(self) -> list[str]:
        return [str(event["detail-type"]) for event in self.events]


class LocalRuntime:
    """A deployed-looking stack on moto; use as a context manager."""

    def __init__(
        self,
        template_path: Path,
        *,
        parameter_overrides: Mapping[str, str] | None = None,
        failures: FailureInjection | None = None,
        seconds_per_status: float = 0.0,
        stack_name: str = "forgeflow-local",
        region: str = "us-east-1",
        lambda_timeouts: Mapping[str, int] | None = None,
        abort_after: str | None = None,
    ) -> None:
        """`lambda_timeouts`: function logical id → how many of its first invocations time out;
        `abort_after`: stop the execution when it enters this state (fault injection)."""
        declared = load_template(template_path, {}, stack_name=stack_name, region=region).parameters
        overrides = {key: value for key, value in LOCAL_PARAMETER_DEFAULTS.items() if key in declared}
        overrides.update(parameter_overrides or {})
        self.template: Template = load_template(
            template_path, overrides, stack_name=stack_name, region=region
        )
        self.region = region
        self.failures = failures or FailureInjection()
        self._seconds_per_status = seconds_per_status
        self.registry = FunctionRegistry(region)
        self.registry.forced_timeouts.update(lambda_timeouts or {})
        self._abort_after = abort_after
        self.deliveries = DeliveryLog()
        self._clients: dict[str, Any] = {}
        self._captured: list[dict[str, Any]] = []
        self._exit: contextlib.ExitStack | None = None
        self._stack: Stack | None = None
        self._emulator: TrainingJobEmulator | None = None

    # --- lifecycle --------------------------------------------------------------------------------------
    def __enter__(self) -> LocalRuntime:
        from moto import mock_aws

        stack = contextlib.ExitStack()
        try:
            stack.enter_context(_isolated_aws_environment(self.region))
            stack.enter_context(_quiet_libraries())
            stack.enter_context(
                mock_aws(
                    config={"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}
                )
            )
            self._emulator = TrainingJobEmulator(
                self.client("s3"),
                account_id=self.template.account_id,
                region=self.region,
                failures=self.failures,
                seconds_per_status=self._seconds_per_status,
            )
            stack.enter_context(install_shims(self.registry, self._emulator, self.deliveries))
            stack.enter_context(abort_on_entering(self._abort_after))
            stack.enter_context(self.registry.capture_stdout())
            self._stack = StackBuilder(self.template, self.client, self.registry).build()
        except BaseException:
            stack.close()
            raise
        self._exit = stack
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        # Let running executions reach a state boundary before moto's backends are torn down; tear them
        # down even when a stop fails (moto races a stop right after a start), or the next runtime in this
        # process finds the old stack's IAM roles.
        try:
            for execution in self.executions():
                if execution["status"] == "RUNNING":
                    self._stop_at_teardown(execution["executionArn"])
            self.deliveries.wait_idle(timeout=10)
        finally:
            assert self._exit is not None
            self._exit.close()
            self._exit = None
            self._clients.clear()

    def _stop_at_teardown(self, execution_arn: str, attempts: int = 40) -> None:
        """Stop a still-running execution, waiting out moto's start race.

        moto's StopExecution fails (AttributeError on the worker's environment) when it comes before the
        execution's worker thread has built that environment, which a loaded machine makes likely right
        after a start. Retry for up to ~2 s; past that the execution is left to the teardown below.
        """
        for _ in range(attempts):
            try:
                self.client("stepfunctions").stop_execution(executionArn=execution_arn)
                return
            except AttributeError:
                time.sleep(0.05)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(service, region_name=self.region)
        return self._clients[service]

    @property
    def stack(self) -> Stack:
        assert self._stack is not None, "use LocalRuntime as a context manager"
        return self._stack

    @property
    def emulator(self) -> TrainingJobEmulator:
        assert self._emulator is not None, "use LocalRuntime as a context manager"
        return self._emulator

    # --- names --------------------------------------------------------------------------------------------
    @property
    def bucket(self) -> str:
        return self.stack.ref(DATA_BUCKET)

    @property
    def state_machine_arn(self) -> str:
        return self.stack.ref(STATE_MACHINE)

    @property
    def ledger_table(self) -> str:
        return self.stack.ref(LEDGER_TABLE)

    def parameter(self, name: str, default: str = "") -> str:
        return self.template.parameters.get(name, default)

    @property
    def incoming_prefix(self) -> str:
        return self.parameter("IncomingPrefix", "incoming/")

    @property
    def curated_prefix(self) -> str:
        return self.parameter("CuratedDataPrefix", "curated/")

    # --- acting on the application --------------------------------------------------------------------
    def put_object(self, key: str, body: bytes) -> dict[str, Any]:
        """PutObject into the data bucket; under the incoming prefix this starts a run, as on AWS."""
        answer: dict[str, Any] = self.client("s3").put_object(Bucket=self.bucket, Key=key, Body=body)
        return answer

    def drop_dataset(self, path: Path, name: str | None = None, sidecar: bytes | None = None) -> str:
        """Upload a dataset under the incoming prefix (its sidecar config first); returns the S3 URI."""
        try:
            body = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read {path}: {error.strerror}", code="NOT_FOUND") from error
        key = f"{self.incoming_prefix}{name or path.name}"
        if sidecar is not None:
            self.put_object(f"{key.removesuffix('.jsonl')}.forgeflow.yaml", sidecar)
        self.put_object(key, body)
        return f"s3://{self.bucket}/{key}"

    def request_fine_tune(self, detail: Mapping[str, Any]) -> None:
        """Put a "FineTune Requested" event on the bus the template's rule listens to."""
        properties = self.template.active_resources()[FINE_TUNE_RULE].properties
        from forgeflow_tools.local.template import Resolver

        bus = Resolver(self.template, self.stack.physical).resolve(properties.get("EventBusName", "default"))
        answer = self.client("events").put_events(
            Entries=[
                {
                    "Source": "forgeflow",
                    "DetailType": "FineTune Requested",
                    "Detail": orjson.dumps(dict(detail)).decode(),
                    "EventBusName": str(bus or "default"),
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            raise DataError(f"the event was rejected: {answer['Entries']}", code="EVENT_REJECTED")

    def deliver_event(self, envelope: Mapping[str, Any], bus: str = "default") -> None:
        """Deliver an event again, as EventBridge's at-least-once delivery sometimes does."""
        redeliver_event(self.template.account_id, self.region, bus, envelope)

    def stop_execution(self, execution_arn: str) -> None:
        self.client("stepfunctions").stop_execution(
            executionArn=execution_arn, error="Aborted", cause="local"
        )

    # --- observing it ---------------------------------------------------------------------------------
    def executions(self) -> list[dict[str, Any]]:
        if self._stack is None:
            return []
        paginator = self.client("stepfunctions").get_paginator("list_executions")
        found: list[dict[str, Any]] = []
        for page in paginator.paginate(stateMachineArn=self.state_machine_arn):
            found.extend(page["executions"])
        return sorted(found, key=lambda e: e["startDate"])

    def wait_for_executions(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Block until at least `count` executions exist (events start them asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.executions()
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def wait(
        self,
        execution_arn: str,
        timeout: float = 120.0,
        on_progress: Callable[[list[dict[str, Any]]], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Block until the execution ends and every delivery it caused is done; returns DescribeExecution.
        `on_progress` gets the history at each look, `on_tick` (cheaper: no history) is only called."""
        client = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
            if on_progress is not None:
                on_progress(self.history(execution_arn))
            if on_tick is not None:
                on_tick()
            if described["status"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                raise DataError(
                    f"execution {execution_arn} still {described['status']} after {timeout:.0f}s",
                    code="LOCAL_TIMEOUT",
                )
            # Polling shares the GIL with the execution's thread: often enough to look live, no more.
            time.sleep(0.1)
        self.deliveries.wait_idle(timeout=max(1.0, deadline - time.monotonic()))
        if on_progress is not None:
            on_progress(self.history(execution_arn))
        return described

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        paginator = self.client("stepfunctions").get_paginator("get_execution_history")
        events: list[dict[str, Any]] = []
        for page in paginator.paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def results_events(self) -> list[dict[str, Any]]:
        """Every event put on the template's custom buses so far, as EventBridge delivered it."""
        url = self.stack.capture_queue_url
        if url is None:
            return []
        sqs = self.client("sqs")
        while True:
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                self._captured.append(orjson.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return list(self._captured)

    def ledger_rows(self) -> list[dict[str, Any]]:
        """The runs' rows (not the MaxConcurrentRuns counter item that shares their table)."""
        from boto3.dynamodb.types import TypeDeserializer

        from forgeflow.aws.ledger import RUNNING_COUNTER

        deserializer = TypeDeserializer()
        rows = []
        paginator = self.client("dynamodb").get_paginator("scan")
        for page in paginator.paginate(TableName=self.ledger_table):
            for item in page["Items"]:
                if item["run_id"].get("S") == RUNNING_COUNTER:
                    continue
                rows.append({key: deserializer.deserialize(value) for key, value in item.items()})
        return rows

    def ledger_row_for(self, execution_arn: str) -> dict[str, Any] | None:
        for row in self.ledger_rows():
            if row.get("execution_arn") == execution_arn:
                return row
        return None

    def list_keys(self, prefix: str = "") -> list[str]:
        paginator = self.client("s3").get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(str(entry["Key"]) for entry in page.get("Contents", []))
        return sorted(keys)

    def read(self, key: str) -> bytes:
        return bytes(self.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def run_id_of(self, execution_arn: str) -> str:
        """The run id from the ledger row of an execution, else from its output (`$.run.run_id`, also for
        a duplicate delivery), else from its events, else its name."""
        row = self.ledger_row_for(execution_arn)
        if row and row.get("run_id"):
            return str(row["run_id"])
        described = self.client("stepfunctions").describe_execution(executionArn=execution_arn)
        output = orjson.loads(described.get("output") or "{}")
        run = output.get("run") if isinstance(output, dict) else None
        if isinstance(run, dict) and run.get("run_id"):
            return str(run["run_id"])
        for event in self.results_events():
            detail = event.get("detail", {})
            if detail.get("execution_arn") == execution_arn and detail.get("run_id"):
                return str(detail["run_id"])
        return execution_arn.rsplit(":", 1)[-1]

    def outcome(self, execution_arn: str, timeout: float = 120.0, **wait: Any) -> RunOutcome:
        """Wait for the execution, then gather its run id, its results-bus events and its ledger row."""
        described = self.wait(execution_arn, timeout=timeout, **wait)
        run_id = self.run_id_of(execution_arn)
        events = [
            event
            for event in self.results_events()
            if event.get("detail", {}).get("run_id") == run_id
            or event.get("detail", {}).get("execution_arn") == execution_arn
        ]
        return RunOutcome(described, run_id, events, self.ledger_row_for(execution_arn))

    # --- persisting a run -------------------------------------------------------------------------------
    def save_run(self, execution_arn: str, run_id: str, destination: Path) -> Path:
        """Copy the run's S3 outputs and its execution record to `destination` (a folder)."""
        destination.mkdir(parents=True, exist_ok=True)
        for key in self.list_keys():
            if run_id in key:
                target = destination / "s3" / key
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(self.read(key))
        described = self.client("stepfunctions").describe_execution(executionArn=execution_arn)
        record = RunRecord(
            run_id=run_id,
            stack=self.template.stack_name,
            state_machine_arn=self.state_machine_arn,
            execution=described,
            history=self.history(execution_arn),
            ledger=self.ledger_row_for(execution_arn),
            events=[
                event for event in self.results_events() if orjson.dumps(event).find(run_id.encode()) >= 0
            ],
            training_jobs=[
                TrainingJobRecord.of(job)
                for job in self.emulator.jobs()
                if run_id in job.name or run_id in orjson.dumps(job.request).decode()
            ],
        )
        (destination / RUN_RECORD_FILE).write_bytes(record.to_json())
        logs = destination / "logs"
        logs.mkdir(exist_ok=True)
        for name, text in self.registry.all_logs().items():
            if text:
                (logs / f"{name}.log").write_text(text, encoding="utf-8")
        (destination / "EMULATED.txt").write_text(
            "Everything in this folder comes from the ForgeFlow local runtime: S3, Step Functions, Lambda,\n"
            "EventBridge and DynamoDB are emulated in-process by moto; SageMaker jobs by an emulator that\n"
            "trains nothing. gen_qa scores measure a local retrieval stand-in, not a Nova model;\n"
            "benchmarks such as MMLU are not measured offline.\n",
            encoding="utf-8",
        )
        return destination
