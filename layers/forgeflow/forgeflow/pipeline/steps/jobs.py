"""StartTrainingJob and CheckTrainingJob: the smoke and the full job, started once, watched to the end."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from forgeflow.jobs.requests import JobSettings, build_training_job_request
from forgeflow.jobs.smoke import smoke_recipe
from forgeflow.pipeline.errors import JobDeadlineExceeded, RecipeInvalid, RequestInvalid
from forgeflow.pipeline.request import ResolvedRun
from forgeflow.pipeline.state import CheckJobsInput, JobsStarted, JobsStatus, JobSummary, StartJobInput
from forgeflow.pipeline.steps.common import enter_stage, load_run, reraise_as
from forgeflow.pipeline.steps.recipe import max_runtime, training_config
from forgeflow.pipeline.steps.services import Services
from forgeflow.recipes.render import render_recipe as render

# SageMaker stops a job at MaxRuntimeInSeconds on its own; the pipeline's deadline leaves it this long to do
# so before stopping it itself and failing the run.
DEADLINE_GRACE_SECONDS = 1800


def job_settings(run: ResolvedRun, services: Services) -> JobSettings:
    """Where a run's jobs write, which role they run as, how long they may take."""
    settings = services.settings
    settings.require("sagemaker_role_arn", "data_bucket")
    return JobSettings(
        role_arn=settings.sagemaker_role_arn,
        output_uri=settings.run_prefix(run.run_id) + "jobs/",
        region=settings.region,
        kms_key_id=settings.kms_key_arn,
        max_runtime_seconds=max_runtime(run),
        mlflow_resource_arn=settings.mlflow_tracking_arn,
    )


def deadline(services: Services, created_at: datetime | None, max_runtime_seconds: int) -> int:
    """Epoch seconds after which a job still running is stopped and the run failed."""
    start = created_at or services.clock()
    return int(start.timestamp()) + max_runtime_seconds + DEADLINE_GRACE_SECONDS


def start_training_job(payload: StartJobInput, services: Services) -> JobsStarted:
    """Build and send CreateTrainingJob for the smoke or full job; a retried start adopts the existing job."""
    run = load_run(payload.run, services)
    if payload.mix is None or payload.recipe is None:
        raise RequestInvalid("StartTrainingJob needs $.mix and $.recipe")
    enter_stage(services, run.run_id, payload.stage)
    smoke = payload.stage == "smoke"
    rendered = render(training_config(run, payload, services))
    if smoke:
        rendered = smoke_recipe(rendered)
    settings = job_settings(run, services)
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
            attempt=payload.attempt,
            dataset=run.dataset_uri,
        )
    started = services.jobs.start(request)
    services.ledger.add_job(run.run_id, started.name)
    runtime = int(
        request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", settings.max_runtime_seconds)
    )
    return JobsStarted(
        job_names=[started.name],
        adopted=[started.name] if started.adopted else [],
        deadline=deadline(services, started.created_at, runtime),
    )


def check_jobs(payload: CheckJobsInput, services: Services) -> JobsStatus:
    """Describe the stage's jobs: Completed when all completed, Failed when one failed or was stopped.

    A job still running past the deadline raises JobDeadlineExceeded; the failure path then stops it.
    """
    summaries = [_summary(name, services) for name in payload.job_names]
    ended_badly = [job for job in summaries if job.status in ("Failed", "Stopped")]
    status: Literal["InProgress", "Completed", "Failed"]
    if ended_badly:
        status = "Failed"
    elif all(job.status == "Completed" for job in summaries):
        status = "Completed"
    else:
        status = "InProgress"
        _check_deadline(summaries, payload.deadline, services)
    first = ended_badly[0] if ended_badly else summaries[0]
    reason = "; ".join(
        f"{job.name}: {job.status}: {job.failure_reason or 'no reason given'}" for job in ended_badly
    )
    return JobsStatus(
        status=status,
        secondary_status=first.secondary_status,
        failure_reason=reason,
        model_artifacts=first.model_artifacts if len(summaries) == 1 else None,
        jobs=summaries,
    )


def _summary(name: str, services: Services) -> JobSummary:
    state = services.jobs.describe(name)
    return JobSummary(
        name=name,
        status=state.status,
        secondary_status=state.secondary_status,
        failure_reason=state.failure_reason,
        model_artifacts=state.model_artifacts,
    )


def _check_deadline(summaries: list[JobSummary], deadline_epoch: int, services: Services) -> None:
    now = int(services.clock().timestamp())
    if now > deadline_epoch:
        running = ", ".join(job.name for job in summaries if job.status != "Completed")
        raise JobDeadlineExceeded(
            f"{running} still running {now - deadline_epoch} s past the run's deadline",
            hint="raise max_runtime_seconds in the run request if the job needs longer",
        )
