"""The typed inputs and outputs of the pipeline's Lambda steps: the pointers the state machine carries.

The execution state holds these under `$.run`, `$.validation`, `$.mix`, `$.recipe`, `$.smoke`,
`$.training`, `$.evaluation` and `$.failure`; each is small (URIs, names, counts), never data or reports,
to stay far below Step Functions' 256 KB payload limit. The state machine passes each task the pieces it
needs (see `statemachine/pipeline.asl.json`); every model ignores keys it does not know so that the ASL may
pass more than a step reads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from forgeflow.nova import Method


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RunSettings(_State):
    poll_seconds: int = Field(default=60, ge=0)


class RunPointer(_State):
    """`$.run`: which run, where its request is; `registered: false` until RegisterRun succeeded."""

    registered: bool = False
    run_id: str | None = None
    dataset_uri: str | None = None
    request_uri: str | None = None
    request_id: str | None = None
    duplicate: bool = False
    settings: RunSettings = Field(default_factory=RunSettings)

    def require_id(self) -> str:
        if not self.registered or not self.run_id:
            raise ValueError("this step needs a registered run ($.run.run_id)")
        return self.run_id


class RegisterInput(_State):
    event: dict[str, Any]
    execution_arn: str | None = None


class ValidationResult(_State):
    """`$.validation`."""

    valid: bool
    report_uri: str
    records: int
    error_count: int
    method: Method | None = None


class MixResult(_State):
    """`$.mix`."""

    train_uri: str
    validation_uri: str | None
    report_uri: str
    train_records: int
    validation_records: int


class RecipeResult(_State):
    """`$.recipe`: the recipes of both stages (each a folder holding `recipe.yaml`), pre-flight verdict."""

    technique: str
    recipe_uri: str
    smoke_recipe_uri: str
    smoke_train_uri: str = Field(description="the smoke job's train channel (Nova 1.0: a 5-step subset)")
    preflight_uri: str
    estimate_usd: float | None = None
    max_runtime_seconds: int


class StageInput(_State):
    run: RunPointer
    validation: ValidationResult | None = None
    mix: MixResult | None = None
    recipe: RecipeResult | None = None


class StartJobInput(StageInput):
    stage: Literal["smoke", "train"]
    attempt: int = Field(default=1, ge=1)


class JobsStarted(_State):
    """`$.smoke`, `$.training`, `$.evaluation`: the jobs of a stage and when to give up on them."""

    job_names: list[str]
    adopted: list[str] = Field(default_factory=list)
    deadline: int = Field(description="epoch seconds after which a still-running job is stopped")
    suites: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="evaluation only: suite → {target: job name}"
    )


class CheckJobsInput(_State):
    run: RunPointer
    job_names: list[str] = Field(min_length=1)
    deadline: int


class JobSummary(_State):
    name: str
    status: str
    secondary_status: str
    failure_reason: str
    model_artifacts: str | None


class JobsStatus(_State):
    """`$.<stage>.check`: `status` is Completed only when every job completed, Failed when one ended badly."""

    status: Literal["InProgress", "Completed", "Failed"]
    secondary_status: str
    failure_reason: str
    model_artifacts: str | None
    jobs: list[JobSummary]


class TrainingPointer(JobsStarted):
    check: JobsStatus | None = None


class EvaluationInput(StageInput):
    training: TrainingPointer
    evaluation: JobsStarted | None = None


class EvaluationResult(_State):
    """`$.evaluation.result`."""

    summary_uri: str
    suites: dict[str, dict[str, Any]]
    emulated: bool = Field(default=False, description="a results file came from an emulated job")


class EvaluationPointer(JobsStarted):
    check: JobsStatus | None = None
    result: EvaluationResult | None = None


class Failure(_State):
    """`$.failure`: set by the failure path's Pass states from a Catch (`Error`/`Cause`) or an outcome."""

    stage: str
    error: str
    cause: str = ""
    report_uri: str | None = None


class PublishInput(_State):
    outcome: Literal["succeeded", "failed"]
    execution_arn: str | None = None
    event: dict[str, Any] = Field(default_factory=dict)
    run: RunPointer
    validation: ValidationResult | None = None
    mix: MixResult | None = None
    recipe: RecipeResult | None = None
    smoke: TrainingPointer | None = None
    training: TrainingPointer | None = None
    evaluation: EvaluationPointer | None = None
    failure: Failure | None = None
    stopped: list[str] = Field(default_factory=list)


class StopJobsInput(_State):
    run: RunPointer


class StoppedJobs(_State):
    run_id: str | None
    stopped: list[str]


class Published(_State):
    detail_type: str
    event_id: str
    result_uri: str | None = None
