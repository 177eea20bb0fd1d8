"""How a run ends, on fakes: StopJobs, the sweeper's one `Run Failed`, PublishResult for either outcome.

Each rule of steps/outcome.py pinned field by field where mutation testing found it unpinned
(docs/mutation.md); test_pipeline_steps.py holds the first cases (issue #9's findings).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from fakes import NOW, FakeBus, FakeJobs, FakeLedger, fake_services
from fakes.s3 import MemoryS3
from pipeline_states import MIX, RECIPE

from forgeflow.pipeline.errors import JobFailed, RequestInvalid
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import (
    EvaluationPointer,
    EvaluationResult,
    Failure,
    JobOutcome,
    PublishInput,
    RegisterInput,
    RunPointer,
    StopJobsInput,
    TrainingPointer,
)
from forgeflow.pipeline.steps import Services
from forgeflow.pipeline.steps.outcome import (
    failure_message,
    publish_result,
    stop_jobs,
    stop_orphaned_jobs,
    stop_run_jobs,
)
from forgeflow.pipeline.steps.register import register_run
from forgeflow.storage import Storage

BUCKET = "data"
ARN = "arn:aws:states:us-east-1:1:execution:sm:one"
PREFIX = f"s3://{BUCKET}/runs/r1/"
RUN = RunPointer(registered=True, run_id="r1", dataset_uri=f"s3://{BUCKET}/incoming/d.jsonl")
FINISHED = NOW.isoformat().replace("+00:00", "Z")


def _services(ledger: FakeLedger | None = None, jobs: FakeJobs | None = None) -> tuple[Services, MemoryS3]:
    s3 = MemoryS3()
    settings = PipelineSettings(data_bucket=BUCKET, results_bus_name="results")
    ledger = (
        ledger
        if ledger is not None
        else FakeLedger.of({"run_id": "r1", "status": "RUNNING", "execution_arn": ARN})
    )
    return fake_services(
        jobs=jobs or FakeJobs(), ledger=ledger, bus=FakeBus(), storage=Storage(s3), settings=settings
    ), s3


def _entries(services: Services) -> list[dict[str, Any]]:
    assert isinstance(services.bus, FakeBus)
    return services.bus.entries


def _detail(services: Services) -> dict[str, Any]:
    [entry] = _entries(services)
    assert (entry["Source"], entry["EventBusName"]) == ("forgeflow", "results")
    detail: dict[str, Any] = json.loads(entry["Detail"])
    return {**detail, "_type": entry["DetailType"]}


def _failed(
    stage: str, error: str = "X", cause: str = "why", run: RunPointer = RUN, **extra: Any
) -> PublishInput:
    return PublishInput(
        outcome="failed",
        execution_arn=ARN,
        run=run,
        failure=Failure(stage=stage, error=error, cause=cause),
        **extra,
    )


# -- StopJobs ------------------------------------------------------------------------------------------


def test_a_job_name_claimed_but_never_created_is_skipped_and_an_ended_one_not_counted() -> None:
    class Jobs(FakeJobs):
        def describe(self, name: str) -> Any:
            if name == "forgeflow-r1-train-2":
                raise JobFailed("no such job")
            return super().describe(name)

        def stop(self, name: str) -> bool:
            super().stop(name)
            return name != "forgeflow-r1-train-3"  # it ended between describe and stop

    jobs = Jobs({"forgeflow-r1-train-1": "InProgress", "forgeflow-r1-train-3": "InProgress"})
    ledger = FakeLedger.of({"run_id": "r1", "job_names": ["forgeflow-r1-train-2", "forgeflow-r1-train-1"]})
    services, _ = _services(ledger, jobs)
    assert stop_run_jobs("r1", services) == ["forgeflow-r1-train-1"]
    assert jobs.stopped == ["forgeflow-r1-train-1", "forgeflow-r1-train-3"]


def test_a_run_without_a_ledger_row_still_stops_what_sagemaker_lists() -> None:
    services, _ = _services(FakeLedger(), FakeJobs({"forgeflow-r1-smoke-1": "InProgress"}))
    assert stop_run_jobs("r1", services) == ["forgeflow-r1-smoke-1"]


# -- the sweeper ---------------------------------------------------------------------------------------


def _ended(status: str | None = "TIMED_OUT", arn: str = ARN) -> dict[str, Any]:
    detail: dict[str, Any] = {"executionArn": arn}
    if status:
        detail["status"] = status
    return {"detail": detail}


def test_the_sweeper_s_run_failed_names_the_stage_the_status_and_the_stopped_jobs() -> None:
    ledger = FakeLedger.of(
        {
            "run_id": "r1",
            "status": "RUNNING",
            "stage": "smoke",
            "execution_arn": ARN,
            "request_id": "q",
            "dataset_uri": "s3://data/incoming/d.jsonl",
        }
    )
    services, _ = _services(ledger, FakeJobs({"forgeflow-r1-smoke-1": "InProgress"}))
    slept: list[float] = []
    services.sleep = slept.append
    answer = stop_orphaned_jobs(_ended("TIMED_OUT"), services)
    assert (answer.run_id, answer.stopped) == ("r1", ["forgeflow-r1-smoke-1"])
    assert slept == [services.settings.resweep_seconds]
    detail = _detail(services)
    assert detail["_type"] == "Run Failed"
    assert (detail["run_id"], detail["execution_arn"], detail["request_id"]) == ("r1", ARN, "q")
    assert (detail["dataset_uri"], detail["stage"]) == ("s3://data/incoming/d.jsonl", "smoke")
    assert detail["error_code"] == "ExecutionTimedOut"
    assert (
        detail["message"]
        == "the execution ended TIMED_OUT in stage smoke; stopped jobs: forgeflow-r1-smoke-1"
    )
    assert (detail["stopped_jobs"], detail["finished_at"]) == (["forgeflow-r1-smoke-1"], FINISHED)
    row = ledger.rows["r1"]
    assert (row.status, row.error_code, row.message) == ("FAILED", "ExecutionTimedOut", detail["message"])
    assert row.outcome_event_id == "event-1"


def test_the_sweeper_without_a_status_or_a_known_stage_says_ended_in_register() -> None:
    ledger = FakeLedger.of({"run_id": "r1", "status": "RUNNING", "stage": "somewhere", "execution_arn": ARN})
    services, _ = _services(ledger)
    stop_orphaned_jobs(_ended(None), services)
    detail = _detail(services)
    assert (detail["stage"], detail["error_code"]) == ("register", "ExecutionEnded")
    assert detail["message"] == "the execution ended ENDED in stage register; stopped jobs: none"


def test_the_sweeper_leaves_a_run_re_run_by_another_execution_to_that_execution() -> None:
    ledger = FakeLedger.of({"run_id": "r1", "status": "RUNNING", "execution_arn": ARN + "-rerun"})
    ledger.find_by_execution = lambda arn: ledger.rows["r1"]  # type: ignore[method-assign]
    services, _ = _services(ledger)
    assert stop_orphaned_jobs(_ended("ABORTED"), services).run_id == "r1"
    assert _entries(services) == []


def test_the_sweeper_ignores_an_execution_it_has_no_run_for_and_refuses_an_event_without_one() -> None:
    services, _ = _services()
    answer = stop_orphaned_jobs(_ended("ABORTED", arn="arn:other"), services)
    assert (answer.run_id, answer.stopped) == (None, [])
    with pytest.raises(RequestInvalid, match=r"has no detail\.executionArn"):
        stop_orphaned_jobs({"detail": "not an object"}, services)


# -- PublishResult: failed ----------------------------------------------------------------------------


def test_failure_message_keeps_the_error_message_else_the_cause_else_the_error() -> None:
    assert failure_message(Failure(stage="mix", error="E", cause='{"errorMessage": "m"}')) == "m"
    assert (
        failure_message(Failure(stage="mix", error="E", cause='{"errorMessage": 3}')) == '{"errorMessage": 3}'
    )
    assert failure_message(Failure(stage="mix", error="E", cause="[1]")) == "[1]"
    assert failure_message(Failure(stage="mix", error="E", cause="")) == "E"


def test_run_failed_for_a_registered_run_says_everything_and_closes_the_ledger() -> None:
    services, _ = _services()
    long = "x" * 2500
    published = publish_result(
        _failed("train", error="JobFailed", cause=long, stopped=["j1"]).model_copy(
            update={"run": RUN.model_copy(update={"request_id": "q"})}
        ),
        services,
    )
    detail = _detail(services)
    assert (detail["_type"], detail["run_id"], detail["execution_arn"]) == ("Run Failed", "r1", ARN)
    assert (detail["request_id"], detail["dataset_uri"]) == ("q", RUN.dataset_uri)
    assert (detail["stage"], detail["error_code"], detail["message"]) == ("train", "JobFailed", long)
    assert (detail["stopped_jobs"], detail["finished_at"], detail["report_uri"]) == (["j1"], FINISHED, None)
    assert (published.detail_type, published.event_id, published.result_uri) == (
        "Run Failed",
        "event-1",
        None,
    )
    row = services.ledger.get("r1")
    assert row is not None
    assert (row.status, row.stage, row.error_code, row.outcome_event_id) == (
        "FAILED",
        "train",
        "JobFailed",
        "event-1",
    )
    assert row.message == "x" * 2000  # the ledger keeps the first 2,000 characters; the event all of it


def test_a_failure_without_details_or_with_an_unknown_stage_is_the_publish_stage_s() -> None:
    services, _ = _services()
    publish_result(PublishInput(outcome="failed", run=RUN), services)
    detail = _detail(services)
    assert (detail["stage"], detail["error_code"], detail["message"]) == ("publish", "Unknown", "Unknown")
    services, _ = _services()
    publish_result(_failed("elsewhere"), services)
    assert _detail(services)["stage"] == "publish"


def test_run_failed_points_at_the_validation_report_only_when_it_was_written() -> None:
    services, s3 = _services()
    publish_result(_failed("validate"), services)
    assert _detail(services)["report_uri"] is None
    services, s3 = _services()
    s3.put(BUCKET, "runs/r1/validation/report.json", b"{}")
    published = publish_result(_failed("validate"), services)
    assert _detail(services)["report_uri"] == PREFIX + "validation/report.json"
    assert published.result_uri == PREFIX + "validation/report.json"
    row = services.ledger.get("r1")
    assert row is not None
    assert row.result_uri == PREFIX + "validation/report.json"


def test_a_report_named_by_the_failure_wins_and_a_stage_without_one_has_none() -> None:
    services, s3 = _services()
    s3.put(BUCKET, "runs/r1/validation/report.json", b"{}")
    failure = Failure(stage="validate", error="X", report_uri="s3://data/elsewhere.json")
    publish_result(_failed("validate").model_copy(update={"failure": failure}), services)
    assert _detail(services)["report_uri"] == "s3://data/elsewhere.json"
    services, s3 = _services()
    s3.put(BUCKET, "runs/r1/validation/report.json", b"{}")
    publish_result(_failed("mix"), services)
    assert _detail(services)["report_uri"] is None


def test_a_stage_report_that_cannot_be_probed_is_left_out() -> None:
    from forgeflow.errors import InputError

    class Denied(MemoryS3):
        def head(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
            raise InputError("access denied", code="ACCESS_DENIED")

    services, _ = _services()
    services.storage = Storage(Denied())
    publish_result(_failed("recipe"), services)
    assert _detail(services)["report_uri"] is None


def _preflight(s3: MemoryS3, verdict: Any) -> None:
    s3.put(BUCKET, "runs/r1/recipe/preflight.json", orjson.dumps(verdict))


@pytest.mark.parametrize(
    ("stage", "expected"), [("recipe", 12.5), ("smoke", 12.5), ("train", 12.5), ("mix", None)]
)
def test_run_failed_carries_the_preflight_estimate_once_render_recipe_ran(
    stage: str, expected: float | None
) -> None:
    services, s3 = _services()
    _preflight(s3, {"estimate": {"total_usd": 12.5}})
    publish_result(_failed(stage), services)
    assert _detail(services)["estimated_cost_usd"] == expected


@pytest.mark.parametrize("stage", ["register", "validate"])
def test_no_estimate_before_render_recipe(stage: str) -> None:
    services, s3 = _services()
    _preflight(s3, {"estimate": {"total_usd": 3}})
    publish_result(_failed(stage), services)
    assert _detail(services)["estimated_cost_usd"] is None


@pytest.mark.parametrize(
    "document",
    [b"not json", b"[]", b'{"estimate": []}', b'{"estimate": {"total_usd": "12"}}', b'{"estimate": {}}'],
)
def test_an_unreadable_or_priceless_preflight_gives_no_estimate(document: bytes) -> None:
    services, s3 = _services()
    s3.put(BUCKET, "runs/r1/recipe/preflight.json", document)
    publish_result(_failed("train"), services)
    assert _detail(services)["estimated_cost_usd"] is None


def test_an_integer_estimate_is_a_number_and_a_missing_preflight_none() -> None:
    services, s3 = _services()
    _preflight(s3, {"estimate": {"total_usd": 7}})
    publish_result(_failed("evaluate"), services)
    assert _detail(services)["estimated_cost_usd"] == 7.0
    services, _ = _services()
    publish_result(_failed("evaluate"), services)
    assert _detail(services)["estimated_cost_usd"] is None


def test_a_failure_before_registration_touches_no_ledger_row_and_names_the_upload() -> None:
    services, _ = _services(FakeLedger())
    event = {"detail": {"bucket": {"name": BUCKET}, "object": {"key": "incoming/a.jsonl"}}}
    published = publish_result(
        PublishInput(
            outcome="failed", run=RunPointer(), event=event, failure=Failure(stage="register", error="E")
        ),
        services,
    )
    detail = _detail(services)
    assert (detail["run_id"], detail["dataset_uri"]) == (None, f"s3://{BUCKET}/incoming/a.jsonl")
    assert published.event_id == "event-1"
    assert services.ledger.get("r1") is None


@pytest.mark.parametrize(
    "detail",
    [{}, {"bucket": {"name": BUCKET}}, {"object": {"key": "k.jsonl"}}, {"dataset_uri": 3}, "text"],
)
def test_an_event_naming_no_dataset_gives_none(detail: Any) -> None:
    services, _ = _services(FakeLedger())
    publish_result(
        PublishInput(
            outcome="failed",
            run=RunPointer(),
            event={"detail": detail},
            failure=Failure(stage="register", error="E"),
        ),
        services,
    )
    assert _detail(services)["dataset_uri"] is None


def test_a_registered_but_unnamed_run_is_published_as_no_run() -> None:
    services, _ = _services()
    publish_result(_failed("register", run=RunPointer(registered=False, run_id="r1")), services)
    assert _detail(services)["run_id"] is None
    row = services.ledger.get("r1")
    assert row is not None
    assert row.status == "RUNNING"


def test_a_publish_by_another_execution_is_not_taken_for_this_one_s() -> None:
    ledger = FakeLedger.of(
        {"run_id": "r1", "status": "FAILED", "execution_arn": "arn:old", "outcome_event_id": "e0"}
    )
    services, _ = _services(ledger)
    published = publish_result(_failed("mix"), services)
    assert published.event_id == "event-1"
    assert len(_entries(services)) == 1


def test_a_retried_success_returns_the_first_publish() -> None:
    ledger = FakeLedger.of(
        {
            "run_id": "r1",
            "status": "SUCCEEDED",
            "execution_arn": ARN,
            "outcome_event_id": "e0",
            "result_uri": "s3://r",
        }
    )
    services, _ = _services(ledger)
    published = publish_result(PublishInput(outcome="succeeded", execution_arn=ARN, run=RUN), services)
    assert (published.detail_type, published.event_id, published.result_uri) == (
        "Run Succeeded",
        "e0",
        "s3://r",
    )
    assert _entries(services) == []


# -- PublishResult: succeeded -------------------------------------------------------------------------


def _registered(services: Services, s3: MemoryS3, **detail: Any) -> RunPointer:
    s3.put(BUCKET, "incoming/support.jsonl", b"{}\n", version_id="v1")
    event = {
        "id": "ev-2",
        "source": "forgeflow",
        "detail-type": "FineTune Requested",
        "detail": {"dataset_uri": f"s3://{BUCKET}/incoming/support.jsonl", "request_id": "q", **detail},
    }
    return register_run(RegisterInput(event=event, execution_arn=ARN), services)


def _succeeded(
    run: RunPointer, *, smoke: bool = True, training: bool = True, evaluation: bool = True
) -> PublishInput:
    def pointer(stage: str) -> TrainingPointer:
        name = f"forgeflow-{run.run_id}-{stage}-1"
        return TrainingPointer(
            stage=stage,
            job_name=name,
            request={},
            job=JobOutcome(job_name=name, status="Completed", model_artifacts=f"s3://m/{stage}"),
        )

    suites = {"mmlu": {"metric": "accuracy", "base": 0.5, "trained": 0.6, "delta": 0.1}}
    result = EvaluationResult(summary_uri="s3://e/summary.json", suites=suites, emulated=True)
    return PublishInput(
        outcome="succeeded",
        execution_arn=ARN,
        run=run,
        mix=MIX,
        recipe=RECIPE,
        smoke=pointer("smoke") if smoke else None,
        training=pointer("train") if training else None,
        evaluation=EvaluationPointer(result=result) if evaluation else None,
    )


def test_run_succeeded_says_where_everything_is_and_is_written_as_the_result() -> None:
    services, s3 = _services(FakeLedger())
    run = _registered(services, s3, model="pro")
    published = publish_result(_succeeded(run), services)
    [_, entry] = _entries(services)
    detail = json.loads(entry["Detail"])
    prefix = f"s3://{BUCKET}/runs/{run.run_id}/"
    assert (entry["DetailType"], entry["EventBusName"]) == ("Run Succeeded", "results")
    assert (detail["run_id"], detail["execution_arn"], detail["request_id"]) == (run.run_id, ARN, "q")
    assert (detail["dataset_uri"], detail["model"], detail["technique"]) == (
        run.dataset_uri,
        "pro",
        "sft-lora",
    )
    assert (detail["outputs_uri"], detail["mix_report_uri"]) == (prefix, "s3://mix/report.json")
    assert detail["recipe_uri"] == "s3://rec/recipe.yaml"
    assert (detail["training_job_name"], detail["smoke_job_name"]) == (
        f"forgeflow-{run.run_id}-train-1",
        f"forgeflow-{run.run_id}-smoke-1",
    )
    assert (detail["smoke_only"], detail["model_artifacts"]) == (False, "s3://m/train")
    assert (detail["evaluation_summary_uri"], detail["emulated"]) == ("s3://e/summary.json", True)
    assert detail["evaluation"]["mmlu"]["trained"] == 0.6
    assert (detail["estimated_cost_usd"], detail["finished_at"]) == (42.0, FINISHED)
    assert (published.detail_type, published.event_id, published.result_uri) == (
        "Run Succeeded",
        "event-2",
        prefix + "result.json",
    )
    assert json.loads(services.storage.read_bytes(prefix + "result.json")) == detail
    row = services.ledger.get(run.run_id)
    assert row is not None
    assert (row.status, row.stage, row.result_uri, row.outcome_event_id) == (
        "SUCCEEDED",
        "publish",
        prefix + "result.json",
        "event-2",
    )


def test_a_success_without_an_evaluation_has_no_scores() -> None:
    services, s3 = _services(FakeLedger())
    run = _registered(services, s3)
    publish_result(_succeeded(run, evaluation=False), services)
    detail = json.loads(_entries(services)[-1]["Detail"])
    assert (detail["evaluation_summary_uri"], detail["evaluation"], detail["emulated"]) == (None, {}, False)


def test_a_smoke_only_run_succeeds_with_its_smoke_job_and_no_training_job() -> None:
    services, s3 = _services(FakeLedger())
    run = _registered(services, s3, smoke_only=True)
    publish_result(_succeeded(run, training=False, evaluation=False), services)
    detail = json.loads(_entries(services)[-1]["Detail"])
    assert (detail["smoke_only"], detail["training_job_name"], detail["model_artifacts"]) == (
        True,
        None,
        None,
    )
    assert detail["smoke_job_name"] == f"forgeflow-{run.run_id}-smoke-1"


def test_a_smoke_only_run_even_with_a_training_pointer_publishes_only_the_smoke_job() -> None:
    services, s3 = _services(FakeLedger())
    run = _registered(services, s3, smoke_only=True)
    publish_result(_succeeded(run), services)
    detail = json.loads(_entries(services)[-1]["Detail"])
    assert (detail["smoke_only"], detail["training_job_name"]) == (True, None)


def test_a_success_without_a_smoke_job_names_none() -> None:
    services, s3 = _services(FakeLedger())
    run = _registered(services, s3)
    publish_result(_succeeded(run, smoke=False), services)
    assert json.loads(_entries(services)[-1]["Detail"])["smoke_job_name"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mix": None}, r"needs \$\.mix and \$\.recipe"),
        ({"recipe": None}, r"needs \$\.mix and \$\.recipe"),
        (
            {"training": None},
            r"^PublishResult \(succeeded\) needs \$\.training\.job \(the completed training job\)$",
        ),
    ],
)
def test_a_success_missing_its_outputs_is_refused(change: dict[str, Any], message: str) -> None:
    services, s3 = _services(FakeLedger())
    run = _registered(services, s3)
    with pytest.raises(RequestInvalid, match=message):
        publish_result(_succeeded(run).model_copy(update=change), services)


def test_a_smoke_only_success_without_its_smoke_job_is_refused() -> None:
    services, s3 = _services(FakeLedger())
    run = _registered(services, s3, smoke_only=True)
    with pytest.raises(
        RequestInvalid,
        match=r"^PublishResult \(smoke only\) needs \$\.smoke\.job \(the completed smoke job\)$",
    ):
        publish_result(_succeeded(run, smoke=False), services)


# -- edges found by the mutation run (docs/mutation.md) ------------------------------------------------


def test_a_job_the_ledger_names_is_stopped_even_when_sagemaker_s_list_misses_it() -> None:
    class Unlisted(FakeJobs):
        def list_active(self, name_contains: str) -> list[str]:
            return []  # ListTrainingJobs is eventually consistent

    jobs = Unlisted({"forgeflow-r1-train-1": "InProgress"})
    services, _ = _services(FakeLedger.of({"run_id": "r1", "job_names": ["forgeflow-r1-train-1"]}), jobs)
    answer = stop_jobs(StopJobsInput(run=RUN), services)
    assert (answer.run_id, answer.stopped) == ("r1", ["forgeflow-r1-train-1"])


@pytest.mark.parametrize("run", [RunPointer(registered=True), RunPointer(registered=False, run_id="r1")])
def test_stop_jobs_needs_a_registered_run_with_an_id(run: RunPointer) -> None:
    jobs = FakeJobs({"forgeflow-r1-train-1": "InProgress"})
    services, _ = _services(FakeLedger.of({"run_id": "r1", "job_names": ["forgeflow-r1-train-1"]}), jobs)
    answer = stop_jobs(StopJobsInput(run=run), services)
    assert (answer.run_id, answer.stopped, jobs.stopped) == (None, [], [])


def test_the_sweeper_refuses_an_event_without_an_execution_arn_saying_so() -> None:
    services, _ = _services()
    with pytest.raises(RequestInvalid, match=r"^the execution status event has no detail\.executionArn$"):
        stop_orphaned_jobs({"detail": {}}, services)


def test_the_sweeper_lists_every_job_it_stopped() -> None:
    jobs = FakeJobs({"forgeflow-r1-smoke-1": "InProgress", "forgeflow-r1-train-1": "InProgress"})
    services, _ = _services(jobs=jobs)
    stop_orphaned_jobs(_ended("ABORTED"), services)
    assert _detail(services)["message"].endswith("stopped jobs: forgeflow-r1-smoke-1, forgeflow-r1-train-1")


def test_a_retried_failed_publish_returns_run_failed() -> None:
    ledger = FakeLedger.of(
        {"run_id": "r1", "status": "FAILED", "execution_arn": ARN, "outcome_event_id": "e0"}
    )
    services, _ = _services(ledger)
    published = publish_result(_failed("mix"), services)
    assert (published.detail_type, published.event_id) == ("Run Failed", "e0")


def test_an_unregistered_pointer_neither_finds_an_earlier_publish_nor_reads_the_run_s_documents() -> None:
    ledger = FakeLedger.of(
        {"run_id": "r1", "status": "FAILED", "execution_arn": ARN, "outcome_event_id": "e0"}
    )
    services, s3 = _services(ledger)
    s3.put(BUCKET, "runs/r1/recipe/preflight.json", orjson.dumps({"estimate": {"total_usd": 5}}))
    published = publish_result(_failed("recipe", run=RunPointer(registered=False, run_id="r1")), services)
    assert published.event_id == "event-1"
    detail = _detail(services)
    assert (detail["report_uri"], detail["estimated_cost_usd"]) == (None, None)


def test_a_failure_without_details_closes_the_ledger_at_the_publish_stage() -> None:
    services, _ = _services()
    publish_result(PublishInput(outcome="failed", run=RUN), services)
    row = services.ledger.get("r1")
    assert row is not None
    assert (row.stage, row.error_code) == ("publish", "Unknown")


def test_a_success_without_mix_names_what_is_missing_and_one_without_a_dataset_uri_says_empty() -> None:
    services, s3 = _services(FakeLedger())
    run = _registered(services, s3)
    with pytest.raises(RequestInvalid, match=r"^PublishResult \(succeeded\) needs \$\.mix and \$\.recipe$"):
        publish_result(_succeeded(run).model_copy(update={"mix": None}), services)
    publish_result(_succeeded(run.model_copy(update={"dataset_uri": None})), services)
    assert json.loads(_entries(services)[-1]["Detail"])["dataset_uri"] == ""
