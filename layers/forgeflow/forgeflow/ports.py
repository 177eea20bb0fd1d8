"""The ports the pipeline's domain needs, and the typed values that cross them.

The steps (`forgeflow.pipeline.steps`) and `forgeflow.storage` talk to the outside world only through these
Protocols: a run ledger, a results bus, training jobs and an object store. `forgeflow.aws` implements them
with boto3; `tests/fakes` implements them in memory; `forgeflow.composition` is the one place that wires
the boto3 adapters to the steps. Nothing here imports the AWS SDK.

The errors an adapter raises on purpose are the state machine's error names
(`forgeflow.pipeline.errors`), so they are part of the ports' contract too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

RunStatus = Literal["RUNNING", "SUCCEEDED", "FAILED"]

# The SageMaker training-job statuses (DescribeTrainingJob `TrainingJobStatus`) of a job still running.
ACTIVE_STATUSES = ("InProgress", "Stopping")


class LedgerRow(BaseModel):
    """One run's row in the ledger: what it is about, who owns it, where it got to, how it ended.

    Extra attributes written by an operator or a later version are kept, not dropped.
    """

    model_config = ConfigDict(extra="allow")

    run_id: str
    status: RunStatus = "RUNNING"
    stage: str | None = None
    source: str | None = None
    dataset_uri: str | None = None
    dataset_etag: str | None = None
    dataset_version_id: str | None = None
    request_id: str | None = None
    execution_arn: str | None = None
    request_uri: str | None = None
    job_names: list[str] = []
    created_at: str | None = None
    updated_at: str | None = None
    result_uri: str | None = None
    error_code: str | None = None
    message: str | None = None
    # The id of the Run Succeeded / Regressed / Failed event put for `execution_arn`: one per execution.
    outcome_event_id: str | None = None
    # The task token AwaitApproval waits on (`forgeflow runs approve` sends the result with it), and when.
    approval_token: str | None = None
    approval_requested_at: str | None = None
    # A run that trained and was evaluated: the gate's verdict (promoted | regressed), its actual cost.
    verdict: str | None = None
    actual_cost_usd: float | None = None
    # A serverless run's trained model: the model package its training job registered (OutputModelPackageArn).
    model_package_arn: str | None = None

    def to_item(self) -> dict[str, Any]:
        """The row as plain attributes, without the unset ones (DynamoDB stores no nulls)."""
        return self.model_dump(exclude_none=True)


class RunLedger(Protocol):
    """One row per run; the conditional insert is what makes a run start once per upload."""

    def register(self, row: LedgerRow, *, max_running: int | None = None) -> bool:
        """Insert the run's row unless it exists; True when this call created it.

        With `max_running`, a RUNNING row is refused with `RunsAtCapacity` when that many rows are RUNNING
        already; the check and the insert are one atomic write.
        """
        ...

    def get(self, run_id: str) -> LedgerRow | None: ...

    def reclaim(self, run_id: str, execution_arn: str, *, max_running: int | None = None) -> bool:
        """Hand a FAILED run to a new execution (RUNNING, outcome cleared, job names kept); False when the
        row is not FAILED (RUNNING or SUCCEEDED runs stay duplicates). Like `register`, it takes a place
        under `max_running` (RunsAtCapacity when none is left)."""
        ...

    def update(self, run_id: str, **fields: Any) -> None:
        """Set these attributes of an existing row (and `updated_at`); a RUNNING row set to SUCCEEDED or
        FAILED frees its place under `max_running`."""
        ...

    def add_job(self, run_id: str, job_name: str) -> None:
        """Record a job of the run once, even when a retried start records it again."""
        ...

    def find_by_execution(self, execution_arn: str) -> LedgerRow | None: ...

    def hold_for_approval(self, run_id: str, execution_arn: str, token: str) -> bool:
        """Store the task token the run's approval waits on (stage `approval`) when the row is RUNNING and
        owned by `execution_arn`; False otherwise (nothing written)."""
        ...


class Executions(Protocol):
    """The pipeline's state machine, as the launcher sees it."""

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        """Start an execution named `name`; its ARN, or None when an execution of that name exists
        (Step Functions keeps a name for 90 days, whatever the execution's status)."""
        ...


class ResultsBus(Protocol):
    def put(self, entry: dict[str, Any]) -> str:
        """Put one PutEvents entry; returns the event id, raises when the bus refused it."""
        ...


@dataclass(frozen=True)
class JobState:
    name: str
    status: str
    secondary_status: str
    failure_reason: str
    model_artifacts: str | None
    output_uri: str | None
    created_at: datetime | None
    # DescribeTrainingJob's BillableTimeInSeconds and ResourceConfig: what the job costs.
    billable_seconds: int | None = None
    instance_type: str | None = None
    instance_count: int | None = None
    # DescribeTrainingJob names a ServerlessJobConfig: a serverless job (outputs uncompressed, no instances).
    serverless: bool = False


class TrainingJobs(Protocol):
    def describe(self, name: str) -> JobState: ...

    def stop(self, name: str) -> bool:
        """Ask SageMaker to stop the job; False when it had already ended."""
        ...

    def list_active(self, name_contains: str) -> list[str]: ...


class ObjectWriter(Protocol):
    """An upload whose object appears only on `close()`; `abort()` leaves nothing behind."""

    def write(self, data: bytes, /) -> int: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


class ObjectStore(Protocol):
    """The S3 operations `forgeflow.storage.Storage` needs; errors are `InputError`s with a fix."""

    def open_read(self, bucket: str, key: str, version_id: str | None = None) -> IO[bytes]: ...

    def head(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
        """The object's (or this version's) ContentLength, ETag, VersionId; None when it does not exist."""
        ...

    def list_keys(self, bucket: str, prefix: str) -> Iterable[str]: ...

    def writer(self, bucket: str, key: str) -> ObjectWriter: ...
