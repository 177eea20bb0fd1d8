"""BuildEvaluationJobs and CollectEvaluation: eval jobs for the base model and the trained checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, replace

from forgeflow.evaluation.classification import classification_of, detect_classification
from forgeflow.evaluation.gate import gates_for, verdict
from forgeflow.evaluation.results import (
    CLASSIFICATION_SCORES,
    EvalResults,
    EvaluationSummary,
    compare,
    read_inference,
    read_results,
)
from forgeflow.jobs.evaluation import (
    checkpoint_uri_from_manifest,
    manifest_from_output_archive,
    output_archive_uri,
    prepare_eval_job,
)
from forgeflow.jobs.requests import JobSettings
from forgeflow.pipeline.errors import EvaluationInvalid, InputMissing, RecipeInvalid, RequestInvalid
from forgeflow.pipeline.request import EvalSuite, ResolvedRun
from forgeflow.pipeline.state import EvaluationInput, EvaluationJobs, EvaluationResult, JobRequest
from forgeflow.pipeline.steps.common import enter_stage, json_document, load_run, reraise_as
from forgeflow.pipeline.steps.jobs import claim_job_name, job_settings, sync_request
from forgeflow.pipeline.steps.recipe import training_config
from forgeflow.pipeline.steps.report import write_report
from forgeflow.pipeline.steps.services import Services
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.evaluation import EvalTarget

EVAL_TARGETS: tuple[EvalTarget, ...] = ("base", "trained")


def trained_checkpoint(payload: EvaluationInput, services: Services) -> str:
    """The escrow checkpoint of the trained model, from the training job's `output.tar.gz` manifest."""
    if payload.training.job is None:
        raise RequestInvalid("BuildEvaluationJobs needs $.training.job (the completed training job)")
    name = payload.training.job.job_name
    archive_uri = _output_archive(name, payload.run.require_id(), services)
    with reraise_as(missing=f"cannot read the training output {archive_uri}"):
        archive = services.storage.read_bytes(archive_uri)
    with reraise_as(InputMissing):
        return checkpoint_uri_from_manifest(manifest_from_output_archive(archive, source=archive_uri))


def build_evaluation_jobs(payload: EvaluationInput, services: Services) -> EvaluationJobs:
    """One eval job request per suite × target (base model, trained checkpoint), run in parallel."""
    run = load_run(payload.run, services)
    if payload.mix is None:
        raise RequestInvalid("BuildEvaluationJobs needs $.mix")
    enter_stage(services, run.run_id, "evaluate")
    eval_run = _EvalRun(
        run=run,
        config=training_config(run, payload, services),
        settings=job_settings(run, services, stage_limit=services.settings.eval_max_runtime_seconds),
        checkpoint=trained_checkpoint(payload, services),
        validation_uri=payload.mix.validation_uri,
    )
    jobs = [_eval_job(eval_run, services, suite, target) for suite, target in _suite_targets(run, eval_run)]
    if not jobs:
        raise RequestInvalid("no evaluation suite applies to this run", hint="set eval_suites: [mmlu]")
    return EvaluationJobs(jobs=jobs)


@dataclass(frozen=True)
class _EvalRun:
    """What every eval job of one run shares."""

    run: ResolvedRun
    config: TrainingConfig
    settings: JobSettings
    checkpoint: str
    validation_uri: str | None


def _suite_targets(run: ResolvedRun, eval_run: _EvalRun) -> list[tuple[EvalSuite, EvalTarget]]:
    # No held-out split, no domain evaluation.
    suites = [s for s in run.eval_suites if s is not EvalSuite.GEN_QA or eval_run.validation_uri]
    return [(suite, target) for suite in suites for target in EVAL_TARGETS]


def _eval_job(eval_run: _EvalRun, services: Services, suite: EvalSuite, target: EvalTarget) -> JobRequest:
    run_id = eval_run.run.run_id
    stage = f"eval-{suite.value.replace('_', '')}-{target}"
    name = claim_job_name(run_id, stage, services)
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
            attempt=int(name.rsplit("-", 1)[1]),
        )
    return JobRequest(
        stage=stage, job_name=name, request=sync_request(request), suite=suite.value, target=target
    )


def collect_evaluation(payload: EvaluationInput, services: Services) -> EvaluationResult:
    """Parse every eval job's results, compare trained against base per suite, write the summary."""
    run = load_run(payload.run, services)
    if payload.evaluation is None:
        raise RequestInvalid("CollectEvaluation needs $.evaluation")
    suites = payload.evaluation.suites()
    summary = EvaluationSummary(run_id=run.run_id, jobs=suites)
    for suite, targets in suites.items():
        results = {target: _results_of(name, run.run_id, services) for target, name in targets.items()}
        summary.suites.append(compare(suite, results.get("base", {}), results.get("trained", {})))
    if "gen_qa" in suites and _is_classification(run, services):
        summary.domain_task = "classification"
        _add_classification(summary, suites["gen_qa"], run.run_id, services)
    summary.gate = verdict(summary.headlines(), gates_for(run.gates))
    summary_uri = services.settings.run_prefix(run.run_id) + "evaluation/summary.json"
    services.storage.write_bytes(summary_uri, json_document(summary.to_dict()))
    write_report(summary.to_dict(), summary_uri, payload, services)
    return EvaluationResult(
        summary_uri=summary_uri,
        suites=summary.headlines(),
        emulated=summary.emulated,
        verdict=summary.gate["verdict"],
        failed_gates=summary.gate["failed"],
    )


def _results_of(job_name: str, run_id: str, services: Services) -> EvalResults:
    archive_uri = _output_archive(job_name, run_id, services)
    with reraise_as(EvaluationInvalid, missing=f"evaluation job {job_name} left no output"):
        return read_results(services.storage.read_bytes(archive_uri), archive_uri)


def _output_archive(job_name: str, run_id: str, services: Services) -> str:
    """Where a job's `output.tar.gz` is: under its own output path, else the run's jobs prefix."""
    output = services.jobs.describe(job_name).output_uri or services.settings.run_prefix(run_id) + "jobs/"
    return output_archive_uri(output, job_name)


def _is_classification(run: ResolvedRun, services: Services) -> bool:
    """The run's domain task: as requested, else the label-set rule over the customer's dataset (the
    uploaded object, read until the rule breaks; train.jsonl also holds free-text general data)."""
    if run.domain_task != "auto":
        return run.domain_task == "classification"
    with (
        reraise_as(EvaluationInvalid, missing=f"cannot read {run.dataset_uri}"),
        services.storage.open_input(run.dataset_uri) as stream,
    ):
        return detect_classification(stream)


def _add_classification(
    summary: EvaluationSummary, targets: dict[str, str], run_id: str, services: Services
) -> None:
    """Classification metrics of each gen_qa job's answers, and their comparison as one more suite."""
    for target, name in targets.items():
        archive_uri = _output_archive(name, run_id, services)
        with reraise_as(EvaluationInvalid, missing=f"evaluation job {name} left no output"):
            data = read_inference(services.storage.read_bytes(archive_uri), archive_uri)
            summary.classification[target] = classification_of(data, f"{archive_uri} inference_output.jsonl")
    scores = {
        target: {key: metrics[key] for key in CLASSIFICATION_SCORES}
        for target, metrics in summary.classification.items()
    }
    gen_qa = next(comparison for comparison in summary.suites if comparison.suite == "gen_qa")
    summary.suites.append(
        replace(
            compare("classification", scores.get("base", {}), scores.get("trained", {})),
            emulated=gen_qa.emulated,
        )
    )
