"""StartEvaluation and CollectEvaluation: eval jobs for the base model and the trained checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from forgeflow.evaluation.results import EvalResults, EvaluationSummary, compare, read_results
from forgeflow.jobs.evaluation import (
    checkpoint_uri_from_manifest,
    manifest_from_output_archive,
    output_archive_uri,
    prepare_eval_job,
)
from forgeflow.jobs.requests import JobSettings
from forgeflow.pipeline.errors import EvaluationInvalid, InputMissing, RecipeInvalid, RequestInvalid
from forgeflow.pipeline.request import EvalSuite, ResolvedRun
from forgeflow.pipeline.state import EvaluationInput, EvaluationResult, JobsStarted
from forgeflow.pipeline.steps.common import enter_stage, json_document, load_run, reraise_as
from forgeflow.pipeline.steps.jobs import deadline, job_settings
from forgeflow.pipeline.steps.recipe import training_config
from forgeflow.pipeline.steps.services import Services
from forgeflow.ports import StartedJob
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.evaluation import EvalTarget

EVAL_TARGETS: tuple[EvalTarget, ...] = ("base", "trained")


def trained_checkpoint(payload: EvaluationInput, services: Services) -> str:
    """The escrow checkpoint of the trained model, from the training job's `output.tar.gz` manifest."""
    name = payload.training.job_names[0]
    archive_uri = _output_archive(name, payload.run.require_id(), services)
    with reraise_as(missing=f"cannot read the training output {archive_uri}"):
        archive = services.storage.read_bytes(archive_uri)
    with reraise_as(InputMissing):
        return checkpoint_uri_from_manifest(manifest_from_output_archive(archive, source=archive_uri))


def start_evaluation(payload: EvaluationInput, services: Services) -> JobsStarted:
    """One eval job per suite × target (base model, trained checkpoint); retried starts adopt their jobs."""
    run = load_run(payload.run, services)
    if payload.mix is None:
        raise RequestInvalid("StartEvaluation needs $.mix")
    enter_stage(services, run.run_id, "evaluate")
    eval_run = _EvalRun(
        run=run,
        config=training_config(run, payload, services),
        settings=job_settings(run, services),
        checkpoint=trained_checkpoint(payload, services),
        validation_uri=payload.mix.validation_uri,
    )
    suites: dict[str, dict[str, str]] = {}
    started: list[StartedJob] = []
    for suite, target in _suite_targets(run, eval_run.validation_uri):
        job = _start_eval_job(eval_run, services, suite, target)
        started.append(job)
        suites.setdefault(suite.value, {})[target] = job.name
    if not started:
        raise RequestInvalid("no evaluation suite applies to this run", hint="set eval_suites: [mmlu]")
    created = [job.created_at for job in started if job.created_at is not None]
    earliest: datetime | None = min(created) if created else None
    return JobsStarted(
        job_names=[job.name for job in started],
        adopted=[job.name for job in started if job.adopted],
        deadline=deadline(services, earliest, eval_run.settings.max_runtime_seconds),
        suites=suites,
    )


@dataclass(frozen=True)
class _EvalRun:
    """What every eval job of one run shares."""

    run: ResolvedRun
    config: TrainingConfig
    settings: JobSettings
    checkpoint: str
    validation_uri: str | None


def _suite_targets(run: ResolvedRun, validation_uri: str | None) -> list[tuple[EvalSuite, EvalTarget]]:
    # No held-out split, no domain evaluation.
    suites = [suite for suite in run.eval_suites if suite is not EvalSuite.GEN_QA or validation_uri]
    return [(suite, target) for suite in suites for target in EVAL_TARGETS]


def _start_eval_job(
    eval_run: _EvalRun, services: Services, suite: EvalSuite, target: EvalTarget
) -> StartedJob:
    run_id = eval_run.run.run_id
    with reraise_as(RecipeInvalid):
        request = prepare_eval_job(
            services.storage,
            eval_run.config,
            run_id=run_id,
            suite=suite.value,
            target=target,
            settings=eval_run.settings,
            inputs_uri=services.settings.run_prefix(run_id) + "evaluation/inputs/",
            model_path=eval_run.checkpoint if target == "trained" else None,
            validation_uri=eval_run.validation_uri,
            dataset=eval_run.run.dataset_uri,
        )
    started = services.jobs.start(request)
    services.ledger.add_job(run_id, started.name)
    return started


def collect_evaluation(payload: EvaluationInput, services: Services) -> EvaluationResult:
    """Parse every eval job's results, compare trained against base per suite, write the summary."""
    run = load_run(payload.run, services)
    if payload.evaluation is None:
        raise RequestInvalid("CollectEvaluation needs $.evaluation")
    summary = EvaluationSummary(run_id=run.run_id, jobs=payload.evaluation.suites)
    for suite, targets in payload.evaluation.suites.items():
        results = {target: _results_of(name, run.run_id, services) for target, name in targets.items()}
        summary.suites.append(compare(suite, results.get("base", {}), results.get("trained", {})))
    summary_uri = services.settings.run_prefix(run.run_id) + "evaluation/summary.json"
    services.storage.write_bytes(summary_uri, json_document(summary.to_dict()))
    return EvaluationResult(summary_uri=summary_uri, suites=summary.headlines(), emulated=summary.emulated)


def _results_of(job_name: str, run_id: str, services: Services) -> EvalResults:
    archive_uri = _output_archive(job_name, run_id, services)
    with reraise_as(EvaluationInvalid, missing=f"evaluation job {job_name} left no output"):
        return read_results(services.storage.read_bytes(archive_uri), archive_uri)


def _output_archive(job_name: str, run_id: str, services: Services) -> str:
    """Where a job's `output.tar.gz` is: under its own output path, else the run's jobs prefix."""
    output = services.jobs.describe(job_name).output_uri or services.settings.run_prefix(run_id) + "jobs/"
    return output_archive_uri(output, job_name)
