"""Stack settings the handlers receive as environment variables, parsed from a mapping.

Handlers call `PipelineSettings.from_environ(os.environ)` at invocation time (never at import time): the
local runtime loads every handler into one process and sets each function's environment around each call.
Pure: the mapping is an argument, so tests pass a dict.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from forgeflow.errors import InputError
from forgeflow.jobs.serverless import MAX_SERVERLESS_POLLS
from forgeflow.mixing.forge import Compute
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.preflight import DEFAULT_MAX_RUN_COST_USD

# Every run writes under this prefix; no input prefix may overlap it (a run would trigger runs).
RUNS_PREFIX = "runs/"
# template.yaml's MaxDatasetBytes default (docs/pipeline.md, "Spend and confinement").
DEFAULT_MAX_DATASET_BYTES = 2 * 1024**3
DEFAULT_MAX_CONCURRENT_RUNS = 2
# template.yaml's ApprovalTimeoutSeconds default: a day to approve a run's full job.
DEFAULT_APPROVAL_TIMEOUT_SECONDS = 86400

# Environment variable → field. One table so the template, the docs and this parser agree.
ENVIRONMENT = {
    "DATA_BUCKET": "data_bucket",
    "LEDGER_TABLE": "ledger_table",
    "RESULTS_BUS_NAME": "results_bus_name",
    "SAGEMAKER_ROLE_ARN": "sagemaker_role_arn",
    "INCOMING_PREFIX": "incoming_prefix",
    "CURATED_DATA_PREFIX": "curated_data_prefix",
    "REQUEST_DATA_PREFIX": "request_data_prefix",
    "DEFAULT_MODEL": "default_model",
    "DEFAULT_TECHNIQUE": "default_technique",
    "TRAINING_INSTANCE_TYPE": "training_instance_type",
    "BUDGET_USD": "budget_usd",
    "MAX_RUN_COST_USD": "max_run_cost_usd",
    "MAX_DATASET_BYTES": "max_dataset_bytes",
    "MAX_CONCURRENT_RUNS": "max_concurrent_runs",
    "KMS_KEY_ARN": "kms_key_arn",
    "MLFLOW_TRACKING_ARN": "mlflow_tracking_arn",
    "MLFLOW_ARTIFACT_BUCKET": "mlflow_artifact_bucket",
    "AWS_REGION": "region",
    "JOB_RETRY_ATTEMPTS": "job_retry_attempts",
    "JOB_RETRY_SECONDS": "job_retry_seconds",
    "SMOKE_MAX_RUNTIME_SECONDS": "smoke_max_runtime_seconds",
    "EVAL_MAX_RUNTIME_SECONDS": "eval_max_runtime_seconds",
    "GATE_MMLU_MAX_DROP": "gate_mmlu_max_drop",
    "GATE_GENERAL_MAX_DROP": "gate_general_max_drop",
    "GATE_DOMAIN_MIN_GAIN": "gate_domain_min_gain",
    "RESWEEP_SECONDS": "resweep_seconds",
    "STATE_MACHINE_ARN": "state_machine_arn",
    "DEFAULT_COMPUTE": "default_compute",
    "MODEL_PACKAGE_GROUP_ARN": "model_package_group_arn",
    "BASE_MODEL_ARN_LITE_2": "base_model_arn_lite_2",
    "REQUIRE_APPROVAL": "require_approval",
    "APPROVAL_TIMEOUT_SECONDS": "approval_timeout_seconds",
    "APPROVER_ARNS": "approver_arns",
    "STACK_NAME": "stack_name",
    "ACCEPT_BASE_MODEL_EULA": "accept_base_model_eula",
    "SERVERLESS_MAX_POLLS": "serverless_max_polls",
    "FORGEFLOW_EMULATED": "emulated",
}


class PipelineSettings(BaseModel):
    """The deployment's configuration: where things live and the defaults of a run request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_bucket: str = ""
    ledger_table: str = ""
    results_bus_name: str = ""
    sagemaker_role_arn: str = ""
    incoming_prefix: str = "incoming/"
    curated_data_prefix: str = "curated/"
    request_data_prefix: str = "datasets/"
    default_model: NovaModel = NovaModel.LITE
    default_technique: Technique = Technique.SFT_LORA
    training_instance_type: str = "ml.p5.48xlarge"
    budget_usd: float | None = Field(default=None, gt=0)
    # The default of a request's `poll_seconds`, which is ignored since jobs run through the Step Functions
    # integration (no poll loop); the request contract still accepts the key.
    poll_seconds: int = Field(default=60, ge=0, le=3600)
    max_run_cost_usd: float = Field(default=DEFAULT_MAX_RUN_COST_USD, gt=0, allow_inf_nan=False)
    max_dataset_bytes: int = Field(default=DEFAULT_MAX_DATASET_BYTES, gt=0)
    max_concurrent_runs: int = Field(default=DEFAULT_MAX_CONCURRENT_RUNS, ge=1, le=1000)
    kms_key_arn: str | None = None
    mlflow_tracking_arn: str | None = None
    # The tracking server's S3 artifact store (stack MlflowArtifactBucket): TrackRun uploads the run's
    # artifacts there; None: their S3 URIs are tags instead (docs/tracking.md).
    mlflow_artifact_bucket: str | None = None
    region: str = "us-east-1"
    # Job attempts: new attempts after a retryable failure, and the first backoff (doubling).
    job_retry_attempts: int = Field(default=2, ge=0, le=10)
    job_retry_seconds: int = Field(default=300, ge=0, le=3600)
    # The smoke job (five steps) and the evaluation jobs get their own, short MaxRuntime.
    smoke_max_runtime_seconds: int = Field(default=3600, ge=60, le=7200)
    eval_max_runtime_seconds: int = Field(default=7200, ge=60, le=7200)
    # The forgetting gate's stack-wide thresholds in points (forgeflow.evaluation.gate); a run's `gates`
    # overrides them.
    gate_mmlu_max_drop: float = Field(default=2.0, ge=0, le=100)
    gate_general_max_drop: float = Field(default=2.0, ge=0, le=100)
    gate_domain_min_gain: float = Field(default=0.0, ge=-100, le=100)
    # StopOrphanedJobs looks again after this long for a job created after its first sweep.
    resweep_seconds: float = Field(default=20.0, ge=0, le=300)
    # Only the launcher starts executions (LaunchRunFunction); the state machine's own functions lack it.
    state_machine_arn: str = ""
    # Serverless training (forgeflow.jobs.serverless): the default compute of a run, the output model
    # package group, and the SageMaker AI Hub base-model ARN of Nova 2 Lite (the one model
    # nova-forge-sft-datamix-smtj documents for serverless Forge data mixing).
    default_compute: Compute = Compute.SERVERFUL
    model_package_group_arn: str = ""
    base_model_arn_lite_2: str = ""
    # Approval before the full job (docs/pipeline.md, "Approval"): the default of a run's
    # `require_approval`, how long AwaitApproval waits (template.yaml's ApprovalTimeoutSeconds default),
    # who may approve (ApproverArns, comma-separated) and the stack the approve command names.
    require_approval: bool = False
    approval_timeout_seconds: int = Field(default=DEFAULT_APPROVAL_TIMEOUT_SECONDS, ge=1)
    approver_arns: str = ""
    stack_name: str = ""
    # ServerlessJobConfig.AcceptEula: the operator accepts the base model's EULA (stack AcceptBaseModelEula).
    accept_base_model_eula: bool = False
    # The ASL's bound on one serverless attempt's polls (stack ServerlessMaxPolls, ≤ MAX_SERVERLESS_POLLS).
    serverless_max_polls: int = Field(default=MAX_SERVERLESS_POLLS, ge=1, le=MAX_SERVERLESS_POLLS)
    # Set by the local runtime's Lambda emulation only (never by the template): the jobs' evaluations are
    # answered by its stand-in model, whose base model is the curated pool (the baseline cache's key).
    emulated: bool = False

    @field_validator("incoming_prefix", "curated_data_prefix", "request_data_prefix")
    @classmethod
    def _input_prefix(cls, value: str) -> str:
        # An input prefix that is runs/ or under it would make the pipeline read (and, for incoming/,
        # trigger on) its own outputs; one above it ("" or "/") would take in every run's outputs.
        if not value.endswith("/") or value == "/" or value.startswith(RUNS_PREFIX):
            raise ValueError(f"{value!r} must end with '/' and must not be {RUNS_PREFIX} or lie under it")
        return value

    @property
    def input_prefixes(self) -> tuple[str, ...]:
        """The key prefixes the pipeline reads datasets and mix sources from (besides its own run)."""
        return (self.incoming_prefix, self.curated_data_prefix, self.request_data_prefix)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PipelineSettings:
        """Read the settings; an empty variable means "not set" (CloudFormation cannot pass null)."""
        values = {field: environ[name] for name, field in ENVIRONMENT.items() if environ.get(name, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "?"
            variable = next((name for name, known in ENVIRONMENT.items() if known == field), field)
            raise InputError(
                f"environment variable {variable} is invalid: {first['msg']}",
                code="BAD_SETTINGS",
                hint="fix the stack parameter that sets it",
            ) from error

    def require(self, *fields: str) -> None:
        """Fail with the variable's name when a stage needs a setting the environment does not give."""
        for field in fields:
            if not getattr(self, field):
                variable = next(name for name, known in ENVIRONMENT.items() if known == field)
                raise InputError(f"environment variable {variable} is not set", code="BAD_SETTINGS")

    def gate_defaults(self) -> dict[str, float]:
        """The stack's gate thresholds, by run-config key."""
        return {
            "mmlu_max_drop": self.gate_mmlu_max_drop,
            "general_max_drop": self.gate_general_max_drop,
            "domain_min_gain": self.gate_domain_min_gain,
        }

    def run_prefix(self, run_id: str) -> str:
        """Where a run's outputs live: `s3://<bucket>/runs/<run_id>/`."""
        return f"s3://{self.data_bucket}/runs/{run_id}/"
