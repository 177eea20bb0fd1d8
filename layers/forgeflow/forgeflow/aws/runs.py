"""A deployed stack's runs, for operators: executions from Step Functions, rows from the run ledger."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any

from forgeflow.aws.ledger import DynamoLedger
from forgeflow.errors import InputError

# The stack outputs (template.yaml `Outputs`) that name the state machine and the ledger table.
STACK_OUTPUT_STATE_MACHINE = "PipelineStateMachineArn"
STACK_OUTPUT_TABLE = "RunLedgerTableName"


# Logs Insights: how often to ask whether a query finished, and for how long.
_QUERY_POLL_SECONDS = 1.0
_QUERY_TIMEOUT_SECONDS = 120.0
# Run ids are `<dataset name>-<12 hex>` of [A-Za-z0-9_.-]: anything else never reaches a query string.
_SAFE_RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")


class DeployedRuns:
    """The runs of one deployed pipeline: its state machine's executions, the ledger's rows, the runs'
    training jobs (SageMaker) and the functions' logs (CloudWatch Logs Insights)."""

    def __init__(
        self,
        stepfunctions: Any,
        ledger: DynamoLedger,
        state_machine_arn: str,
        sagemaker: Any = None,
        logs: Any = None,
        s3: Any = None,
    ) -> None:
        self._sfn = stepfunctions
        self._ledger = ledger
        self._machine = state_machine_arn
        self._sagemaker = sagemaker
        self._logs = logs
        self._s3 = s3

    def executions(
        self, limit: int, status: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Newest first (ListExecutions' order), at most `limit`, started at or after `since`."""
        found: list[dict[str, Any]] = []
        query: dict[str, Any] = {"stateMachineArn": self._machine}
        if status:
            query["statusFilter"] = status
        for page in self._sfn.get_paginator("list_executions").paginate(**query):
            for execution in page["executions"]:
                if since is not None and execution["startDate"] < since:
                    return found
                found.append(execution)
                if len(found) >= limit:
                    return found
        return found

    def stop(self, execution_arn: str, error: str, cause: str) -> None:
        """StopExecution: Step Functions stops the running `.sync` job; the sweeper the rest."""
        self._sfn.stop_execution(executionArn=execution_arn, error=error, cause=cause)

    def start(self, name: str, document: dict[str, Any]) -> str:
        answer = self._sfn.start_execution(
            stateMachineArn=self._machine, name=name, input=json.dumps(document)
        )
        return str(answer["executionArn"])

    def training_jobs(self, names: list[str]) -> list[dict[str, Any]]:
        """DescribeTrainingJob of each name (a name claimed for an attempt never created is left out)."""
        jobs = []
        for name in names:
            try:
                job = self._sagemaker.describe_training_job(TrainingJobName=name)
            except self._sagemaker.exceptions.ClientError:
                continue
            jobs.append(
                {"name": name, "status": job["TrainingJobStatus"], "start": job.get("TrainingStartTime")}
            )
        return jobs

    def outcome(self, execution_arn: str) -> dict[str, Any] | None:
        """The run's `result.json` (the Run Succeeded detail) when the ledger points at one."""
        row = self._ledger.find_by_execution(execution_arn)
        if row is None or not row.result_uri or self._s3 is None:
            return None
        bucket, _, key = row.result_uri.removeprefix("s3://").partition("/")
        document: dict[str, Any] = json.loads(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return document

    def logs(self, run_id: str, log_groups: list[str], start: datetime, end: datetime) -> list[str]:
        """The functions' log lines of this run: Powertools' `correlation_id` is the run id."""
        if not _SAFE_RUN_ID.fullmatch(run_id):
            raise InputError(f"run id {run_id!r} has characters a run id never has", code="USAGE")
        query = (
            "fields @timestamp, @log, @message"
            f' | filter correlation_id = "{run_id}" | sort @timestamp asc | limit 10000'
        )
        started = self._logs.start_query(
            logGroupNames=log_groups,
            startTime=int(start.timestamp()),
            endTime=int(end.timestamp()),
            queryString=query,
        )
        deadline = time.monotonic() + _QUERY_TIMEOUT_SECONDS
        while True:
            answer = self._logs.get_query_results(queryId=started["queryId"])
            if answer["status"] not in ("Scheduled", "Running"):
                break
            if time.monotonic() > deadline:
                raise InputError("the Logs Insights query did not finish in 120 s", code="LOGS_TIMEOUT")
            time.sleep(_QUERY_POLL_SECONDS)
        if answer["status"] != "Complete":
            raise InputError(f"the Logs Insights query ended {answer['status']}", code="LOGS_QUERY")
        return [_log_line(row) for row in answer["results"]]

    def describe(self, execution_arn: str) -> dict[str, Any]:
        if ":execution:" not in execution_arn:  # an execution name: complete it from the machine's ARN
            execution_arn = self._machine.replace(":stateMachine:", ":execution:") + ":" + execution_arn
        answer: dict[str, Any] = self._sfn.describe_execution(executionArn=execution_arn)
        return answer

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for page in self._sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    # Rows leave as plain attributes: the CLI shows local and deployed runs through one table.
    def ledger_for(self, execution_arn: str) -> dict[str, Any] | None:
        row = self._ledger.find_by_execution(execution_arn)
        return row.to_item() if row else None

    def ledger_row(self, run_id: str) -> dict[str, Any] | None:
        row = self._ledger.get(run_id)
        return row.to_item() if row else None


def _log_line(row: list[dict[str, str]]) -> str:
    """One Logs Insights result row as `<timestamp> <log group> <message>`."""
    fields = {field["field"]: field["value"] for field in row}
    group = fields.get("@log", "").rsplit(":", 1)[-1]
    return f"{fields.get('@timestamp', '')} {group} {fields.get('@message', '').rstrip()}"


def connect(
    *,
    profile: str | None,
    region: str | None,
    state_machine_arn: str | None,
    table: str | None,
) -> DeployedRuns:
    """The runs of a deployed pipeline, named by its state machine and ledger table (the CLI reads them
    from the stack's outputs, `STACK_OUTPUT_*`, when given `--stack`)."""
    import boto3  # deferred: the CLI's other commands must not pay for it

    session = boto3.session.Session(profile_name=profile, region_name=region)
    if not state_machine_arn or not table:
        raise InputError(
            "which stack? the state machine and the ledger table are unknown",
            code="USAGE",
            hint="pass --stack NAME, or --state-machine-arn and --table, or --local",
        )
    ledger = DynamoLedger(session.client("dynamodb"), table)
    return DeployedRuns(
        session.client("stepfunctions"),
        ledger,
        state_machine_arn,
        sagemaker=session.client("sagemaker"),
        logs=session.client("logs"),
        s3=session.client("s3"),
    )
