"""BuildTrainingJob and NextJobAttempt: the requests Step Functions runs with `createTrainingJob.sync`.

The state machine creates each job and waits for it itself (no poll loop, no history growth, the job is
stopped when the execution is). These steps only build requests, so retrying them is always safe:

- `build_training_job`: the smoke or full job's request, under a name never used by the run before
  (attempt = one more than any attempt of that stage in the ledger, so a re-run after FAILED never reuses
  a name);
- `next_attempt`: after a job failed, a new attempt for a retryable reason (capacity, internal error,
  quota, throttling) after a backoff, bounded by the stack's JobRetryAttempts; anything else fails the
  stage at once with `JobFailed` (or `JobAttemptsExhausted`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from forgeflow.jobs.billing import job_cost
from forgeflow.jobs.billing import run_cost as billing_total
from forgeflow.jobs.requests import (
    MLFLOW_MEMBER,
    JobSettings,
    build_training_job_request,
    job_name,
    rename_request,
)
from forgeflow.jobs.smoke import smoke_recipe
from forgeflow.mixing.forge import Compute
from forgeflow.pipeline.errors import JobAttemptsExhausted, JobFailed, RecipeInvalid, RequestInvalid
from forgeflow.pipeline.request import ResolvedRun
from forgeflow.pipeline.state import Caught, JobRequest, NextAttemptInput, StartJobInput
from forgeflow.pipeline.steps.common import enter_stage, load_run, reraise_as
from forgeflow.pipeline.steps.recipe import max_runtime, training_config
from forgeflow.pipeline.steps.serverless import serverless_training_request
from forgeflow.pipeline.steps.services import Services
from forgeflow.recipes.cost import PriceTable
from forgeflow.recipes.render import render_recipe as render

# The CreateTrainingJob members the ASL passes to the integration (statemachine/pipeline.asl.json);
# a request with any other member cannot be run as built.
SYNC_FIELDS = frozenset(
    {
        "TrainingJobName",
        "RoleArn",
        "AlgorithmSpecification",
        "HyperParameters",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
        "StoppingCondition",
        "ProfilerConfig",
        "TensorBoardOutputConfig",
        "Tags",
    }
)
# A tracked job's request (stack parameter MlflowTrackingArn) adds MLFLOW_MEMBER: the Tracked* twins of
# SmokeJob, TrainingJob and ServerlessTrainingJob pass it, the originals do not (a test derives each twin).
TRACKED_FIELDS = SYNC_FIELDS | {MLFLOW_MEMBER}
# Failure reasons / API error codes worth a new attempt (shared/reference/field-notes.md: capacity and
# quota errors are the usual p5 failures; InternalServerError is SageMaker's transient fault).
RETRYABLE_MARKERS = (
    "CapacityError",
    "InsufficientCapacity",
    "InternalServerError",
    "ResourceLimitExceeded",
    "ThrottlingException",
)
MAX_BACKOFF_SECONDS = 3600


def job_settings(
    run: ResolvedRun, services: Services, *, stage_limit: int | None = None, tracked: bool = False
) -> JobSettings:
    """Where a run's jobs write, which role they run as, how long they may take (capped by `stage_limit`);
    `tracked` jobs (smoke and full training) log to the stack's MLflow tracking server when it has one.
    Evaluation jobs stay untracked: the EvaluationJobs Map passes no MlflowConfig."""
    settings = services.settings
    settings.require("sagemaker_role_arn", "data_bucket")
    runtime = max_runtime(run)
    return JobSettings(
        role_arn=settings.sagemaker_role_arn,
        output_uri=settings.run_prefix(run.run_id) + "jobs/",
        region=settings.region,
        kms_key_id=settings.kms_key_arn,
        max_runtime_seconds=min(runtime, stage_limit) if stage_limit else runtime,
        mlflow_resource_arn=settings.mlflow_tracking_arn if tracked else None,
    )


def next_attempt_number(run_id: str, stage: str, services: Services) -> int:
    """One more than the highest attempt of the stage the ledger knows (a name is never used twice)."""
    row = services.ledger.get(run_id)
    head = job_name(run_id, stage, 1)[: -len("1")]
    attempts = [int(name[len(head) :]) for name in (row.job_names if row else []) if _attempt_of(name, head)]
    return max(attempts, default=0) + 1


def _attempt_of(name: str, head: str) -> bool:
    return name.startswith(head) and name[len(head) :].isdigit()


def claim_job_name(run_id: str, stage: str, services: Services) -> str:
    """The next attempt's name, recorded in the ledger before the job exists (so the sweeper knows it)."""
    name = job_name(run_id, stage, next_attempt_number(run_id, stage, services))
    services.ledger.add_job(run_id, name)
    return name


def sync_request(request: dict[str, Any]) -> dict[str, Any]:
    """The request, checked to carry only the members the state machine passes on (MlflowConfig through
    the Tracked* twin states)."""
    extra = sorted(set(request) - TRACKED_FIELDS)
    if extra:
        raise RecipeInvalid(
            f"the job request has members the state machine does not pass: {', '.join(extra)}",
            hint="statemachine/pipeline.asl.json passes " + ", ".join(sorted(TRACKED_FIELDS)),
        )
    return request


def build_training_job(payload: StartJobInput, services: Services) -> JobRequest:
    """The smoke or full job's CreateTrainingJob request under a new attempt name."""
    run = load_run(payload.run, services)
    if payload.mix is None or payload.recipe is None:
        raise RequestInvalid("BuildTrainingJob needs $.mix and $.recipe")
    enter_stage(services, run.run_id, payload.stage)
    smoke = payload.stage == "smoke"
    rendered = render(training_config(run, payload, services))
    if smoke:
        rendered = smoke_recipe(rendered)
    limit = services.settings.smoke_max_runtime_seconds if smoke else None
    settings = job_settings(run, services, stage_limit=limit, tracked=True)
    name = claim_job_name(run.run_id, payload.stage, services)
    if run.compute is Compute.SERVERLESS:
        request = serverless_training_request(
            run, payload, rendered, settings=settings, name=name, services=services
        )
        return JobRequest(stage=payload.stage, job_name=name, request=request)
    with reraise_as(RecipeInvalid):
        request = build_training_job_request(
            rendered,
            run_id=run.run_id,
            stage=payload.stage,
            channels={
                "train": payload.recipe.smoke_train_uri if smoke else payload.mix.train_uri,
                "validation": payload.mix.validation_uri,
            },
            recipe_uri=payload.recipe.smoke_recipe_uri if smoke else payload.recipe.recipe_uri,
            settings=settings,
            attempt=int(name.rsplit("-", 1)[1]),
            dataset=run.dataset_uri,
        )
    return JobRequest(stage=payload.stage, job_name=name, request=sync_request(request))


def failure_reason(caught: Caught) -> str:
    """Why the job or its creation failed: the job's FailureReason (`.sync` cause), else the cause."""
    with contextlib.suppress(orjson.JSONDecodeError):
        described = orjson.loads(caught.cause)
        if isinstance(described, dict) and described.get("TrainingJobName"):
            status = described.get("TrainingJobStatus", "ended")
            reason = described.get("FailureReason", "no reason given")
            return f"{described['TrainingJobName']} {status}: {reason}"
    return f"{caught.error}: {caught.cause}" if caught.cause else caught.error


def is_retryable(caught: Caught) -> bool:
    reason = failure_reason(caught)
    return any(marker in reason or marker in caught.error for marker in RETRYABLE_MARKERS)


def next_attempt(payload: NextAttemptInput, services: Services) -> JobRequest:
    """A new attempt of a failed job when the failure is retryable and attempts remain; else fail."""
    previous = payload.job
    reason = failure_reason(payload.caught)
    if not is_retryable(payload.caught):
        raise JobFailed(f"{previous.stage} job failed: {reason}")
    allowed = services.settings.job_retry_attempts
    if previous.retries_used >= allowed:
        raise JobAttemptsExhausted(
            f"{previous.stage} job failed {previous.retries_used + 1} times; last: {reason}",
            hint="raise the stack parameter JobRetryAttempts, or re-send the request later",
        )
    run_id = payload.run.require_id()
    name = claim_job_name(run_id, previous.stage, services)
    backoff = services.settings.job_retry_seconds * 2**previous.retries_used
    return previous.model_copy(
        update={
            "job_name": name,
            "request": rename_request(previous.request, name),
            "retries_used": previous.retries_used + 1,
            "wait_seconds": min(backoff, MAX_BACKOFF_SECONDS),
        }
    )


def run_cost(run_id: str, estimate_usd: float | None, services: Services) -> dict[str, Any]:
    """The run's cost so far: every job the ledger names (each attempt; a name claimed for an attempt
    that was never created is skipped) priced by the stack's table (forgeflow.jobs.billing)."""
    row = services.ledger.get(run_id)
    prices = PriceTable.default()
    jobs = []
    for name in row.job_names if row else []:
        try:
            state = services.jobs.describe(name)
        except JobFailed:
            continue
        stage = name.split(f"{run_id}-", 1)[-1].rsplit("-", 1)[0]
        jobs.append(job_cost(state, stage, prices, services.settings.region))
    return billing_total(jobs, estimate_usd)
