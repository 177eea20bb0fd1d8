"""Every place the local runtime patches moto, in one module.

moto runs the real ASL, stores S3 objects, emits S3's EventBridge notifications and matches EventBridge
patterns, but a few pieces AWS provides are missing. Each shim below is the smallest patch that adds one:

1. Lambda `Invoke` runs our real handler in-process (`FunctionRegistry`) instead of Docker or a canned
   answer, with `FunctionError: Unhandled` and Lambda's error payload when the handler raises.
2. EventBridge targets: moto delivers only to SQS, Logs, archives and buses. Rules whose targets are a
   state machine (StartExecution with the event as input, as EventBridge does) or a Lambda function
   (asynchronous invoke) are delivered here; an SNS topic target's message is recorded in
   `DeliveryLog.notifications` (nothing is sent); SQS targets receive the exact envelope EventBridge sends
   (`version, id, detail-type, source, account, time, region, resources, detail`). Pattern matching stays
   moto's own.
3. Step Functions "Execution Status Change" events: when an execution ends, the event AWS would put on
   the default bus is sent to the matching rules. moto drops StopExecution's `error`/`cause` from an
   ABORTED execution; AWS keeps them (DescribeExecution, ExecutionAbortedEventDetails), so this shim
   copies them back before the event is built.
4. SageMaker training jobs (Create/Describe/Stop/List) are answered by `TrainingJobEmulator`.
5. The Step Functions integration `sagemaker:createTrainingJob.sync` drives the same emulator
   (`sagemaker_integration`).

6. Fault injection `abort_on_entering`: StopExecution once an execution entered a named state.
7. SendTaskFailure keeps its `cause`: moto's response handler passes only `error` to the interpreter
   (which runs `.waitForTaskToken` tasks, their TimeoutSeconds and SendTaskSuccess itself), so a
   rejection's reason would be lost before the Catch.

`install_shims` applies them for the duration of a `with` block and removes them afterwards;
`redeliver_event` replays an event through shim 2, as EventBridge's at-least-once delivery may.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from forgeflow_tools.local.functions import FunctionRegistry
from forgeflow_tools.local.sagemaker import EmulatedApiError, TrainingJobEmulator
from forgeflow_tools.local.sagemaker_integration import sagemaker_integration

STATUS_CHANGE_DETAIL_TYPE = "Step Functions Execution Status Change"
ASYNC_INVOKE_ATTEMPTS = 3
# moto stamps every S3 notification with this one event id; EventBridge gives each event its own.
_MOTO_CONSTANT_EVENT_ID = "17793124-05d4-b198-2fde-7ededc63b103"


@dataclass
class DeliveryLog:
    """Failures of asynchronous (event-driven) invokes, and a counter of deliveries still running so
    callers can wait until the emulated AWS is quiet."""

    errors: list[str] = field(default_factory=list)
    # What rules sent to SNS topics (the topic is not emulated: nothing is e-mailed), in order.
    notifications: list[tuple[str, str]] = field(default_factory=list)
    _in_flight: int = 0
    _condition: threading.Condition = field(default_factory=threading.Condition)

    @contextlib.contextmanager
    def delivering(self) -> Iterator[None]:
        with self._condition:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._condition:
                self._in_flight -= 1
                self._condition.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self._in_flight == 0, timeout=timeout)


def delivered_envelope(event: dict[str, Any]) -> dict[str, Any]:
    """The event exactly as EventBridge hands it to a target (moto keeps `time` as a Unix number)."""
    time = event.get("time", "")
    if isinstance(time, int | float):
        time = dt.datetime.fromtimestamp(float(time), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": event.get("version", "0"),
        "id": event.get("id") or str(uuid.uuid4()),
        "detail-type": event.get("detail-type", ""),
        "source": event.get("source", ""),
        "account": event.get("account", ""),
        "time": time,
        "region": event.get("region", ""),
        "resources": list(event.get("resources", [])),
        "detail": event.get("detail", {}),
    }


def _target_input(target: dict[str, Any], envelope: dict[str, Any]) -> str:
    """The payload a target receives: the whole event, a constant `Input`, an `InputPath` selection, or
    an `InputTransformer` result (moto's own template parser)."""
    if "Input" in target:
        return str(target["Input"])
    transformer = target.get("InputTransformer")
    if transformer is not None:
        from moto.events.utils import EventTemplateParser

        # moto's parser also offers <aws.events.event.ingestion-time>, so the event must carry it.
        event: Any = {**envelope, "ingestion-time": dt.datetime.now(dt.UTC).timestamp()}
        transformed = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=event,
        )
        return json.dumps(transformed)
    selected: Any = envelope
    path = str(target.get("InputPath", "$"))
    for part in [p for p in path.removeprefix("$").split(".") if p]:
        selected = selected.get(part) if isinstance(selected, dict) else None
    return json.dumps(selected)


class _Dispatcher:
    """Delivers a matched event to state machine, Lambda and SQS targets."""

    def __init__(self, registry: FunctionRegistry, log: DeliveryLog) -> None:
        self.registry = registry
        self.log = log

    def deliver(self, rule: Any, event: dict[str, Any], original: Callable[..., None]) -> None:
        from moto.utilities.arns import parse_arn

        if not rule.event_pattern.matches_event(event):
            return
        envelope = delivered_envelope(event)
        others = []
        deliveries = {
            "states": self._start_execution,
            "lambda": self._invoke,
            "sqs": self._send_to_queue,
            "sns": self._notify,
        }
        for target in rule.targets:
            arn = str(target["Arn"])
            deliver = deliveries.get(parse_arn(arn).service)
            if deliver is None:
                others.append(target)
                continue
            try:
                deliver(rule, arn, _target_input(target, envelope))
            except Exception as error:  # EventBridge never fails the sender for a target's error
                self.log.errors.append(f"{arn}: delivery failed: {error!r}")
        if others:
            # moto's own delivery (Logs, archives, other buses) for the remaining targets.
            partial = copy.copy(rule)
            partial.targets = others
            original(partial, event, True)

    def _start_execution(self, rule: Any, arn: str, payload: str) -> None:
        from moto.stepfunctions.responses import get_backend

        region = arn.split(":")[3]
        get_backend(rule.account_id, region).start_execution(arn, str(uuid.uuid4()), payload)

    def _invoke(self, rule: Any, arn: str, payload: str) -> None:
        # EventBridge invokes Lambda asynchronously: Lambda retries a failed event twice (here without
        # the minutes of delay), then the failure is recorded, never raised to the sender.
        with self.log.delivering():
            for _ in range(ASYNC_INVOKE_ATTEMPTS):
                outcome = self.registry.invoke(arn, payload.encode())
                if not outcome.function_error:
                    return
        self.log.errors.append(f"{arn}: {outcome.payload.decode()}")

    def _notify(self, rule: Any, arn: str, payload: str) -> None:
        # moto has no SNS target for rules (NotImplementedError): record the message the topic would get.
        self.log.notifications.append((arn, payload))

    def _send_to_queue(self, rule: Any, arn: str, payload: str) -> None:
        from moto.sqs.models import sqs_backends

        _, _, _, region, account, name = arn.split(":", 5)
        sqs_backends[account][region].send_message(queue_name=name, message_body=payload)


def _status_change_event(execution: Any) -> dict[str, Any]:
    def millis(value: dt.datetime | None) -> int | None:
        return int(value.timestamp() * 1000) if value is not None else None

    status = str(execution.exec_status.value)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": STATUS_CHANGE_DETAIL_TYPE,
        "source": "aws.states",
        "account": execution.account_id,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": execution.region_name,
        "resources": [execution.exec_arn],
        "detail": {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine.arn,
            "name": execution.name,
            "status": status,
            "startDate": millis(execution.start_date),
            "stopDate": millis(execution.stop_date),
            "input": json.dumps(execution.input_data),
            "output": json.dumps(execution.output) if status == "SUCCEEDED" else None,
            "inputDetails": {"included": True},
            "outputDetails": {"included": True} if status == "SUCCEEDED" else None,
            "error": execution.error,
            "cause": execution.cause,
        },
    }


def _service_error(error: EmulatedApiError) -> Exception:
    from moto.core.exceptions import ServiceException

    exception_class: type[Exception] = type(error.code, (ServiceException,), {"code": error.code})
    return exception_class(error.message)


@contextlib.contextmanager
def install_shims(
    registry: FunctionRegistry, emulator: TrainingJobEmulator, log: DeliveryLog
) -> Iterator[None]:
    """Patch moto for the duration of the block (moto's `mock_aws` must be active around it)."""
    from moto.events.models import Rule

    dispatcher = _Dispatcher(registry, log)
    original_send = Rule.send_to_targets
    with contextlib.ExitStack() as stack:
        stack.enter_context(_lambda_invoke_shim(registry, log))
        stack.enter_context(_event_targets_shim(dispatcher, original_send))
        stack.enter_context(_status_change_shim(dispatcher, original_send, log))
        stack.enter_context(_training_jobs_shim(emulator))
        stack.enter_context(sagemaker_integration(emulator))
        stack.enter_context(_task_failure_cause_shim())
        yield


def _task_failure_cause_shim() -> contextlib.AbstractContextManager[Any]:
    """Shim 7: SendTaskFailure hands the interpreter its cause, as Step Functions does."""
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(response: Any) -> Any:
        response.stepfunction_backend.send_task_failure(
            response._get_param("taskToken"),
            error=response._get_param("error"),
            cause=response._get_param("cause"),
        )
        return EmptyResult()

    return mock.patch.object(StepFunctionResponse, "send_task_failure", send_task_failure)


def _lambda_invoke_shim(
    registry: FunctionRegistry, log: DeliveryLog
) -> contextlib.AbstractContextManager[Any]:
    """Shim 1: Lambda `Invoke` runs the real handler in-process."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def invoke(
        backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        function = backend.get_function(function_name, qualifier)
        payload = body.encode() if isinstance(body, str) else (body or b"")
        with log.delivering():
            outcome = registry.invoke(function.function_arn, payload)
        if outcome.function_error:
            response_headers["x-amz-function-error"] = outcome.function_error
        response_headers["x-amz-executed-version"] = "$LATEST"
        return outcome.payload

    return mock.patch.object(LambdaSimpleBackend, "invoke", invoke)


def _event_targets_shim(
    dispatcher: _Dispatcher, original_send: Callable[..., None]
) -> contextlib.AbstractContextManager[Any]:
    """Shim 2: EventBridge rules deliver to state machine, Lambda and SQS targets as AWS does."""
    from moto.events.models import Rule

    def send_to_targets(rule: Any, event: Any, transform_input: bool = True) -> None:
        # AWS services (source aws.*) put their events on the default bus only; moto's S3 notifier
        # offers them to every bus.
        if str(event.get("source", "")).startswith("aws.") and rule.event_bus_name != "default":
            return
        if event.get("id") == _MOTO_CONSTANT_EVENT_ID:
            event["id"] = str(uuid.uuid4())  # in place: every rule sees the same, new id
        dispatcher.deliver(rule, dict(event), original_send)

    return mock.patch.object(Rule, "send_to_targets", send_to_targets)


def _keep_stop_reason(execution: Any, reasons: dict[str, tuple[str | None, str | None]]) -> None:
    """The error and cause StopExecution was given, on the ABORTED execution (as AWS keeps them)."""
    reason = reasons.pop(str(execution.exec_arn), None)
    if reason is not None and str(execution.exec_status.value) == "ABORTED":
        execution.error, execution.cause = reason


def _stop_reason_shim(reasons: dict[str, tuple[str | None, str | None]]) -> Any:
    """moto's StopExecution reads only the ARN (it stops with error "" and cause ""): keep the rest."""
    from moto.stepfunctions.responses import StepFunctionResponse

    original = StepFunctionResponse.stop_execution

    def stop_execution(response: Any) -> Any:
        arn = str(response._get_param("executionArn"))
        reasons[arn] = (response._get_param("error"), response._get_param("cause"))
        return original(response)

    return mock.patch.object(StepFunctionResponse, "stop_execution", stop_execution)


def _status_change_shim(
    dispatcher: _Dispatcher, original_send: Callable[..., None], log: DeliveryLog
) -> contextlib.AbstractContextManager[Any]:
    """Shim 3: an ending execution sends its "Execution Status Change" event to the default bus's rules."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    original_terminated = BaseExecutionWorkerCommunication.terminated
    reasons: dict[str, tuple[str | None, str | None]] = {}

    def terminated(communication: Any) -> None:
        from moto.events.models import events_backends

        # Counted as in flight before the status becomes visible: a caller that sees the execution ended
        # and waits for idle also waits for the rules this event triggers.
        with log.delivering():
            original_terminated(communication)
            execution = communication.execution
            _keep_stop_reason(execution, reasons)
            event = _status_change_event(execution)
            buses = events_backends[execution.account_id][execution.region_name].event_buses
            for rule in list(buses["default"].rules.values()):
                if rule.state == "ENABLED":
                    dispatcher.deliver(rule, event, original_send)

    stack = contextlib.ExitStack()
    stack.enter_context(_stop_reason_shim(reasons))
    stack.enter_context(mock.patch.object(BaseExecutionWorkerCommunication, "terminated", terminated))
    return stack


@contextlib.contextmanager
def _training_jobs_shim(emulator: TrainingJobEmulator) -> Iterator[None]:
    """Shim 4: the SageMaker training-job operations are answered by the emulator."""
    from moto.sagemaker.responses import SageMakerResponse

    def create(response: Any) -> Any:
        return emulator.create_training_job(dict(response.params))

    def describe(response: Any) -> Any:
        return emulator.describe_training_job(response._get_param("TrainingJobName"))

    def stop(response: Any) -> Any:
        emulator.stop_training_job(response._get_param("TrainingJobName"))
        return {}

    def list_jobs(response: Any) -> Any:
        summaries = emulator.list_training_jobs(
            name_contains=response._get_param("NameContains"),
            status_equals=response._get_param("StatusEquals"),
        )
        return {"TrainingJobSummaries": summaries}

    operations = {
        "create_training_job": create,
        "describe_training_job": describe,
        "stop_training_job": stop,
        "list_training_jobs": list_jobs,
    }
    with contextlib.ExitStack() as stack:
        for name, operation in operations.items():
            stack.enter_context(mock.patch.object(SageMakerResponse, name, _action(operation), create=True))
        yield


def _action(operation: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A moto response method answering with `operation`'s result, or with the emulator's API error."""
    from moto.core.responses import ActionResult

    def action(response: Any) -> Any:
        try:
            return ActionResult(operation(response))
        except EmulatedApiError as error:
            raise _service_error(error) from error

    return action


@contextlib.contextmanager
def abort_on_entering(state_name: str | None) -> Iterator[None]:
    """Shim 6: stop an execution (as StopExecution does) once it entered `state_name` and that state's
    work has begun: a `.sync` job was submitted (so the job exists), a Lambda task returned, or any
    other state exited. Synchronous, on the execution's own thread, so nothing after it has run.
    """
    if state_name is None:
        yield
        return
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.responses import get_backend

    original = EventManager.add_event
    armed: set[int] = set()
    begun = {"TaskSubmitted", "TaskSucceeded", "TaskFailed"}

    def add_event(manager: Any, context: Any, event_type: Any, event_details: Any = None, **rest: Any) -> int:
        event_id = original(manager, context, event_type, event_details, **rest)
        entered = (event_details or {}).get("stateEnteredEventDetails") or {}
        kind = str(getattr(event_type, "value", event_type))
        if entered.get("name") == state_name:
            armed.add(id(manager))
        elif id(manager) in armed and (kind in begun or kind.endswith("StateExited")):
            armed.discard(id(manager))
            _stop_execution_of(manager, get_backend)
        return event_id

    with mock.patch.object(EventManager, "add_event", add_event):
        yield


def _stop_execution_of(manager: Any, get_backend: Callable[[str, str], Any]) -> None:
    from moto.stepfunctions.models import stepfunctions_backends

    for account, regions in stepfunctions_backends.items():
        for region in regions:
            backend = get_backend(account, region)
            for execution in [e for machine in backend.state_machines for e in machine.executions]:
                worker = getattr(execution, "exec_worker", None)
                if worker is not None and worker.env.event_manager is manager:
                    backend.stop_execution(execution.execution_arn)
                    return


def redeliver_event(account_id: str, region: str, bus: str, envelope: Mapping[str, Any]) -> None:
    """Offer an already delivered event to the enabled rules of a bus again (the shims must be active)."""
    from moto.events.models import events_backends

    rules: dict[str, Any] = events_backends[account_id][region].event_buses[bus].rules
    for rule in list(rules.values()):
        if rule.state == "ENABLED":
            rule.send_to_targets(dict(envelope), transform_input=False)
