"""Results events on the ForgeFlow bus: versioned details, EventBridge entries and their JSON Schemas.

Every event has `source: forgeflow`, a `detail-type` from `DETAIL_TYPES` and a `detail` whose
`schema_version` names its contract. The JSON Schemas of the delivered events are kept in the repository
(`forgeflow/pipeline/schemas/*.json`, generated from these models by `write_schemas`); a test keeps the two
identical, so changing a detail means bumping its version and regenerating, never a silent drift.
Consumers parse an event with `from_event`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from forgeflow.errors import DataError
from forgeflow.pipeline.request import REQUEST_DETAIL_TYPE, REQUEST_SOURCE, RunRequest

SOURCE = REQUEST_SOURCE
RUN_STARTED = "Run Started"
RUN_SUCCEEDED = "Run Succeeded"
RUN_FAILED = "Run Failed"
APPROVAL_REQUESTED = "Approval Requested"
# The forgetting gate failed (forgeflow.evaluation.gate): the run trained, but is not promoted.
RUN_REGRESSED = "Run Regressed"

SCHEMA_DIR = Path(__file__).parent / "schemas"


class _Detail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["1"] = "1"
    run_id: str
    execution_arn: str | None = None
    request_id: str | None = None
    dataset_uri: str


class RunStarted(_Detail):
    """A run was registered (a new dataset version or request); its work begins."""

    source: Literal["s3", "request"]
    dataset_version_id: str | None = None
    dataset_etag: str | None = None
    model: str
    technique: str | None = Field(description="null: chosen from the dataset's method at RenderRecipe")
    started_at: datetime


class SuiteResult(BaseModel):
    """One evaluation suite: the headline metric for the base and the trained model.

    A null score was not measured (`note` says why); `note` also says when the scores are emulated.
    """

    model_config = ConfigDict(extra="forbid")

    metric: str
    base: float | None
    trained: float | None
    delta: float | None
    note: str | None = Field(
        default=None, description="why a score is null, or that the scores are emulated; null otherwise"
    )


class JobCost(BaseModel):
    """One job's actual cost: billable seconds × instance count × the stack's hourly price."""

    model_config = ConfigDict(extra="forbid")

    name: str
    stage: str
    instance_type: str | None
    instance_count: int
    billable_seconds: int | None
    usd: float | None = Field(description="null: not billed yet, or no price for the instance type")


class RunCost(BaseModel):
    """The pre-flight estimate next to the actual cost of every job of the run (forgeflow.jobs.billing)."""

    model_config = ConfigDict(extra="forbid")

    estimate_usd: float | None
    actual_usd: float | None
    jobs: list[JobCost]
    unpriced: list[str] = Field(default_factory=list, description="jobs with no billable time or price")


class _Trained(_Detail):
    """What a run that trained (or ran its smoke job) reports, whatever the verdict."""

    model: str
    technique: str
    outputs_uri: str = Field(description="s3://<bucket>/runs/<run_id>/")
    mix_report_uri: str
    recipe_uri: str
    training_job_name: str | None = Field(description="null for a smoke-only run (no full training job)")
    smoke_only: bool = Field(
        default=False,
        description="true when the run was asked to stop after its smoke job: training and evaluation "
        "fields are null or empty",
    )
    smoke_job_name: str | None = Field(default=None, description="the smoke job that completed")
    smoke_skipped: str | None = Field(
        default=None,
        description="why the run had no smoke job (serverless: no smallest run is documented); null when "
        "it ran one",
    )
    model_artifacts: str | None
    model_package_arn: str | None = Field(
        default=None,
        description="a serverless run's trained model: the model package its training job registered "
        "(DescribeTrainingJob OutputModelPackageArn); null for a serverful or smoke-only run",
    )
    evaluation_summary_uri: str | None
    evaluation: dict[str, SuiteResult] = Field(default_factory=dict)
    emulated: bool = Field(
        default=False,
        description="true when an evaluation ran on the local emulator: its scores are not a Nova model's",
    )
    estimated_cost_usd: float | None = Field(
        default=None,
        description="the pre-flight estimate for the smoke and full training jobs (USD); null when the run "
        "did not get that far or no price is known",
    )
    actual_cost_usd: float | None = Field(
        default=None, description="billable seconds of every job × the stack's prices (USD); see `cost`"
    )
    cost: RunCost | None = Field(default=None, description="null for a smoke-only run (no evaluation)")
    finished_at: datetime


class RunSucceeded(_Trained):
    """The run trained and evaluated a model that passed the gate, or (`smoke_only`) ran its smoke job."""

    verdict: Literal["promoted"] | None = Field(
        default=None, description="the forgetting gate's verdict; null for a smoke-only run (no evaluation)"
    )


class RunRegressed(_Trained):
    """The run trained and evaluated a model that failed the forgetting gate: not promoted."""

    verdict: Literal["regressed"] = "regressed"
    failed_gates: list[str] = Field(
        min_length=1, description="each failed gate: '<gate>: <value> points (threshold <t>)'"
    )


Stage = Literal[
    "register",
    "validate",
    "mix",
    "recipe",
    "smoke",
    "approval",
    "train",
    "evaluate",
    "publish",
    "stopped-by-operator",
]
# `forgeflow runs stop` calls StopExecution with this error; the sweeper (StopOrphanedJobs) reads it from the
# `Execution Status Change` event and publishes Run Failed at stage `stopped-by-operator`.
OPERATOR_STOP_ERROR = "StoppedByOperator"
OPERATOR_STOP_STAGE: Stage = "stopped-by-operator"


class RunFailed(BaseModel):
    """The run stopped at `stage` with `error_code`; `report_uri` points at the details when there are any."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["1"] = "1"
    run_id: str | None = Field(description="null when the request was rejected before a run existed")
    execution_arn: str | None = None
    request_id: str | None = None
    dataset_uri: str | None = None
    stage: Stage
    error_code: str
    message: str
    report_uri: str | None = None
    stopped_jobs: list[str] = Field(default_factory=list)
    estimated_cost_usd: float | None = Field(
        default=None,
        description="the pre-flight estimate for the smoke and full training jobs (USD); null when the run "
        "did not get that far or no price is known",
    )
    finished_at: datetime


class SmokeResult(BaseModel):
    """The smoke job the approver judges: its name, status and where its outputs are."""

    model_config = ConfigDict(extra="forbid")

    job_name: str
    status: str
    model_artifacts: str | None = None
    outputs_uri: str = Field(
        description="s3://<bucket>/runs/<run_id>/jobs/: the smoke job's logs and metrics"
    )


class ApprovalRequested(_Detail):
    """The smoke job succeeded (or was skipped) and the run waits for a person before its full job."""

    smoke: SmokeResult | None = Field(description="the smoke job; null when the smoke stage was skipped")
    smoke_skipped: str | None = Field(
        default=None, description="why the run had no smoke job (serverless: no documented smallest run)"
    )
    estimated_cost_usd: float | None = Field(
        description="the pre-flight estimate for the smoke and full training jobs (USD); null when no price "
        "is known"
    )
    preflight_uri: str
    approvers: list[str] = Field(
        description="the IAM principals the stack names as approvers (ApproverArns); empty: whoever has the "
        "stack's ApproverPolicy attached"
    )
    approve_command: str = Field(description="the command that approves; `forgeflow runs reject` refuses")
    timeout_seconds: int = Field(description="the wait before the run fails at stage approval")
    expires_at: datetime
    requested_at: datetime


DETAIL_TYPES: dict[str, type[BaseModel]] = {
    RUN_STARTED: RunStarted,
    RUN_SUCCEEDED: RunSucceeded,
    RUN_REGRESSED: RunRegressed,
    RUN_FAILED: RunFailed,
    APPROVAL_REQUESTED: ApprovalRequested,
}
# Events ForgeFlow consumes (validated the same way): the upstream request.
INBOUND_DETAIL_TYPES: dict[str, type[BaseModel]] = {REQUEST_DETAIL_TYPE: RunRequest}

ResultDetail = RunStarted | RunSucceeded | RunRegressed | RunFailed | ApprovalRequested


def detail_type_of(detail: BaseModel) -> str:
    for name, model in DETAIL_TYPES.items():
        if type(detail) is model:
            return name
    raise TypeError(f"{type(detail).__name__} is not a results event detail")


def to_eventbridge_entry(detail: ResultDetail, *, bus_name: str) -> dict[str, Any]:
    """A PutEvents entry; `Resources` names the run so rules and archives can filter on it."""
    return {
        "Source": SOURCE,
        "DetailType": detail_type_of(detail),
        "Detail": orjson.dumps(detail.model_dump(mode="json")).decode(),
        "EventBusName": bus_name,
    }


def from_event(event: dict[str, Any]) -> BaseModel:
    """An event as EventBridge delivers it (`source`, `detail-type`, `detail`) → its typed detail."""
    detail_type = event.get("detail-type")
    known = DETAIL_TYPES | INBOUND_DETAIL_TYPES
    model = known.get(str(detail_type))
    if event.get("source") != SOURCE or model is None:
        raise DataError(
            f"not a ForgeFlow event: source {event.get('source')!r}, detail-type {detail_type!r}",
            hint=f"expected source {SOURCE!r} and one of {sorted(known)}",
        )
    try:
        return model.model_validate(event.get("detail"))
    except ValidationError as error:
        raise DataError(f"invalid {detail_type!r} detail: {error.errors()[0]['msg']}") from error


def schema_file_name(detail_type: str) -> str:
    """`Run Failed` → `run-failed.v1.json`."""
    model = (DETAIL_TYPES | INBOUND_DETAIL_TYPES)[detail_type]
    version = model.model_fields["schema_version"].default
    return f"{detail_type.lower().replace(' ', '-')}.v{version}.json"


def event_schema(detail_type: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole delivered event of this detail-type."""
    model = (DETAIL_TYPES | INBOUND_DETAIL_TYPES)[detail_type]
    # Outbound events are checked as emitted (every field present); inbound ones as senders may write them.
    mode: Literal["serialization", "validation"] = (
        "serialization" if detail_type in DETAIL_TYPES else "validation"
    )
    detail = model.model_json_schema(mode=mode)
    definitions = detail.pop("$defs", {})
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://forgeflow.dev/schemas/{schema_file_name(detail_type)}",
        "title": f"ForgeFlow {detail_type} event",
        "type": "object",
        "required": ["source", "detail-type", "detail"],
        "properties": {
            "source": {"const": SOURCE},
            "detail-type": {"const": detail_type},
            "detail": detail,
        },
    }
    if definitions:
        schema["$defs"] = definitions
    return schema


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Regenerate the committed schema files (`python -m forgeflow.pipeline.events`)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for detail_type in sorted(DETAIL_TYPES | INBOUND_DETAIL_TYPES):
        path = directory / schema_file_name(detail_type)
        path.write_bytes(orjson.dumps(event_schema(detail_type), option=orjson.OPT_INDENT_2) + b"\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_schemas():
        print(written_path)
