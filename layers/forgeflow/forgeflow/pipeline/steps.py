"""What each pipeline step does, given its typed input and the services it may use.

One function per Lambda handler. The handlers build `Services` from the environment (boto3 adapters) and
call exactly one of these; tests call them with moto-backed or in-memory services. Outputs are the small
pointer documents of `forgeflow.pipeline.state`; everything large (reports, recipes, data) goes to S3 under
`runs/<run_id>/`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args
from urllib.parse import unquote_plus

import orjson

from forgeflow.aws.bus import ResultsBus
from forgeflow.aws.ledger import RunLedger
from forgeflow.aws.sagemaker import TrainingJobs
from forgeflow.errors import DataError, InputError
from forgeflow.nova import Method
from forgeflow.pipeline import events
from forgeflow.pipeline.errors import (
    InputMissing,
    JobDeadlineExceeded,
    MixPlanInvalid,
    PreflightRefused,
    RecipeInvalid,
    RequestInvalid,
)
from forgeflow.pipeline.request import (
    DatasetObject,
    EvalSuite,
    ResolvedRun,
    RunOptions,
    parse_options,
    parse_trigger,
    resolve_run,
)
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import (
    CheckJobsInput,
    EvaluationInput,
    EvaluationResult,
    Failure,
    JobsStarted,
    JobsStatus,
    JobSummary,
    MixResult,
    Published,
    PublishInput,
    RecipeResult,
    RegisterInput,
    RunPointer,
    RunSettings,
    StageInput,
    StartJobInput,
    StopJobsInput,
    StoppedJobs,
    ValidationResult,
)
from forgeflow.storage import Storage, join

# Without a mix plan, the customer data makes 75 % of the blend and curated data 25 %: the share the seed
# reports keeping MMLU near baseline while gaining 12 F1 points on the domain.
CURATED_SHARE = 0.25
DEFAULT_VALIDATION_FRACTION = 0.1
# SageMaker stops a job at MaxRuntimeInSeconds on its own; the pipeline's deadline leaves it this long to do
# so before stopping it itself and failing the run.
DEADLINE_GRACE_SECONDS = 1800
# The customer source of a mix plan given in a request may name the run's dataset with this placeholder.
DATASET_PLACEHOLDER = "${dataset}"


@dataclass
class Services:
    """The ports a step may use; the handler builds them from the environment."""

    settings: PipelineSettings
    storage: Storage
    ledger: RunLedger
    bus: ResultsBus
    jobs: TrainingJobs
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def _json(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _load_run(run: RunPointer, services: Services) -> ResolvedRun:
    run.require_id()
    assert run.request_uri is not None
    try:
        resolved = ResolvedRun.from_json(services.storage.read_bytes(run.request_uri))
    except InputError as error:
        raise InputMissing(f"the run's request document is missing: {error}") from error
    # Every stage reads the object version that triggered the run, not whatever was uploaded since.
    services.storage.pin_version(resolved.dataset_uri, resolved.dataset.version_id)
    return resolved


def _stage(services: Services, run_id: str, stage: str) -> None:
    services.ledger.update(run_id, stage=stage)


# -- RegisterRun ----------------------------------------------------------------------------------------


def register_run(payload: RegisterInput, services: Services) -> RunPointer:
    """Parse the trigger, merge the sidecar, derive the run id, claim it in the ledger, say `Run Started`."""
    trigger = parse_trigger(payload.event)
    bucket = services.settings.data_bucket
    if bucket and trigger.dataset.bucket != bucket:
        raise RequestInvalid(
            f"{trigger.dataset.uri} is outside the pipeline's bucket",
            hint=f"copy the dataset under s3://{bucket}/ (the pipeline's roles read only that bucket)",
        )
    trigger.dataset = _existing_key(trigger.dataset, services.storage)
    sidecar: RunOptions | None = None
    sidecar_uri = trigger.dataset.sidecar_uri
    with contextlib.suppress(InputError):
        if services.storage.exists(sidecar_uri):
            sidecar = parse_options(services.storage.read_bytes(sidecar_uri), sidecar_uri)
    resolved = resolve_run(trigger, sidecar, services.settings)
    run_id = resolved.run_id
    request_uri = join(services.settings.run_prefix(run_id).rstrip("/"), "request.json")
    pointer = RunPointer(
        registered=True,
        run_id=run_id,
        dataset_uri=resolved.dataset_uri,
        request_uri=request_uri,
        request_id=resolved.request_id,
        settings=RunSettings(poll_seconds=resolved.poll_seconds),
    )
    created = services.ledger.register(
        {
            "run_id": run_id,
            "status": "RUNNING",
            "stage": "register",
            "source": resolved.source,
            "dataset_uri": resolved.dataset_uri,
            "dataset_etag": resolved.dataset.etag,
            "dataset_version_id": resolved.dataset.version_id,
            "request_id": resolved.request_id,
            "execution_arn": payload.execution_arn,
            "request_uri": request_uri,
        }
    )
    if not created:
        existing = services.ledger.get(run_id) or {}
        # The same execution retrying RegisterRun owns the row; any other execution is a duplicate.
        if existing.get("execution_arn") != payload.execution_arn:
            return pointer.model_copy(update={"duplicate": True})
    services.storage.write_bytes(request_uri, resolved.to_json())
    detail = events.RunStarted(
        run_id=run_id,
        execution_arn=payload.execution_arn,
        request_id=resolved.request_id,
        dataset_uri=resolved.dataset_uri,
        source=resolved.source,
        dataset_version_id=resolved.dataset.version_id,
        dataset_etag=resolved.dataset.etag,
        model=resolved.model.value,
        technique=resolved.technique.value if resolved.technique else None,
        started_at=services.clock(),
    )
    services.bus.put(events.to_eventbridge_entry(detail, bus_name=services.settings.results_bus_name))
    return pointer


def _existing_key(dataset: DatasetObject, storage: Storage) -> DatasetObject:
    """The object the event names. S3 notifications URL-encode keys (`a b.jsonl` → `a+b.jsonl`); when the
    key as delivered does not exist but its decoded form does, the decoded form is the dataset."""
    if storage.exists(dataset.uri):
        return dataset
    decoded = dataset.model_copy(update={"key": unquote_plus(dataset.key)})
    if decoded.key != dataset.key and storage.exists(decoded.uri):
        return decoded
    raise InputMissing(f"{dataset.uri} does not exist (deleted since the upload?)")


# -- Validate -------------------------------------------------------------------------------------------


def validate_dataset(payload: StageInput, services: Services) -> ValidationResult:
    """Validate the dataset against the run's model and method; the report always goes to S3."""
    from forgeflow.dataset.validation import ValidationOptions, validate_uri

    run = _load_run(payload.run, services)
    _stage(services, run.run_id, "validate")
    options = ValidationOptions(method=run.method, model=run.model)
    try:
        report = validate_uri(services.storage, run.dataset_uri, options)
    except InputError as error:
        raise InputMissing(f"cannot read the dataset {run.dataset_uri}: {error}") from error
    document = report.to_dict()
    report_uri = services.settings.run_prefix(run.run_id) + "validation/report.json"
    services.storage.write_bytes(report_uri, _json(document))
    method = document.get("stats", {}).get("method")
    return ValidationResult(
        valid=bool(document["valid"]),
        report_uri=report_uri,
        records=int(document["records"]),
        error_count=int(document["error_count"]),
        method=Method(method) if method in {m.value for m in Method} else None,
    )


# -- Mix ------------------------------------------------------------------------------------------------


def default_mix_plan(run: ResolvedRun, method: Method, settings: PipelineSettings) -> dict[str, Any]:
    """The dataset plus every curated `.jsonl` under `<CURATED_DATA_PREFIX><method>/`, 75 / 25."""
    curated_uri = f"s3://{settings.data_bucket}/{settings.curated_data_prefix.rstrip('/')}/{method.value}/"
    return {
        "validation_fraction": DEFAULT_VALIDATION_FRACTION,
        "sources": [
            {
                "name": "customer",
                "role": "customer",
                "uri": run.dataset_uri,
                "weight": 1 - CURATED_SHARE,
            },
            {"name": "curated", "uri": curated_uri, "weight": CURATED_SHARE},
        ],
    }


def _plan_document(run: ResolvedRun, method: Method, settings: PipelineSettings) -> dict[str, Any]:
    if run.mix is None:
        return default_mix_plan(run, method, settings)
    plan = orjson.loads(orjson.dumps(run.mix))
    for source in plan.get("sources", []) if isinstance(plan, dict) else []:
        named = isinstance(source, dict) and source.get("uri") not in (None, "", DATASET_PLACEHOLDER)
        if isinstance(source, dict) and source.get("role") == "customer" and not named:
            source["uri"] = run.dataset_uri
    return dict(plan) if isinstance(plan, dict) else {"sources": plan}


def mix_data(payload: StageInput, services: Services) -> MixResult:
    """Blend the dataset with curated data per the run's plan → train/validation JSONL and the mix report."""
    from forgeflow.mixing.engine import run_mix
    from forgeflow.mixing.plan import load_plan

    run = _load_run(payload.run, services)
    _stage(services, run.run_id, "mix")
    method = run.method or (payload.validation.method if payload.validation else None) or Method.SFT
    document = _plan_document(run, method, services.settings)
    out_uri = services.settings.run_prefix(run.run_id) + "mix"
    try:
        plan = load_plan(document)
        report = run_mix(plan, out_uri, services.storage, method=method, model=run.model)
    except DataError as error:
        raise MixPlanInvalid(str(error), hint=error.hint) from error
    except InputError as error:
        raise InputMissing(str(error), hint=error.hint) from error
    return MixResult(
        train_uri=report.train.uri,
        # No held-out records (validation_fraction 0): no validation channel, no domain evaluation.
        validation_uri=report.validation.uri if report.validation.records else None,
        report_uri=join(out_uri, "mix_report.json"),
        train_records=report.train.records,
        validation_records=report.validation.records,
    )


# -- RenderRecipe ---------------------------------------------------------------------------------------


def training_config(run: ResolvedRun, payload: StageInput, services: Services) -> Any:
    """The run's TrainingConfig: request fields over stack defaults; the technique fits the data's method."""
    from forgeflow.recipes.config import training_config_from_mapping

    detected = payload.validation.method if payload.validation else None
    technique = run.technique_for(detected, services.settings.default_technique)
    mapping: dict[str, Any] = {
        **run.training,
        "model": run.model.value,
        "technique": technique.value,
        "name": f"forgeflow-{run.run_id}",
        "instance_type": run.instance_type,
        "overrides": run.overrides,
    }
    if run.replicas is not None:
        mapping["replicas"] = run.replicas
    if run.budget_usd is not None:
        mapping["budget_usd"] = run.budget_usd
    try:
        return training_config_from_mapping(mapping, source=f"run request {run.run_id}")
    except DataError as error:
        raise RecipeInvalid(str(error), hint=error.hint) from error


def render_recipe(payload: StageInput, services: Services) -> RecipeResult:
    """Render the full and the smoke recipe, run pre-flight (limits, cost, budget), store them.

    On Nova 1.0 (no `max_steps`) the smoke job trains one epoch over a seeded subset of exactly
    5 × global_batch_size mixed records, written here to `runs/<run_id>/recipe/smoke/train.jsonl`.
    """
    from forgeflow.jobs.smoke import needs_subset, smoke_recipe, smoke_subset_size, write_smoke_subset
    from forgeflow.recipes.preflight import preflight
    from forgeflow.recipes.render import render_recipe as render

    run = _load_run(payload.run, services)
    if payload.mix is None:
        raise RequestInvalid("RenderRecipe needs $.mix")
    _stage(services, run.run_id, "recipe")
    config = training_config(run, payload, services)
    try:
        rendered = render(config)
        smoke = smoke_recipe(rendered)
    except DataError as error:
        raise RecipeInvalid(str(error), hint=error.hint) from error
    verdict = preflight(
        rendered,
        _training_stats(payload, services),
        budget_usd=services.settings.budget_usd,
        region=services.settings.region,
    )
    prefix = services.settings.run_prefix(run.run_id) + "recipe/"
    preflight_uri = prefix + "preflight.json"
    services.storage.write_bytes(preflight_uri, _json(verdict.to_dict()))
    if not verdict.ok:
        raise PreflightRefused(f"{verdict.summary()} (details: {preflight_uri})")
    services.storage.write_bytes(prefix + "train/recipe.yaml", rendered.to_yaml().encode())
    services.storage.write_bytes(prefix + "smoke/recipe.yaml", smoke.to_yaml().encode())
    smoke_train_uri = payload.mix.train_uri
    if needs_subset(rendered):
        smoke_train_uri = prefix + "smoke/data/train.jsonl"
        size = smoke_subset_size(rendered)
        write_smoke_subset(
            services.storage, payload.mix.train_uri, smoke_train_uri, size=size, seed=config.seed
        )
    usd = verdict.estimate.total_usd
    return RecipeResult(
        technique=config.technique.value,
        recipe_uri=prefix + "train/",
        smoke_recipe_uri=prefix + "smoke/",
        smoke_train_uri=smoke_train_uri,
        preflight_uri=preflight_uri,
        estimate_usd=float(usd) if isinstance(usd, int | float) else None,
        max_runtime_seconds=_max_runtime(run),
    )


def _training_stats(payload: StageInput, services: Services) -> dict[str, Any]:
    """Statistics of what will be trained on: the validation report's stats of the customer dataset."""
    if payload.validation is None:
        return {}
    report = orjson.loads(services.storage.read_bytes(payload.validation.report_uri))
    stats: dict[str, Any] = report.get("stats", {})
    if payload.mix is not None:
        # The blend, not the raw dataset, is what the job trains on: its size is what limits apply to.
        stats = {**stats, "records": payload.mix.train_records}
    return stats


def _max_runtime(run: ResolvedRun) -> int:
    from forgeflow.jobs.requests import JobSettings

    if run.max_runtime_seconds is not None:
        return run.max_runtime_seconds
    return int(JobSettings.model_fields["max_runtime_seconds"].default)


# -- Training jobs --------------------------------------------------------------------------------------


def job_settings(run: ResolvedRun, services: Services) -> Any:
    from forgeflow.jobs.requests import JobSettings

    settings = services.settings
    settings.require("sagemaker_role_arn", "data_bucket")
    return JobSettings(
        role_arn=settings.sagemaker_role_arn,
        output_uri=settings.run_prefix(run.run_id) + "jobs/",
        region=settings.region,
        kms_key_id=settings.kms_key_arn,
        max_runtime_seconds=_max_runtime(run),
        mlflow_resource_arn=settings.mlflow_tracking_arn,
    )


def _deadline(services: Services, created_at: datetime | None, max_runtime_seconds: int) -> int:
    start = created_at or services.clock()
    return int(start.timestamp()) + max_runtime_seconds + DEADLINE_GRACE_SECONDS


def start_training_job(payload: StartJobInput, services: Services) -> JobsStarted:
    """Build and send CreateTrainingJob for the smoke or full job; a retried start adopts the existing job."""
    from forgeflow.jobs.requests import build_training_job_request
    from forgeflow.jobs.smoke import smoke_recipe
    from forgeflow.recipes.render import render_recipe as render

    run = _load_run(payload.run, services)
    if payload.mix is None or payload.recipe is None:
        raise RequestInvalid("StartTrainingJob needs $.mix and $.recipe")
    _stage(services, run.run_id, payload.stage)
    config = training_config(run, payload, services)
    rendered = render(config)
    if payload.stage == "smoke":
        rendered = smoke_recipe(rendered)
    smoke = payload.stage == "smoke"
    recipe_uri = payload.recipe.smoke_recipe_uri if smoke else payload.recipe.recipe_uri
    train_uri = payload.recipe.smoke_train_uri if smoke else payload.mix.train_uri
    settings = job_settings(run, services)
    try:
        request = build_training_job_request(
            rendered,
            run_id=run.run_id,
            stage=payload.stage,
            channels={"train": train_uri, "validation": payload.mix.validation_uri},
            recipe_uri=recipe_uri,
            settings=settings,
            attempt=payload.attempt,
            dataset=run.dataset_uri,
        )
    except DataError as error:
        raise RecipeInvalid(str(error), hint=error.hint) from error
    started = services.jobs.start(request)
    services.ledger.add_job(run.run_id, started.name)
    runtime = int(
        request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", settings.max_runtime_seconds)
    )
    return JobsStarted(
        job_names=[started.name],
        adopted=[started.name] if started.adopted else [],
        deadline=_deadline(services, started.created_at, runtime),
    )


def check_jobs(payload: CheckJobsInput, services: Services) -> JobsStatus:
    """Describe the stage's jobs: Completed when all completed, Failed when one failed or was stopped.

    A job still running past the deadline raises JobDeadlineExceeded; the failure path then stops it.
    """
    summaries = []
    for name in payload.job_names:
        state = services.jobs.describe(name)
        summaries.append(
            JobSummary(
                name=name,
                status=state.status,
                secondary_status=state.secondary_status,
                failure_reason=state.failure_reason,
                model_artifacts=state.model_artifacts,
            )
        )
    ended_badly = [job for job in summaries if job.status in ("Failed", "Stopped")]
    status: Literal["InProgress", "Completed", "Failed"]
    if ended_badly:
        status = "Failed"
    elif all(job.status == "Completed" for job in summaries):
        status = "Completed"
    else:
        status = "InProgress"
        now = int(services.clock().timestamp())
        if now > payload.deadline:
            running = ", ".join(job.name for job in summaries if job.status != "Completed")
            raise JobDeadlineExceeded(
                f"{running} still running {now - payload.deadline} s past the run's deadline",
                hint="raise max_runtime_seconds in the run request if the job needs longer",
            )
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


# -- Evaluation -----------------------------------------------------------------------------------------

EVAL_TARGETS: tuple[Literal["base", "trained"], ...] = ("base", "trained")


def trained_checkpoint(payload: EvaluationInput, services: Services) -> str:
    """The escrow checkpoint of the trained model, from the training job's `output.tar.gz` manifest."""
    from forgeflow.jobs.evaluation import (
        checkpoint_uri_from_manifest,
        manifest_from_output_archive,
        output_archive_uri,
    )

    name = payload.training.job_names[0]
    state = services.jobs.describe(name)
    output = state.output_uri or services.settings.run_prefix(payload.run.require_id()) + "jobs/"
    archive_uri = output_archive_uri(output, name)
    try:
        archive = services.storage.read_bytes(archive_uri)
    except InputError as error:
        raise InputMissing(f"cannot read the training output {archive_uri}: {error}") from error
    try:
        return checkpoint_uri_from_manifest(manifest_from_output_archive(archive, source=archive_uri))
    except DataError as error:
        raise InputMissing(str(error), hint=error.hint) from error


def start_evaluation(payload: EvaluationInput, services: Services) -> JobsStarted:
    """One eval job per suite × target (base model, trained checkpoint); retried starts adopt their jobs."""
    from forgeflow.jobs.evaluation import prepare_eval_job

    run = _load_run(payload.run, services)
    if payload.mix is None:
        raise RequestInvalid("StartEvaluation needs $.mix")
    _stage(services, run.run_id, "evaluate")
    checkpoint = trained_checkpoint(payload, services)
    config = training_config(run, payload, services)
    settings = job_settings(run, services)
    inputs_uri = services.settings.run_prefix(run.run_id) + "evaluation/inputs/"
    suites: dict[str, dict[str, str]] = {}
    names: list[str] = []
    adopted: list[str] = []
    earliest: datetime | None = None
    for suite in run.eval_suites:
        if suite is EvalSuite.GEN_QA and not payload.mix.validation_uri:
            continue  # no held-out split, no domain evaluation
        for target in EVAL_TARGETS:
            try:
                request = prepare_eval_job(
                    services.storage,
                    config,
                    run_id=run.run_id,
                    suite=suite.value,
                    target=target,
                    settings=settings,
                    inputs_uri=inputs_uri,
                    model_path=checkpoint if target == "trained" else None,
                    validation_uri=payload.mix.validation_uri,
                    dataset=run.dataset_uri,
                )
            except DataError as error:
                raise RecipeInvalid(str(error), hint=error.hint) from error
            started = services.jobs.start(request)
            services.ledger.add_job(run.run_id, started.name)
            suites.setdefault(suite.value, {})[target] = started.name
            names.append(started.name)
            if started.adopted:
                adopted.append(started.name)
            if started.created_at is not None and (earliest is None or started.created_at < earliest):
                earliest = started.created_at
    if not names:
        raise RequestInvalid("no evaluation suite applies to this run", hint="set eval_suites: [mmlu]")
    deadline = _deadline(services, earliest, settings.max_runtime_seconds)
    return JobsStarted(job_names=names, adopted=adopted, deadline=deadline, suites=suites)


def collect_evaluation(payload: EvaluationInput, services: Services) -> EvaluationResult:
    """Parse every eval job's results, compare trained against base per suite, write the summary."""
    from forgeflow.evaluation.results import EvalResults, EvaluationSummary, compare, read_results
    from forgeflow.jobs.evaluation import output_archive_uri

    run = _load_run(payload.run, services)
    if payload.evaluation is None:
        raise RequestInvalid("CollectEvaluation needs $.evaluation")
    summary = EvaluationSummary(run_id=run.run_id, jobs=payload.evaluation.suites)
    for suite, targets in payload.evaluation.suites.items():
        results: dict[str, EvalResults] = {}
        for target, name in targets.items():
            state = services.jobs.describe(name)
            output = state.output_uri or (services.settings.run_prefix(run.run_id) + "jobs/")
            archive_uri = output_archive_uri(output, name)
            try:
                results[target] = read_results(services.storage.read_bytes(archive_uri), archive_uri)
            except InputError as error:
                raise InputMissing(f"evaluation job {name} left no output: {error}") from error
            except DataError as error:
                from forgeflow.pipeline.errors import EvaluationInvalid

                raise EvaluationInvalid(str(error), hint=error.hint) from error
        summary.suites.append(compare(suite, results.get("base", {}), results.get("trained", {})))
    summary_uri = services.settings.run_prefix(run.run_id) + "evaluation/summary.json"
    services.storage.write_bytes(summary_uri, _json(summary.to_dict()))
    return EvaluationResult(summary_uri=summary_uri, suites=summary.headlines(), emulated=summary.emulated)


# -- Failure path and results ---------------------------------------------------------------------------


def stop_run_jobs(run_id: str, services: Services) -> list[str]:
    """Stop every running job of the run: the ledger's names plus any SageMaker lists under the run id."""
    row = services.ledger.get(run_id) or {}
    candidates = set(row.get("job_names", [])) | set(services.jobs.list_active(run_id))
    stopped = []
    for name in sorted(candidates):
        if services.jobs.describe(name).status == "InProgress" and services.jobs.stop(name):
            stopped.append(name)
    return stopped


def stop_jobs(payload: StopJobsInput, services: Services) -> StoppedJobs:
    if not payload.run.registered or not payload.run.run_id:
        return StoppedJobs(run_id=None, stopped=[])
    return StoppedJobs(run_id=payload.run.run_id, stopped=stop_run_jobs(payload.run.run_id, services))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def stop_orphaned_jobs(event: dict[str, Any], services: Services) -> StoppedJobs:
    """`Step Functions Execution Status Change` (ABORTED/TIMED_OUT/FAILED) → stop the run's running jobs."""
    detail = _mapping(event.get("detail"))
    execution_arn = str(detail.get("executionArn", ""))
    if not execution_arn:
        raise RequestInvalid("the execution status event has no detail.executionArn")
    row = services.ledger.find_by_execution(execution_arn)
    if row is None:
        return StoppedJobs(run_id=None, stopped=[])
    run_id = str(row["run_id"])
    stopped = stop_run_jobs(run_id, services)
    if row.get("status") == "RUNNING":
        # The execution ended without reaching its own failure path (aborted, timed out): close the row.
        services.ledger.update(
            run_id,
            status="FAILED",
            error_code=f"Execution{str(detail.get('status', 'Ended')).title().replace('_', '')}",
            message=f"the execution ended {detail.get('status', '')}; stopped jobs: {stopped or 'none'}",
        )
    return StoppedJobs(run_id=run_id, stopped=stopped)


def failure_message(failure: Failure) -> str:
    """A Lambda error's `Cause` is the JSON error payload: keep its `errorMessage`; other causes verbatim."""
    with contextlib.suppress(orjson.JSONDecodeError):
        cause = orjson.loads(failure.cause)
        if isinstance(cause, dict) and isinstance(cause.get("errorMessage"), str):
            return str(cause["errorMessage"])
    return failure.cause or failure.error


def publish_result(payload: PublishInput, services: Services) -> Published:
    """Put `Run Succeeded` or `Run Failed` on the results bus and write the ledger's final status."""
    now = services.clock()
    bus = services.settings.results_bus_name
    run = payload.run
    if payload.outcome == "failed":
        failure = payload.failure or Failure(stage="publish", error="Unknown")
        message = failure_message(failure)
        report_uri = failure.report_uri or _stage_report(run, failure.stage, services)
        detail: events.ResultDetail = events.RunFailed(
            run_id=run.run_id if run.registered else None,
            execution_arn=payload.execution_arn,
            request_id=run.request_id,
            dataset_uri=run.dataset_uri or _dataset_of(payload.event),
            stage=cast(events.Stage, failure.stage if failure.stage in _STAGES else "publish"),
            error_code=failure.error,
            message=message,
            report_uri=report_uri,
            stopped_jobs=payload.stopped,
            estimated_cost_usd=_preflight_estimate(run, failure.stage, services),
            finished_at=now,
        )
        event_id = services.bus.put(events.to_eventbridge_entry(detail, bus_name=bus))
        if run.registered and run.run_id:
            services.ledger.update(
                run.run_id,
                status="FAILED",
                stage=failure.stage,
                error_code=failure.error,
                message=message[:2000],
                result_uri=report_uri,
            )
        return Published(detail_type=events.RUN_FAILED, event_id=event_id, result_uri=report_uri)
    return _publish_success(payload, services, now)


_STAGES = frozenset(get_args(events.Stage))
# The document that explains a failure at a stage, when the stage got far enough to write it.
_STAGE_REPORTS = {"validate": "validation/report.json", "recipe": "recipe/preflight.json"}


def _stage_report(run: RunPointer, stage: str, services: Services) -> str | None:
    if not run.registered or not run.run_id or stage not in _STAGE_REPORTS:
        return None
    uri = services.settings.run_prefix(run.run_id) + _STAGE_REPORTS[stage]
    with contextlib.suppress(InputError):
        if services.storage.exists(uri):
            return uri
    return None


def _dataset_of(event: dict[str, Any]) -> str | None:
    """Best effort for requests rejected before a run existed: which dataset they named."""
    detail = _mapping(event.get("detail"))
    uri = detail.get("dataset_uri")
    if isinstance(uri, str):
        return uri
    bucket = _mapping(detail.get("bucket")).get("name")
    key = _mapping(detail.get("object")).get("key")
    return f"s3://{bucket}/{key}" if bucket and key else None


# Stages before RenderRecipe: a run failing there has no cost estimate yet.
_BEFORE_ESTIMATE = frozenset({"register", "validate", "mix"})


def _preflight_estimate(run: RunPointer, stage: str, services: Services) -> float | None:
    """The cost estimate the pre-flight wrote, for a run that failed once RenderRecipe had run."""
    if not run.registered or not run.run_id or stage in _BEFORE_ESTIMATE:
        return None
    uri = services.settings.run_prefix(run.run_id) + _STAGE_REPORTS["recipe"]
    try:
        verdict = orjson.loads(services.storage.read_bytes(uri))
    except (InputError, orjson.JSONDecodeError):
        return None  # RenderRecipe never ran (or wrote no verdict): there is no estimate to report
    usd = _mapping(_mapping(verdict).get("estimate")).get("total_usd")
    return float(usd) if isinstance(usd, int | float) else None


def _publish_success(payload: PublishInput, services: Services, now: datetime) -> Published:
    run = payload.run
    run_id = run.require_id()
    if payload.mix is None or payload.recipe is None or payload.training is None:
        raise RequestInvalid("PublishResult (succeeded) needs $.mix, $.recipe and $.training")
    training_check = payload.training.check
    evaluation = payload.evaluation.result if payload.evaluation else None
    detail = events.RunSucceeded(
        run_id=run_id,
        execution_arn=payload.execution_arn,
        request_id=run.request_id,
        dataset_uri=run.dataset_uri or "",
        model=_load_run(run, services).model.value,
        technique=payload.recipe.technique,
        outputs_uri=services.settings.run_prefix(run_id),
        mix_report_uri=payload.mix.report_uri,
        recipe_uri=payload.recipe.recipe_uri + "recipe.yaml",
        training_job_name=payload.training.job_names[0],
        model_artifacts=training_check.model_artifacts if training_check else None,
        evaluation_summary_uri=evaluation.summary_uri if evaluation else None,
        evaluation={
            suite: events.SuiteResult.model_validate(headline)
            for suite, headline in (evaluation.suites if evaluation else {}).items()
        },
        emulated=evaluation.emulated if evaluation else False,
        estimated_cost_usd=payload.recipe.estimate_usd,
        finished_at=now,
    )
    result_uri = services.settings.run_prefix(run_id) + "result.json"
    services.storage.write_bytes(result_uri, _json(detail.model_dump(mode="json")))
    event_id = services.bus.put(
        events.to_eventbridge_entry(detail, bus_name=services.settings.results_bus_name)
    )
    services.ledger.update(run_id, status="SUCCEEDED", stage="publish", result_uri=result_uri)
    return Published(detail_type=events.RUN_SUCCEEDED, event_id=event_id, result_uri=result_uri)
