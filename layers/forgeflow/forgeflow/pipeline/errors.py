"""Errors the pipeline raises on purpose. Each class name is the Step Functions error name.

A Lambda handler that raises one of these fails with `errorType` = the class name, so the state
machine's `Retry` and `Catch` clauses match on it (e.g. `"ErrorEquals": ["TrainingJobThrottled"]`) and the
`Run Failed` event carries it as `error_code`. Keep the class names stable: they are part of the ASL.
"""

from __future__ import annotations

from forgeflow.errors import DataError, ForgeFlowError


class PipelineError(ForgeFlowError):
    """A stage cannot go on; the state machine routes it to the failure path."""

    default_code = "PipelineError"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, code=type(self).__name__, hint=hint)


class RequestInvalid(PipelineError, DataError):
    """The run request (S3 event, sidecar YAML or FineTune Requested detail) is malformed."""


class DatasetInvalid(PipelineError, DataError):
    """The dataset failed validation; the report is in S3."""


class MixPlanInvalid(PipelineError, DataError):
    """The mix plan cannot be satisfied by the data (or names unreadable sources)."""


class RecipeInvalid(PipelineError, DataError):
    """The training configuration renders no valid recipe (a key out of its documented range)."""


class PreflightRefused(PipelineError, DataError):
    """Pre-flight refused the run before any GPU spend: a dataset limit or the budget."""


class DatasetTooLarge(PipelineError, DataError):
    """The dataset is larger than MaxDatasetBytes: Validate and Mix could not finish it (RegisterRun)."""


class RunsAtCapacity(PipelineError, DataError):
    """MaxConcurrentRuns runs are RUNNING already: RegisterRun refuses another before any job."""

    @classmethod
    def at(cls, limit: int) -> RunsAtCapacity:
        return cls(
            f"{limit} runs are RUNNING already, the stack's cap (MaxConcurrentRuns = {limit}): "
            "this run was refused before any job",
            hint="send the request again when a run has ended (forgeflow runs list), or raise "
            "MaxConcurrentRuns (sam deploy --parameter-overrides MaxConcurrentRuns=N)",
        )


class InputMissing(PipelineError):
    """An object the stage needs (dataset, curated source, recipe, job output) cannot be read."""


class TrainingJobThrottled(PipelineError):
    """SageMaker throttled the request ("Rate exceeded"): the state machine retries with backoff."""


class CapacityUnavailable(PipelineError):
    """ResourceLimitExceeded / insufficient capacity: retried with a long backoff up to a deadline."""


class JobFailed(PipelineError):
    """SageMaker refused the job request or a job ended Failed/Stopped."""


class JobAttemptsExhausted(PipelineError):
    """A job kept failing for a retryable reason until the stack's JobRetryAttempts were used up."""


class EvaluationInvalid(PipelineError):
    """An evaluation job's output holds no parsable `results_*.json`."""


class ApprovalRejected(ForgeFlowError):
    """The error name `forgeflow runs reject` sends with SendTaskFailure: a person refused the full job.

    Not a `PipelineError`: no Lambda raises it (so the Lambda tasks' no-retry lists do not name it); only
    the AwaitApproval task lists it, next to `States.Timeout`, as an error it never retries.
    """

    default_code = "ApprovalRejected"


# What AwaitApproval fails with when nobody answered within ApprovalTimeoutSeconds (the task's
# TimeoutSeconds; "Error names" in the Step Functions developer guide).
APPROVAL_TIMED_OUT = "States.Timeout"
