"""The Step Functions SageMaker integrations, locally: `arn:aws:states:::sagemaker:createTrainingJob.sync`
and the AWS SDK integration's `aws-sdk:sagemaker:createTrainingJob` / `describeTrainingJob` (serverless).

moto's interpreter lists SageMaker as unsupported (`state_task_service_factory._UNSUPPORTED_SERVICE_NAMES`).
This module adds it, modelled on moto's `state_task_service_batch.py`, answering from the
`TrainingJobEmulator`: the task creates the job, waits without adding history events, and ends with the
DescribeTrainingJob output (Completed) or `States.TaskFailed` whose cause is that output (Failed/Stopped),
as AWS does (docs.aws.amazon.com/step-functions/latest/dg/connect-sagemaker.html). When the execution
stops (StopExecution, timeout) while the job runs, the job is stopped, as Step Functions does for `.sync`.
Recipe: shared/reference/field-notes.md, "Running long, expensive jobs from Step Functions".
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

from forgeflow_tools.local.sagemaker import EmulatedApiError, TrainingJobEmulator


def _create_training_job_members() -> set[str]:
    """What the integration accepts: every CreateTrainingJob member in botocore's SageMaker model (the
    same model the real service validates against), never a hand-kept list."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return set(model.operation_model("CreateTrainingJob").input_shape.members)


# How often the emulated integration describes the job (it adds no history events).
POLL_INTERVAL_SECONDS = 0.01
_ENDED = frozenset({"Completed", "Failed", "Stopped"})


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _task_failed(env: Any, error: str, cause: str, name: Any) -> Exception:
    """The `TaskFailed` failure moto's interpreter routes to Retry/Catch as `error`."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    details = TaskFailedEventDetails(
        error=error, cause=cause, resource="createTrainingJob.sync", resourceType="sagemaker"
    )
    event_details: Any = EventDetails(taskFailedEventDetails=details)  # type: ignore[typeddict-item]
    failure_event = FailureEvent(
        env=env, error_name=name, event_type=HistoryEventType.TaskFailed, event_details=event_details
    )
    return FailureEventException(failure_event)


def _service_class(emulator: TrainingJobEmulator) -> type[Any]:
    """A moto `StateTaskServiceCallback` for `sagemaker:createTrainingJob.sync` bound to the emulator."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (  # noqa: E501
        StateTaskServiceCallback,
    )

    failure = _task_failed
    sync: Any = ResourceCondition.Sync

    class StateTaskServiceSageMaker(StateTaskServiceCallback):
        def __init__(self) -> None:
            super().__init__(supported_integration_patterns={sync})

        def _get_supported_parameters(self) -> set[str] | None:
            if self.resource.api_action.lower() != "createtrainingjob":
                return None
            return _create_training_job_members()

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
        ) -> None:
            try:
                answer = emulator.create_training_job(dict(normalised_parameters))
            except EmulatedApiError as error:
                # Named `SageMaker.<code>` here; the ASL classifies by the code inside (NextJobAttempt).
                code = f"SageMaker.{error.code}"
                raise failure(env, code, error.message, CustomErrorName(code)) from error
            env.stack.append(answer)

        def _eval_integration_pattern(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
        ) -> None:
            env.stack.pop()
            name = str(normalised_parameters["TrainingJobName"])
            while env.is_running():
                described = emulator.describe_training_job(name)
                status = described["TrainingJobStatus"]
                if status == "Completed":
                    env.stack.append(_jsonable(described))
                    return
                if status in _ENDED:
                    task_failed = StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
                    raise failure(env, "States.TaskFailed", json.dumps(_jsonable(described)), task_failed)
                time.sleep(POLL_INTERVAL_SECONDS)
            # The execution was stopped while the job ran: Step Functions stops the job.
            with contextlib.suppress(EmulatedApiError):
                emulator.stop_training_job(name)

    return StateTaskServiceSageMaker


# The AWS SDK integration's SageMaker actions the state machine uses (ServerlessTrainingJob's loop).
_SDK_ACTIONS = {
    "createtrainingjob": "create_training_job",
    "describetrainingjob": "describe_training_job",
}


def _sdk_service_class(emulator: TrainingJobEmulator) -> type[Any]:
    """moto's `aws-sdk` integration, with `aws-sdk:sagemaker:*` answered by the emulator: the output is
    JSON (timestamps as strings, as Step Functions serializes them) and errors are `SageMaker.<code>`."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (  # noqa: E501
        StateTaskServiceAwsSdk,
    )

    failure = _task_failed

    class StateTaskServiceAwsSdkSageMaker(StateTaskServiceAwsSdk):
        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
        ) -> None:
            if self.resource.api_name != "sagemaker":
                super()._eval_service_task(
                    env, resource_runtime_part, normalised_parameters, state_credentials
                )
                return
            action = _SDK_ACTIONS[self.resource.api_action.lower()]
            parameters = dict(normalised_parameters)
            try:
                if action == "create_training_job":
                    answer = emulator.create_training_job(parameters)
                else:
                    answer = emulator.describe_training_job(str(parameters["TrainingJobName"]))
            except EmulatedApiError as error:
                code = f"SageMaker.{error.code}"
                raise failure(env, code, error.message, CustomErrorName(code)) from error
            env.stack.append(_jsonable(answer))

    return StateTaskServiceAwsSdkSageMaker


@contextlib.contextmanager
def sagemaker_integration(emulator: TrainingJobEmulator) -> Iterator[None]:
    """Register the SageMaker integrations (`.sync`, `aws-sdk:sagemaker:*`) with moto's interpreter for
    the duration of the block."""
    # state_task_factory imported the function by name: patch it there.
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory as factory

    service_class = _service_class(emulator)
    sdk_class = _sdk_service_class(emulator)
    original = factory.state_task_service_for  # type: ignore[attr-defined]

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "sagemaker":
            return service_class()
        if service_name == "aws-sdk":
            return sdk_class()
        return original(service_name=service_name)

    with mock.patch.object(factory, "state_task_service_for", state_task_service_for):
        yield
