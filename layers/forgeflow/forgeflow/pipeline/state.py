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
    # Ignored since jobs run through `createTrainingJob.sync` (no poll loop); kept because the request
    # contract (finetune-requested.v1.json) accepts `poll_seconds`.
    poll_seconds: int = Field(default=60, ge=0)
    # The ASL state IsSmokeOnly reads `$.run.settings.smoke_only`: true ends the run after the smoke job.
    smoke_only: bool = False
    # The ASL state IsApprovalRequired reads `$.run.settings.require_approval`: true waits at AwaitApproval.
    require_approval: bool = False


class RunPointer(_State):
    """`$.run`: which run, where its request is; `registered: false` until RegisterRun succeeded."""

    registered: bool = False
    run_id: str | None = None
    dataset_uri: str | None = None
    request_uri: str | None = None
    request_id: str | None = None
    duplicate: bool = False
    settings: RunSettings = Field(default_factory=RunSettings)
    # What the console's output tab shows about the run (the resolved request, not only the trigger).
    dataset_version_id: str | None = None
    model: str | None = None
    technique: str | None = None
    outputs_prefix: str | None = None

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
    # The ASL state IsSmokeSkipped reads it: a reason (serverless runs) skips the smoke stage.
    smoke_skipped: str | None = None


class StageInput(_State):
    run: RunPointer
    validation: ValidationResult | None = None
    mix: MixResult | None = None
    recipe: RecipeResult | None = None


class StartJobInput(StageInput):
    stage: Literal["smoke", "train"]


class JobRequest(_State):
    """One job's CreateTrainingJob request, built by a Lambda and passed by the state machine to
    `sagemaker:createTrainingJob.sync`; `retries_used` counts the new attempts made after retryable
    failures, `wait_seconds` is the backoff before this attempt."""

    stage: str
    job_name: str
    request: dict[str, Any]
    retries_used: int = Field(default=0, ge=0)
    wait_seconds: int = Field(default=0, ge=0)
    suite: str | None = Field(default=None, description="evaluation only: the suite")
    target: str | None = Field(default=None, description="evaluation only: base or trained")


class JobOutcome(_State):
    """What the state machine keeps of the integration's DescribeTrainingJob output (Completed)."""

    job_name: str
    status: str
    model_artifacts: str | None = None
    # A serverless training job's model package (DescribeTrainingJob OutputModelPackageArn): what a
    # serverless evaluation of the trained model names as ModelPackageConfig.SourceModelPackageArn.
    model_package_arn: str | None = None


class Caught(_State):
    """A Catch's `Error`/`Cause` (for `.sync`: `States.TaskFailed` with DescribeTrainingJob as cause)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    error: str = Field(default="", alias="Error")
    cause: str = Field(default="", alias="Cause")


class NextAttemptInput(_State):
    run: RunPointer
    job: JobRequest
    caught: Caught


class TrainingPointer(JobRequest):
    """`$.smoke`, `$.training`: the stage's current request and, once it completed, its outcome."""

    job: JobOutcome | None = None


class EvalJobDone(_State):
    suite: str
    target: str
    job_name: str
    output_archive: str | None = Field(default=None, description="a cached baseline's output.tar.gz")


class EvaluationJobs(_State):
    """BuildEvaluationJobs: the jobs to run in parallel by a Map state, the base evaluations the baseline
    cache answers instead (forgeflow.evaluation.baseline), and the suites nothing can measure."""

    jobs: list[JobRequest]
    cached: list[EvalJobDone] = Field(default_factory=list)
    baselines: dict[str, str] = Field(
        default_factory=dict, description="suite → the baseline cache entry its base scores belong to"
    )
    unmeasured: dict[str, str] = Field(default_factory=dict, description="suite → why it has no job")


class EvaluationResult(_State):
    """`$.evaluation.result`."""

    summary_uri: str
    suites: dict[str, dict[str, Any]]
    emulated: bool = Field(default=False, description="a results file came from an emulated job")
    verdict: str | None = Field(default=None, description="promoted | regressed (forgeflow.evaluation.gate)")
    failed_gates: list[str] = Field(default_factory=list, description="each failed gate, value, threshold")
    cost: dict[str, Any] | None = Field(default=None, description="estimate and actual (summary.json `cost`)")


class EvaluationPointer(_State):
    """`$.evaluation`: the requests, the jobs that completed (the Map's output), the collected result."""

    jobs: list[JobRequest] = Field(default_factory=list)
    cached: list[EvalJobDone] = Field(default_factory=list)
    baselines: dict[str, str] = Field(default_factory=dict)
    unmeasured: dict[str, str] = Field(default_factory=dict)
    done: list[EvalJobDone] = Field(default_factory=list)
    result: EvaluationResult | None = None

    def completed(self) -> list[EvalJobDone]:
        """The jobs that completed (the Map's output) and the cached baselines standing in for base jobs."""
        return [*self.done, *self.cached]

    def suites(self) -> dict[str, dict[str, str]]:
        """suite → {target: job name} of the jobs that completed (or were cached)."""
        suites: dict[str, dict[str, str]] = {}
        for job in self.completed():
            suites.setdefault(job.suite, {})[job.target] = job.job_name
        return suites


class EvaluationInput(StageInput):
    training: TrainingPointer
    evaluation: EvaluationPointer | None = None


class Failure(_State):
    """`$.failure`: set by the failure path's Pass states from a Catch (`Error`/`Cause`) or an outcome."""

    stage: str
    error: str
    cause: str = ""
    report_uri: str | None = None


class PublishInput(_State):
    outcome: Literal["succeeded", "regressed", "failed"]
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


class RunEnd(_State):
    """How a run ended and what it used (forgeflow.pipeline.usage), set only by the call that published
    its outcome event, so each run's end is counted once on the dashboard."""

    detail_type: str
    stage: str | None = None
    verdict: str | None = None
    jobs: dict[str, int] = Field(default_factory=dict, description="'<stage>/<status>' → jobs")
    gpu_instance_hours: float = 0.0
    actual_cost_usd: float | None = None


class StoppedJobs(_State):
    run_id: str | None
    stopped: list[str]
    ended: RunEnd | None = None


class Published(_State):
    detail_type: str
    event_id: str
    result_uri: str | None = None
    ended: RunEnd | None = None


class ApprovalInput(_State):
    """AwaitApproval's payload: the run, its estimate, the completed smoke job (None when the recipe skipped
    the smoke stage) and the task token (`$$.Task.Token`) the execution waits on."""

    run: RunPointer
    recipe: RecipeResult
    smoke: TrainingPointer | None = None
    task_token: str = Field(min_length=1)
    execution_arn: str


class ApprovalPending(_State):
    """What RequestApproval returns (Step Functions ignores it: the task's result is the approver's)."""

    run_id: str
    event_id: str
    expires_at: str


class ApprovalDecision(_State):
    """The output `forgeflow runs approve` sends with SendTaskSuccess (`$.approval`)."""

    approved: Literal[True] = True
    approver: str = Field(description="who approved: the caller's IAM ARN (or `local` on the emulation)")
    decided_at: str
