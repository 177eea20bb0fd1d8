"""How a run ends, on fakes, as operators see it: the verdict (Run Succeeded or Run Regressed), the actual
cost and the model package in the event, what the dashboard counts for each end (`ended`, which the
PublishResult and StopOrphanedJobs handlers turn into metrics with `end_metrics`), and the message of an
approval that failed or of an operator's stop.

Written against the survivors of the 2026-12-01 mutation run of steps/outcome.py (docs/mutation.md);
test_pipeline_outcome.py holds the earlier cases.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from fakes import FakeBus, FakeJobs, FakeLedger, fake_services
from fakes.s3 import MemoryS3
from pipeline_states import MIX, RECIPE

from forgeflow.pipeline import events
from forgeflow.pipeline.errors import RequestInvalid
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import (
    EvaluationPointer,
    EvaluationResult,
    Failure,
    JobOutcome,
    PublishInput,
    RegisterInput,
    RunEnd,
    RunPointer,
    StoppedJobs,
    TrainingPointer,
)
from forgeflow.pipeline.steps import Services
from forgeflow.pipeline.steps.outcome import publish_result, stop_orphaned_jobs
from forgeflow.pipeline.steps.register import register_run
from forgeflow.pipeline.usage import end_metrics
from forgeflow.storage import Storage

BUCKET = "data"
ARN = "arn:aws:states:us-east-1:1:execution:sm:one"
RUN = RunPointer(registered=True, run_id="r1", dataset_uri=f"s3://{BUCKET}/incoming/d.jsonl")
PACKAGE = "arn:aws:sagemaker:us-east-1:1:model-package/forgeflow-r1/1"
GATE = "general: accuracy dropped 3.1 points (max 2.0)"
COST = {
    "estimate_usd": 42.0,
    "actual_usd": 40.5,
    "jobs": [
        {
            "name": "forgeflow-r1-train-1",
            "stage": "train",
            "instance_type": "ml.p5.48xlarge",
            "instance_count": 1,
            "billable_seconds": 3600,
            "usd": 40.5,
        }
    ],
    "unpriced": [],
}


def _services(
    ledger: FakeLedger | None = None, jobs: FakeJobs | None = None
) -> tuple[Services, FakeLedger, FakeBus, MemoryS3]:
    s3, bus = MemoryS3(), FakeBus()
    ledger = ledger if ledger is not None else FakeLedger()
    settings = PipelineSettings(data_bucket=BUCKET, results_bus_name="results")
    services = fake_services(
        jobs=jobs or FakeJobs(), ledger=ledger, bus=bus, storage=Storage(s3), settings=settings
    )
    return services, ledger, bus, s3


def _last(bus: FakeBus) -> tuple[str, dict[str, Any]]:
    entry = bus.entries[-1]
    return entry["DetailType"], json.loads(entry["Detail"])


Point = tuple[str, float, tuple[tuple[str, str], ...]]


def _metrics(ended: RunEnd | None) -> set[Point]:
    """The metrics the handler emits for this end (name, value, dimensions)."""
    assert ended is not None, "the end was not handed to the handler, so the dashboard never counts it"
    return {(p.name, p.value, p.dimensions) for p in end_metrics(ended)}


def _failed_at(stage: str) -> Point:
    return ("RunsFailed", 1, (("stage", stage),))


def _jobs_ended(stage: str, status: str) -> Point:
    return ("JobsEnded", 1, (("stage", stage), ("status", status)))


# -- the verdict, the cost and the model package ----------------------------------------------------------


def _registered(services: Services, s3: MemoryS3, ledger: FakeLedger) -> RunPointer:
    """A registered run whose smoke and training jobs completed (the ledger lists both)."""
    s3.put(BUCKET, "incoming/d.jsonl", b"{}\n", version_id="v1")
    event = {
        "id": "ev-1",
        "source": "forgeflow",
        "detail-type": "FineTune Requested",
        "detail": {"dataset_uri": f"s3://{BUCKET}/incoming/d.jsonl", "request_id": "q"},
    }
    run = register_run(RegisterInput(event=event, execution_arn=ARN), services)
    run_id = run.require_id()
    names = [f"forgeflow-{run_id}-smoke-1", f"forgeflow-{run_id}-train-1"]
    assert isinstance(services.jobs, FakeJobs)
    services.jobs.statuses.update(dict.fromkeys(names, "Completed"))
    ledger.update(run_id, job_names=names)
    return run


def _publish(
    run: RunPointer,
    outcome: Literal["succeeded", "regressed"],
    verdict: str | None,
    *,
    cost: dict[str, Any] | None = None,
    evaluated: bool = True,
) -> PublishInput:
    def pointer(stage: str, package: str | None = None) -> TrainingPointer:
        name = f"forgeflow-{run.run_id}-{stage}-1"
        job = JobOutcome(job_name=name, status="Completed", model_package_arn=package)
        return TrainingPointer(stage=stage, job_name=name, request={}, job=job)

    result = EvaluationResult(
        summary_uri="s3://e/summary.json",
        suites={},
        verdict=verdict,
        failed_gates=[GATE] if verdict == "regressed" else [],
        cost=cost,
    )
    return PublishInput(
        outcome=outcome,
        execution_arn=ARN,
        run=run,
        mix=MIX,
        recipe=RECIPE,
        smoke=pointer("smoke"),
        training=pointer("train", PACKAGE),
        evaluation=EvaluationPointer(result=result) if evaluated else None,
    )


def test_a_regressed_run_is_published_as_run_regressed_with_its_failed_gates_and_counted_so() -> None:
    services, ledger, bus, s3 = _services()
    run = _registered(services, s3, ledger)
    run_id = run.require_id()
    published = publish_result(_publish(run, "regressed", "regressed"), services)
    detail_type, detail = _last(bus)
    assert (detail_type, detail["verdict"], detail["failed_gates"]) == ("Run Regressed", "regressed", [GATE])
    assert (published.detail_type, published.event_id) == ("Run Regressed", f"event-{len(bus.entries)}")
    assert json.loads(services.storage.read_bytes(published.result_uri or "")) == detail
    row = ledger.rows[run_id]
    assert (row.status, row.verdict, row.outcome_event_id) == ("SUCCEEDED", "regressed", published.event_id)
    ended = published.ended
    assert ended is not None
    assert (ended.detail_type, ended.verdict) == ("Run Regressed", "regressed")
    assert {
        ("RunsRegressed", 1, ()),
        _jobs_ended("smoke", "Completed"),
        _jobs_ended("train", "Completed"),
    } <= _metrics(ended)
    assert (row.model_extra or {})["counted_jobs"] == sorted(ledger.rows[run_id].job_names)


def test_a_promoted_run_says_promoted_carries_its_cost_and_model_package_and_is_counted() -> None:
    services, ledger, bus, s3 = _services()
    run = _registered(services, s3, ledger)
    run_id = run.require_id()
    published = publish_result(_publish(run, "succeeded", "promoted", cost=COST), services)
    detail_type, detail = _last(bus)
    assert (detail_type, detail["verdict"], detail["model_package_arn"]) == (
        "Run Succeeded",
        "promoted",
        PACKAGE,
    )
    assert (detail["actual_cost_usd"], detail["cost"]) == (40.5, COST)
    assert ledger.rows[run_id].verdict == "promoted"
    ended = published.ended
    assert ended is not None
    assert (ended.detail_type, ended.verdict, ended.stage) == ("Run Succeeded", "promoted", None)
    assert ended.jobs == {"smoke/Completed": 1, "train/Completed": 1}
    assert ("RunsSucceeded", 1, ()) in _metrics(ended)
    assert "RunsRegressed" not in {name for name, _, _ in _metrics(ended)}


def test_a_run_without_a_cost_in_its_evaluation_reports_no_actual_cost() -> None:
    services, ledger, bus, s3 = _services()
    publish_result(_publish(_registered(services, s3, ledger), "succeeded", "promoted"), services)
    _, detail = _last(bus)
    assert (detail["actual_cost_usd"], detail["cost"]) == (None, None)


@pytest.mark.parametrize(
    ("outcome", "verdict", "evaluated"),
    [("succeeded", "regressed", True), ("regressed", "promoted", True), ("regressed", None, False)],
)
def test_an_outcome_the_verdict_contradicts_is_refused_saying_both(
    outcome: Literal["succeeded", "regressed"], verdict: str | None, evaluated: bool
) -> None:
    services, ledger, bus, s3 = _services()
    run = _registered(services, s3, ledger)
    run_id = run.require_id()
    payload = _publish(run, outcome, verdict, evaluated=evaluated)
    with pytest.raises(RequestInvalid) as refused:
        publish_result(payload, services)
    assert str(refused.value) == (
        f"PublishResult ({outcome}) got an evaluation whose verdict is {verdict!r} "
        "(the state machine routes a regressed verdict to PublishRegressed)"
    )
    assert ledger.rows[run_id].status == "RUNNING"
    assert [entry["DetailType"] for entry in bus.entries] == ["Run Started"]


def test_a_retried_publish_of_a_regressed_run_returns_run_regressed() -> None:
    ledger = FakeLedger.of(
        {
            "run_id": "r1",
            "status": "SUCCEEDED",
            "verdict": "regressed",
            "execution_arn": ARN,
            "outcome_event_id": "e0",
            "result_uri": "s3://r",
        }
    )
    services, _, bus, _ = _services(ledger)
    published = publish_result(PublishInput(outcome="regressed", execution_arn=ARN, run=RUN), services)
    assert (published.detail_type, published.event_id, published.ended) == ("Run Regressed", "e0", None)
    assert bus.entries == []


# -- what the dashboard counts for a failed run -------------------------------------------------------------


def test_a_failed_run_is_counted_at_its_stage_with_the_jobs_it_ran() -> None:
    jobs = FakeJobs({"forgeflow-r1-smoke-1": "Completed", "forgeflow-r1-train-1": "Failed"})
    ledger = FakeLedger.of(
        {"run_id": "r1", "status": "RUNNING", "execution_arn": ARN, "job_names": sorted(jobs.statuses)}
    )
    services, _, _, _ = _services(ledger, jobs)
    failure = Failure(stage="train", error="JobFailed", cause="boom")
    published = publish_result(
        PublishInput(outcome="failed", execution_arn=ARN, run=RUN, failure=failure), services
    )
    assert _metrics(published.ended) >= {
        _failed_at("train"),
        _jobs_ended("smoke", "Completed"),
        _jobs_ended("train", "Failed"),
    }
    assert (ledger.rows["r1"].model_extra or {})["counted_jobs"] == sorted(jobs.statuses)


def test_a_request_refused_before_registration_is_still_counted_as_failed_at_register() -> None:
    services, ledger, _, _ = _services()
    failure = Failure(stage="register", error="RequestInvalid", cause="bad")
    published = publish_result(PublishInput(outcome="failed", run=RunPointer(), failure=failure), services)
    assert published.ended == RunEnd(detail_type="Run Failed", stage="register")
    assert _failed_at("register") in _metrics(published.ended)
    assert ledger.rows == {}


# -- the sweeper: what the dashboard counts, and an operator's stop ---------------------------------------


def _swept(detail: dict[str, Any]) -> tuple[StoppedJobs, FakeLedger, FakeBus]:
    jobs = FakeJobs({"forgeflow-r1-train-1": "InProgress"})
    ledger = FakeLedger.of(
        {
            "run_id": "r1",
            "status": "RUNNING",
            "stage": "train",
            "execution_arn": ARN,
            "job_names": ["forgeflow-r1-train-1"],
        }
    )
    services, _, bus, _ = _services(ledger, jobs)
    return stop_orphaned_jobs({"detail": {"executionArn": ARN, **detail}}, services), ledger, bus


def test_the_sweeper_counts_the_run_it_failed_at_its_stage_with_the_job_it_stopped() -> None:
    answer, ledger, _ = _swept({"status": "TIMED_OUT"})
    assert answer.stopped == ["forgeflow-r1-train-1"]
    assert _metrics(answer.ended) >= {_failed_at("train"), _jobs_ended("train", "Stopping")}
    assert (ledger.rows["r1"].model_extra or {})["counted_jobs"] == ["forgeflow-r1-train-1"]


def test_an_operator_stop_is_counted_at_its_own_stage() -> None:
    answer, _, _ = _swept(
        {"status": "ABORTED", "error": events.OPERATOR_STOP_ERROR, "cause": "ops: wrong data"}
    )
    assert _failed_at("stopped-by-operator") in _metrics(answer.ended)


@pytest.mark.parametrize("cause", [None, ""])
def test_an_operator_stop_without_a_cause_says_an_operator_stopped_it(cause: str | None) -> None:
    _, _, bus = _swept({"status": "ABORTED", "error": events.OPERATOR_STOP_ERROR, "cause": cause})
    _, detail = _last(bus)
    assert detail["message"] == (
        "stopped by an operator; the execution ended ABORTED in stage train; "
        "stopped jobs: forgeflow-r1-train-1"
    )


def test_an_operator_stop_s_message_starts_with_the_operator_s_cause() -> None:
    _, ledger, bus = _swept(
        {"status": "ABORTED", "error": events.OPERATOR_STOP_ERROR, "cause": "ops: wrong data"}
    )
    _, detail = _last(bus)
    assert detail["message"] == (
        "ops: wrong data; the execution ended ABORTED in stage train; stopped jobs: forgeflow-r1-train-1"
    )
    assert ledger.rows["r1"].message == detail["message"]


# -- the message of a failure caught as a whole Catch output (ApprovalFailed) -----------------------------

_REJECTED = "the full job was rejected: "
_TIMED_OUT = (
    "nobody approved the full job in time (the stack's ApprovalTimeoutSeconds): no full job was created"
)


@pytest.mark.parametrize(
    ("stage", "caught", "message"),
    [
        (
            "approval",
            {"Error": "ApprovalRejected", "Cause": "loss curve looks wrong"},
            _REJECTED + "loss curve looks wrong",
        ),
        ("approval", {"Error": "ApprovalRejected"}, _REJECTED + "no reason given"),
        ("approval", {"Error": "ApprovalRejected", "Cause": None}, _REJECTED + "no reason given"),
        ("approval", {"Error": "States.Timeout"}, _TIMED_OUT),
        ("approval", {"Error": "States.Timeout", "Cause": "task timed out"}, _TIMED_OUT),
        # A timeout elsewhere is not the approver's: its own cause, else its error name.
        ("train", {"Error": "States.Timeout", "Cause": "the job ran 3 days"}, "the job ran 3 days"),
        ("train", {"Error": "States.Timeout"}, "States.Timeout"),
        (
            "approval",
            {"Error": "InputMissing", "Cause": json.dumps({"errorMessage": "run r1 is not RUNNING"})},
            "run r1 is not RUNNING",
        ),
        ("approval", {"Error": "InputMissing", "Cause": "the ledger row is gone"}, "the ledger row is gone"),
        ("approval", {"Error": "InputMissing"}, "InputMissing"),
    ],
)
def test_a_caught_failure_s_run_failed_says_what_happened(
    stage: str, caught: dict[str, Any], message: str
) -> None:
    ledger = FakeLedger.of({"run_id": "r1", "status": "RUNNING", "execution_arn": ARN})
    services, _, bus, _ = _services(ledger)
    failure = Failure(stage=stage, error="States.TaskFailed", cause=json.dumps(caught))
    publish_result(PublishInput(outcome="failed", execution_arn=ARN, run=RUN, failure=failure), services)
    detail_type, detail = _last(bus)
    assert (detail_type, detail["stage"], detail["message"]) == ("Run Failed", stage, message)
    assert ledger.rows["r1"].message == message
