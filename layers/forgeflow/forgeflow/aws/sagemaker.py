"""SageMaker training jobs: describe, stop and list a run's jobs, with boto3.

Step Functions creates the jobs itself (`createTrainingJob.sync`); the Lambdas only look at them (the
evaluation's checkpoint, the failure path's StopJobs, the sweeper). Throttling and capacity errors become
the pipeline's named errors so the state machine can retry them.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from forgeflow.pipeline.errors import CapacityUnavailable, JobFailed, TrainingJobThrottled
from forgeflow.ports import ACTIVE_STATUSES, JobState

_THROTTLING = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
_CAPACITY = {"ResourceLimitExceeded", "CapacityError", "InsufficientCapacityError"}


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", error))


def _raise_named(error: ClientError, action: str) -> None:
    code = _code(error)
    if code in _THROTTLING:
        raise TrainingJobThrottled(f"{action}: SageMaker throttled the request ({code}: {_message(error)})")
    if code in _CAPACITY:
        raise CapacityUnavailable(
            f"{action}: {code}: {_message(error)}",
            hint="retried with backoff; raise the account quota for the instance type or choose another",
        )


class SageMakerTrainingJobs:
    """`forgeflow.ports.TrainingJobs` on the SageMaker API."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def describe(self, name: str) -> JobState:
        try:
            answer = self._client.describe_training_job(TrainingJobName=name)
        except ClientError as error:
            _raise_named(error, f"DescribeTrainingJob {name}")
            raise JobFailed(f"DescribeTrainingJob {name}: {_code(error)}: {_message(error)}") from error
        artifacts = answer.get("ModelArtifacts", {}).get("S3ModelArtifacts")
        output = answer.get("OutputDataConfig", {}).get("S3OutputPath")
        resources = answer.get("ResourceConfig", {})
        billable = answer.get("BillableTimeInSeconds")
        return JobState(
            name=name,
            status=str(answer.get("TrainingJobStatus", "")),
            secondary_status=str(answer.get("SecondaryStatus", "")),
            failure_reason=str(answer.get("FailureReason", "")),
            model_artifacts=str(artifacts) if artifacts else None,
            output_uri=str(output) if output else None,
            created_at=answer.get("CreationTime"),
            billable_seconds=int(billable) if billable is not None else None,
            instance_type=resources.get("InstanceType"),
            instance_count=resources.get("InstanceCount"),
            serverless="ServerlessJobConfig" in answer,
        )

    def stop(self, name: str) -> bool:
        try:
            self._client.stop_training_job(TrainingJobName=name)
        except ClientError as error:
            # A job that already ended (or never existed) cannot be stopped: nothing to do.
            if _code(error) in {"ValidationException", "ResourceNotFound"}:
                return False
            _raise_named(error, f"StopTrainingJob {name}")
            raise
        return True

    def list_active(self, name_contains: str) -> list[str]:
        names: list[str] = []
        for status in ACTIVE_STATUSES:
            token: str | None = None
            while True:
                arguments: dict[str, Any] = {"NameContains": name_contains, "StatusEquals": status}
                if token:
                    arguments["NextToken"] = token
                answer = self._client.list_training_jobs(**arguments)
                names.extend(str(job["TrainingJobName"]) for job in answer.get("TrainingJobSummaries", []))
                token = answer.get("NextToken")
                if not token:
                    break
        return sorted(set(names))
