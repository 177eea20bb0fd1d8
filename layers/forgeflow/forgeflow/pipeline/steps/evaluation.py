"""BuildEvaluationJobs and CollectEvaluation: eval jobs for the base model and the trained checkpoint.

A serverless run evaluates MMLU with serverless benchmark jobs of the base model and the trained model
package (forgeflow.pipeline.steps.serverless_eval); its other suites, and every suite of a serverful run,
run evaluation recipes. Both kinds of results are parsed into the same suite metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from forgeflow.evaluation import baseline
from forgeflow.evaluation.classification import classification_of, detect_classification
from forgeflow.evaluation.gate import gates_for, verdict
from forgeflow.evaluation.general import write_general_eval
from forgeflow.evaluation.results import (
    CLASSIFICATION_SCORES,
    EvalResults,
    EvaluationSummary,
    compare,
    read_inference,
    read_results,
)
from forgeflow.jobs.evaluation import (
    GEN_QA_FILE,
    checkpoint_uri_from_manifest,
    manifest_from_output_archive,
    output_archive_uri,
    prepare_eval_job,
    write_gen_qa,
)
from forgeflow.jobs.requests import JobSettings
from forgeflow.mixing.forge import Compute
from forgeflow.nova import Method
from forgeflow.pipeline.errors import EvaluationInvalid, InputMissing, RecipeInvalid, RequestInvalid
from forgeflow.pipeline.request import EvalSuite, ResolvedRun
from forgeflow.pipeline.state import (
    EvalJobDone,
    EvaluationInput,
    EvaluationJobs,
    EvaluationPointer,
    EvaluationResult,
    JobRequest,
)
from forgeflow.pipeline.steps.common import enter_stage, json_document, load_run, reraise_as
from forgeflow.pipeline.steps.jobs import claim_job_name, job_settings, run_cost, sync_request
from forgeflow.pipeline.steps.mix import curated_uri
from forgeflow.pipeline.steps.recipe import training_config
from forgeflow.pipeline.steps.report import write_report
from forgeflow.pipeline.steps.serverless_eval import (
    read_serverless_results,
    results_folder,
    runs_serverless,
    serverless_eval_job,
)
from forgeflow.pipeline.steps.services import Services
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.evaluation import EvalTarget

EVAL_TARGETS: tuple[EvalTarget, ...] = ("base", "trained")


def trained_checkpoint(payload: EvaluationInput, services: Services) -> str:
    """The escrow checkpoint of the trained model, from the training job's `output.tar.gz` manifest."""
    if payload.training.job is None:
        raise RequestInvalid("BuildEvaluationJobs needs $.training.job (the completed training job)")
    name = payload.training.job.job_name
    state = services.jobs.describe(name)
    output = state.output_uri or services.settings.run_prefix(payload.run.require_id()) + "jobs/"
    if state.serverless:
        # Not archived: <out>/<job>/output/output/manifest.json (aws/sagemaker-python-sdk,
        # sagemaker-core/src/sagemaker/core/training/utils.py, build_nova_manifest_s3_uri).
        manifest_uri = results_folder(output, name) + "manifest.json"
        with reraise_as(missing=f"cannot read the training output {manifest_uri}"):
            manifest = services.storage.read_bytes(manifest_uri)
        with reraise_as(InputMissing):
            return checkpoint_uri_from_manifest(manifest, source=manifest_uri)
    archive_uri = output_archive_uri(output, name)
    with reraise_as(missing=f"cannot read the training output {archive_uri}"):
        archive = services.storage.read_bytes(archive_uri)
    with reraise_as(InputMissing):
        return checkpoint_uri_from_manifest(manifest_from_output_archive(archive, source=archive_uri))


def build_evaluation_jobs(payload: EvaluationInput, services: Services) -> EvaluationJobs:
    """One eval job request per suite × target (base model, trained checkpoint), run in parallel; a base
    job the baseline cache already answered is not started (forgeflow.evaluation.baseline)."""
    run = load_run(payload.run, services)
    if payload.mix is None:
        raise RequestInvalid("BuildEvaluationJobs needs $.mix")
    enter_stage(services, run.run_id, "evaluate")
    method = run.method or (payload.validation.method if payload.validation else None) or Method.SFT
    config = training_config(run, payload, services)
    package = payload.training.job.model_package_arn if payload.training.job else None
    if package:  # the trained model of a serverless run, recorded where the run is
        services.ledger.update(run.run_id, model_package_arn=package)
    eval_run = _EvalRun(
        run=run,
        config=config,
        settings=job_settings(run, services, stage_limit=services.settings.eval_max_runtime_seconds),
        checkpoint=trained_checkpoint(payload, services),
        validation_uri=payload.mix.validation_uri,
        curated_uri=curated_uri(services.settings, method),
        inputs_uri=services.settings.run_prefix(run.run_id) + "evaluation/inputs/",
        baseline_model=baseline_model(config.model.value, services),
        model_package_arn=package,
    )
    plan = EvaluationJobs(jobs=[])
    for suite in run.eval_suites:
        _plan_suite(eval_run, services, suite, plan)
    if not plan.jobs:
        raise RequestInvalid("no evaluation suite applies to this run", hint="set eval_suites: [mmlu]")
    return plan


@dataclass(frozen=True)
class _EvalRun:
    """What every eval job of one run shares."""

    run: ResolvedRun
    config: TrainingConfig
    settings: JobSettings
    checkpoint: str
    validation_uri: str | None
    curated_uri: str
    inputs_uri: str
    baseline_model: str
    # A serverless run's trained model package (None: serverful, every suite runs its recipe).
    model_package_arn: str | None

    def serverless(self, suite: EvalSuite) -> bool:
        """Whether the suite runs as serverless benchmark jobs: a serverless run's MMLU."""
        return self.run.compute is Compute.SERVERLESS and runs_serverless(suite)


def baseline_model(model: str, services: Services) -> str:
    """The baseline cache's model part (forgeflow.evaluation.baseline.model_key): under the local
    stand-in its base model is the whole curated pool it memorises, so the pool's digest joins the key."""
    settings = services.settings
    pool = f"s3://{settings.data_bucket}/{settings.curated_data_prefix}" if settings.emulated else None
    return baseline.model_key(model, services.storage, pool)


def _plan_suite(eval_run: _EvalRun, services: Services, suite: EvalSuite, plan: EvaluationJobs) -> None:
    """The suite's jobs: both targets, or only the trained one when the baseline cache holds the base's."""
    data = _suite_data(eval_run, services, suite)
    if isinstance(data, _Unmeasured):
        plan.unmeasured[suite.value] = data.reason
        return
    gen_qa_file = data + GEN_QA_FILE if data else None
    key = baseline.entry_uri(
        services.settings.data_bucket,
        eval_run.baseline_model,
        suite.value,
        baseline.dataset_hash(services.storage, gen_qa_file),
    )
    plan.baselines[suite.value] = key
    cached = baseline.read_entry(services.storage, key)
    if cached is not None:
        plan.cached.append(
            EvalJobDone(
                suite=suite.value,
                target="base",
                job_name=cached.job_name,
                output_archive=cached.output_archive,
            )
        )
    for target in EVAL_TARGETS:
        if target == "trained" or cached is None:
            plan.jobs.append(
                serverless_eval_job(
                    eval_run.run,
                    suite,
                    target,
                    settings=eval_run.settings,
                    model_package_arn=eval_run.model_package_arn,
                    services=services,
                )
                if eval_run.serverless(suite)
                else _eval_job(eval_run, services, suite, target, data)
            )


@dataclass(frozen=True)
class _Unmeasured:
    reason: str


def _suite_data(eval_run: _EvalRun, services: Services, suite: EvalSuite) -> str | _Unmeasured | None:
    """The folder holding the suite's gen_qa.jsonl (None for a benchmark), or why it cannot be run."""
    folder = f"{eval_run.inputs_uri}{suite.value}/"
    if suite is EvalSuite.MMLU:
        return None
    if suite is EvalSuite.GENERAL:
        with reraise_as(EvaluationInvalid, missing=f"cannot read the curated data {eval_run.curated_uri}"):
            general = write_general_eval(services.storage, eval_run.curated_uri, folder)
        if general is None:
            return _Unmeasured(
                f"no curated record under {eval_run.curated_uri} is in the general held-out slice "
                "(upload curated general-purpose JSONL there: docs/pipeline.md, evaluation)"
            )
        return folder
    if not eval_run.validation_uri:  # no held-out split, no domain evaluation
        return _Unmeasured("the run has no held-out split (validation_fraction 0)")
    if not services.storage.exists(folder + GEN_QA_FILE):
        with reraise_as(RecipeInvalid):
            write_gen_qa(services.storage, eval_run.validation_uri, folder)
    return folder


def _eval_job(
    eval_run: _EvalRun, services: Services, suite: EvalSuite, target: EvalTarget, data: str | None
) -> JobRequest:
    run_id = eval_run.run.run_id
    label = suite.value.replace("_", "")
    stage = f"eval-{label}-{target}"
    name = claim_job_name(run_id, stage, services)
    with reraise_as(RecipeInvalid):
        request = prepare_eval_job(
            services.storage,
            eval_run.config,
            run_id=run_id,
            suite="mmlu" if suite is EvalSuite.MMLU else "gen_qa",
            target=target,
            settings=eval_run.settings,
            inputs_uri=eval_run.inputs_uri,
            model_path=eval_run.checkpoint if target == "trained" else None,
            dataset=eval_run.run.dataset_uri,
            attempt=int(name.rsplit("-", 1)[1]),
            label=label,
            gen_qa_dir=data,
        )
    return JobRequest(
        stage=stage, job_name=name, request=sync_request(request), suite=suite.value, target=target
    )


def collect_evaluation(payload: EvaluationInput, services: Services) -> EvaluationResult:
    """Parse every eval job's results (a cached baseline's too), compare trained against base per suite,
    apply the gate, record new baselines, write the summary."""
    run = load_run(payload.run, services)
    if payload.evaluation is None:
        raise RequestInvalid("CollectEvaluation needs $.evaluation")
    evaluation = payload.evaluation
    archives = _Archives(run.run_id, services, evaluation)
    suites = evaluation.suites()
    summary = EvaluationSummary(run_id=run.run_id, jobs=suites, trained_model=_trained_model(payload))
    for suite, targets in suites.items():
        results = {target: archives.results(name) for target, name in targets.items()}
        summary.suites.append(compare(suite, results.get("base", {}), results.get("trained", {})))
    for suite, reason in evaluation.unmeasured.items():
        nothing = EvalResults(metrics={}, not_measured=reason)
        summary.suites.append(compare(suite, nothing, nothing))
    if "gen_qa" in suites and _is_classification(run, services):
        summary.domain_task = "classification"
        _add_classification(summary, suites["gen_qa"], archives)
    with reraise_as(RequestInvalid):
        gates = gates_for(run.gates, services.settings.gate_defaults())
    summary.gate = verdict(summary.headlines(), gates)
    summary.baseline = _record_baselines(evaluation, archives, run.run_id, services)
    summary.cost = run_cost(run.run_id, payload.recipe.estimate_usd if payload.recipe else None, services)
    summary_uri = services.settings.run_prefix(run.run_id) + "evaluation/summary.json"
    services.storage.write_bytes(summary_uri, json_document(summary.to_dict()))
    write_report(summary.to_dict(), summary_uri, payload, services)
    return EvaluationResult(
        summary_uri=summary_uri,
        suites=summary.headlines(),
        emulated=summary.emulated,
        verdict=summary.gate["verdict"],
        failed_gates=summary.gate["failed"],
        cost=summary.cost,
    )


def _trained_model(payload: EvaluationInput) -> dict[str, str | None]:
    """What names the trained model: its training job, and a serverless run's model package."""
    job = payload.training.job
    return {
        "training_job_name": job.job_name if job else None,
        "model_package_arn": job.model_package_arn if job else None,
    }


class _Archives:
    """Where each evaluated job's results are (`output.tar.gz`, or a serverless job's results folder,
    ending in `/`): a cached baseline names it, a job's own output path holds it (else the run's jobs
    prefix)."""

    def __init__(self, run_id: str, services: Services, evaluation: EvaluationPointer) -> None:
        self._run_id = run_id
        self._services = services
        self._known = {job.job_name: job.output_archive for job in evaluation.cached if job.output_archive}

    def __call__(self, job_name: str) -> str:
        if job_name not in self._known:
            self._known[job_name] = _results_location(job_name, self._run_id, self._services)
        return self._known[job_name]

    def results(self, job_name: str) -> EvalResults:
        location = self(job_name)
        if location.endswith("/"):
            return read_serverless_results(location, self._services)
        data, uri = self.read(job_name)
        with reraise_as(EvaluationInvalid):
            return read_results(data, uri)

    def read(self, job_name: str) -> tuple[bytes, str]:
        uri = self(job_name)
        with reraise_as(EvaluationInvalid, missing=f"evaluation job {job_name} left no output at {uri}"):
            return self._services.storage.read_bytes(uri), uri


def _record_baselines(
    evaluation: EvaluationPointer, archives: _Archives, run_id: str, services: Services
) -> dict[str, dict[str, Any]]:
    """Cache each base job this run ran (its results parsed above); say which suites reused one."""
    recorded: dict[str, dict[str, Any]] = {}
    for job in evaluation.cached:
        entry = evaluation.baselines.get(job.suite)
        recorded[job.suite] = {"cached": True, "job_name": job.job_name, "entry": entry}
    for job in evaluation.done:
        entry = evaluation.baselines.get(job.suite)
        if job.target != "base" or entry is None:
            continue
        baseline.write_entry(
            services.storage,
            entry,
            job_name=job.job_name,
            output_archive=archives(job.job_name),
            run_id=run_id,
            now=services.clock(),
        )
        recorded[job.suite] = {"cached": False, "job_name": job.job_name, "entry": entry}
    return recorded


def _results_location(job_name: str, run_id: str, services: Services) -> str:
    """Where an evaluation job's results are: its `output.tar.gz`, or a serverless job's uncompressed
    results folder (its output uses CompressionType NONE)."""
    state = services.jobs.describe(job_name)
    output = state.output_uri or services.settings.run_prefix(run_id) + "jobs/"
    return results_folder(output, job_name) if state.serverless else output_archive_uri(output, job_name)


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


def _add_classification(summary: EvaluationSummary, targets: dict[str, str], archives: _Archives) -> None:
    """Classification metrics of each gen_qa job's answers, and their comparison as one more suite."""
    for target, name in targets.items():
        data, uri = archives.read(name)
        with reraise_as(EvaluationInvalid):
            answers = read_inference(data, uri)
            summary.classification[target] = classification_of(answers, f"{uri} inference_output.jsonl")
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
