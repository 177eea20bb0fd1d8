"""How a run ends: StopJobs and StopOrphanedJobs on the failure path, PublishResult for either outcome."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, cast, get_args

import orjson

from forgeflow.errors import InputError
from forgeflow.pipeline import events
from forgeflow.pipeline.errors import APPROVAL_TIMED_OUT, ApprovalRejected, JobFailed, RequestInvalid
from forgeflow.pipeline.state import (
    Failure,
    JobOutcome,
    Published,
    PublishInput,
    RunEnd,
    RunPointer,
    StopJobsInput,
    StoppedJobs,
)
from forgeflow.pipeline.steps.common import json_document, load_run
from forgeflow.pipeline.steps.services import Services
from forgeflow.pipeline.usage import record_run_end
from forgeflow.ports import LedgerRow

_STAGES = frozenset(get_args(events.Stage))
# The document that explains a failure at a stage, when the stage got far enough to write it.
_STAGE_REPORTS = {"validate": "validation/report.json", "recipe": "recipe/preflight.json"}
# Stages before RenderRecipe: a run failing there has no cost estimate yet.
_BEFORE_ESTIMATE = frozenset({"register", "validate", "mix"})


def stop_run_jobs(run_id: str, services: Services) -> list[str]:
    """Stop every running job of the run: the ledger's names plus any SageMaker lists under the run id."""
    row = services.ledger.get(run_id)
    candidates = set(row.job_names if row else []) | set(services.jobs.list_active(run_id))
    stopped = []
    for name in sorted(candidates):
        try:
            status = services.jobs.describe(name).status
        except JobFailed:
            continue  # a name claimed for an attempt whose job was never created
        if status == "InProgress" and services.jobs.stop(name):
            stopped.append(name)
    return stopped


def stop_jobs(payload: StopJobsInput, services: Services) -> StoppedJobs:
    if not payload.run.registered or not payload.run.run_id:
        return StoppedJobs(run_id=None, stopped=[])
    return StoppedJobs(run_id=payload.run.run_id, stopped=stop_run_jobs(payload.run.run_id, services))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def stop_orphaned_jobs(event: dict[str, Any], services: Services) -> StoppedJobs:
    """`Step Functions Execution Status Change` (ABORTED/TIMED_OUT/FAILED): stop the run's running jobs
    and, when the execution could not say so itself, publish its one `Run Failed`.

    It sweeps twice, `resweep_seconds` apart: a job whose creation was in flight when the execution was
    stopped lands after the first sweep (the abort race) and is stopped by the second.
    """
    detail = _mapping(event.get("detail"))
    execution_arn = str(detail.get("executionArn", ""))
    if not execution_arn:
        raise RequestInvalid("the execution status event has no detail.executionArn")
    row = services.ledger.find_by_execution(execution_arn)
    if row is None:
        return StoppedJobs(run_id=None, stopped=[])
    stopped = stop_run_jobs(row.run_id, services)
    services.sleep(services.settings.resweep_seconds)
    stopped += stop_run_jobs(row.run_id, services)
    ended = None
    if row.execution_arn == execution_arn and not row.outcome_event_id:
        stage = _publish_orphaned_failure(row, detail, stopped, services)
        ended = record_run_end(row.run_id, services, events.RUN_FAILED, stage=stage)
    return StoppedJobs(run_id=row.run_id, stopped=stopped, ended=ended)


def _publish_orphaned_failure(
    row: LedgerRow, detail: dict[str, Any], stopped: list[str], services: Services
) -> str:
    """Run Failed for an execution that ended without publishing one (abort, timeout, history or payload
    limit, a failing PublishFailure). An operator's stop (`forgeflow runs stop`: StopExecution with error
    `OPERATOR_STOP_ERROR`) is its own stage, with the operator's cause in the message."""
    status = str(detail.get("status", "ENDED"))
    stage = cast(events.Stage, row.stage if row.stage in _STAGES else "register")
    error_code = "Execution" + status.title().replace("_", "")
    message = f"the execution ended {status} in stage {stage}; stopped jobs: {', '.join(stopped) or 'none'}"
    if status == "ABORTED" and detail.get("error") == events.OPERATOR_STOP_ERROR:
        message = f"{detail.get('cause') or 'stopped by an operator'}; {message}"
        stage, error_code = events.OPERATOR_STOP_STAGE, events.OPERATOR_STOP_ERROR
    failed = events.RunFailed(
        run_id=row.run_id,
        execution_arn=row.execution_arn,
        request_id=row.request_id,
        dataset_uri=row.dataset_uri,
        stage=stage,
        error_code=error_code,
        message=message,
        stopped_jobs=stopped,
        finished_at=services.clock(),
    )
    event_id = services.bus.put(
        events.to_eventbridge_entry(failed, bus_name=services.settings.results_bus_name)
    )
    services.ledger.update(
        row.run_id, status="FAILED", error_code=error_code, message=message, outcome_event_id=event_id
    )
    return stage


def failure_message(failure: Failure) -> str:
    """A Lambda error's `Cause` is the JSON error payload: keep its `errorMessage`; a whole Catch output
    (ApprovalFailed passes one) says what the approval's error means; other causes verbatim."""
    with contextlib.suppress(orjson.JSONDecodeError):
        cause = orjson.loads(failure.cause)
        if isinstance(cause, dict) and isinstance(cause.get("errorMessage"), str):
            return str(cause["errorMessage"])
        if isinstance(cause, dict) and isinstance(cause.get("Error"), str):
            return _caught_message(failure.stage, str(cause["Error"]), str(cause.get("Cause") or ""))
    return failure.cause or failure.error


def _caught_message(stage: str, error: str, cause: str) -> str:
    if error == ApprovalRejected.default_code:
        return f"the full job was rejected: {cause or 'no reason given'}"
    if error == APPROVAL_TIMED_OUT and stage == "approval":
        return (
            "nobody approved the full job in time (the stack's ApprovalTimeoutSeconds): no full job was "
            "created"
        )
    return failure_message(Failure(stage=stage, error=error, cause=cause))


def publish_result(payload: PublishInput, services: Services) -> Published:
    """Put `Run Succeeded` or `Run Failed` on the results bus and write the ledger's final status.

    Once per execution: a retry (e.g. after a Lambda timeout) finds the event id in the ledger and
    returns it instead of putting a second event.
    """
    already = _published(payload, services)
    if already is not None:
        return already
    if payload.outcome == "failed":
        return _publish_failure(payload, services, services.clock())
    return _publish_success(payload, services, services.clock())


def _published(payload: PublishInput, services: Services) -> Published | None:
    run = payload.run
    if not run.registered or not run.run_id:
        return None
    row = services.ledger.get(run.run_id)
    if row is None or not row.outcome_event_id or row.execution_arn != payload.execution_arn:
        return None
    detail_type = events.RUN_FAILED
    if row.status == "SUCCEEDED":
        detail_type = events.RUN_REGRESSED if row.verdict == "regressed" else events.RUN_SUCCEEDED
    return Published(detail_type=detail_type, event_id=row.outcome_event_id, result_uri=row.result_uri)


def _publish_failure(payload: PublishInput, services: Services, now: datetime) -> Published:
    run = payload.run
    failure = payload.failure or Failure(stage="publish", error="Unknown")
    message = failure_message(failure)
    report_uri = failure.report_uri or _stage_report(run, failure.stage, services)
    detail = events.RunFailed(
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
    event_id = services.bus.put(
        events.to_eventbridge_entry(detail, bus_name=services.settings.results_bus_name)
    )
    ended = RunEnd(detail_type=events.RUN_FAILED, stage=detail.stage)
    if run.registered and run.run_id:
        services.ledger.update(
            run.run_id,
            status="FAILED",
            stage=failure.stage,
            error_code=failure.error,
            message=message[:2000],
            result_uri=report_uri,
            outcome_event_id=event_id,
        )
        ended = record_run_end(run.run_id, services, events.RUN_FAILED, stage=detail.stage)
    return Published(detail_type=events.RUN_FAILED, event_id=event_id, result_uri=report_uri, ended=ended)


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


def _completed_jobs(payload: PublishInput) -> tuple[JobOutcome | None, JobOutcome | None]:
    """The smoke and training jobs a succeeded run completed; a smoke-only run has no training job."""
    smoke_job = payload.smoke.job if payload.smoke else None
    if payload.run.settings.smoke_only:
        if smoke_job is None:
            raise RequestInvalid("PublishResult (smoke only) needs $.smoke.job (the completed smoke job)")
        return smoke_job, None
    training_job = payload.training.job if payload.training else None
    if training_job is None:
        raise RequestInvalid("PublishResult (succeeded) needs $.training.job (the completed training job)")
    return smoke_job, training_job


def _verdict(payload: PublishInput) -> str | None:
    """The gate's verdict, which the ASL routed on (`outcome`): the two must agree."""
    evaluation = payload.evaluation.result if payload.evaluation else None
    verdict = evaluation.verdict if evaluation else None
    if (verdict == "regressed") != (payload.outcome == "regressed"):
        raise RequestInvalid(
            f"PublishResult ({payload.outcome}) got an evaluation whose verdict is {verdict!r}",
            hint="the state machine routes a regressed verdict to PublishRegressed",
        )
    return verdict


def _publish_success(payload: PublishInput, services: Services, now: datetime) -> Published:
    """`Run Succeeded` (promoted, or smoke only) or `Run Regressed`, with the verdict and actual cost."""
    run = payload.run
    run_id = run.require_id()
    if payload.mix is None or payload.recipe is None:
        raise RequestInvalid("PublishResult (succeeded) needs $.mix and $.recipe")
    smoke_job, training_job = _completed_jobs(payload)
    verdict = _verdict(payload)
    evaluation = payload.evaluation.result if payload.evaluation else None
    cost = events.RunCost.model_validate(evaluation.cost) if evaluation and evaluation.cost else None
    fields: dict[str, Any] = {
        "run_id": run_id,
        "execution_arn": payload.execution_arn,
        "request_id": run.request_id,
        "dataset_uri": run.dataset_uri or "",
        "model": load_run(run, services).model.value,
        "technique": payload.recipe.technique,
        "outputs_uri": services.settings.run_prefix(run_id),
        "mix_report_uri": payload.mix.report_uri,
        "recipe_uri": payload.recipe.recipe_uri + "recipe.yaml",
        "training_job_name": training_job.job_name if training_job else None,
        "smoke_only": training_job is None,
        "smoke_job_name": smoke_job.job_name if smoke_job else None,
        "smoke_skipped": payload.recipe.smoke_skipped,
        "model_artifacts": training_job.model_artifacts if training_job else None,
        "model_package_arn": training_job.model_package_arn if training_job else None,
        "evaluation_summary_uri": evaluation.summary_uri if evaluation else None,
        "evaluation": {
            suite: events.SuiteResult.model_validate(headline)
            for suite, headline in (evaluation.suites if evaluation else {}).items()
        },
        "emulated": evaluation.emulated if evaluation else False,
        "estimated_cost_usd": payload.recipe.estimate_usd,
        "actual_cost_usd": cost.actual_usd if cost else None,
        "cost": cost,
        "verdict": verdict,
        "finished_at": now,
    }
    detail: events.RunSucceeded | events.RunRegressed = (
        events.RunRegressed(**fields, failed_gates=evaluation.failed_gates if evaluation else [])
        if verdict == "regressed"
        else events.RunSucceeded(**fields)
    )
    result_uri = services.settings.run_prefix(run_id) + "result.json"
    services.storage.write_bytes(result_uri, json_document(detail.model_dump(mode="json")))
    event_id = services.bus.put(
        events.to_eventbridge_entry(detail, bus_name=services.settings.results_bus_name)
    )
    services.ledger.update(
        run_id,
        status="SUCCEEDED",
        stage="publish",
        result_uri=result_uri,
        outcome_event_id=event_id,
        verdict=verdict,
    )  # the row's actual_cost_usd is the whole run's, added by record_run_end
    ended = record_run_end(run_id, services, events.detail_type_of(detail), verdict=verdict)
    return Published(
        detail_type=events.detail_type_of(detail), event_id=event_id, result_uri=result_uri, ended=ended
    )
