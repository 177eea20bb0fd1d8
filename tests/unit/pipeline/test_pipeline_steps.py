"""Step logic with in-memory services: job status aggregation, deadlines, stopping, failure publishing."""

from __future__ import annotations

import json

import pytest
from fakes import NOW, FakeBus, FakeJobs, FakeLedger, fake_services

from forgeflow.pipeline.errors import InputMissing, JobDeadlineExceeded
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import CheckJobsInput, Failure, PublishInput, RunPointer, StopJobsInput
from forgeflow.pipeline.steps import Services
from forgeflow.pipeline.steps.jobs import check_jobs
from forgeflow.pipeline.steps.mix import default_mix_plan
from forgeflow.pipeline.steps.outcome import publish_result, stop_jobs

RUN = RunPointer(registered=True, run_id="r1", dataset_uri="s3://b/incoming/d.jsonl", request_uri="s3://b/x")


def services(jobs: FakeJobs, ledger: FakeLedger | None = None, bus: FakeBus | None = None) -> Services:
    return fake_services(jobs=jobs, ledger=ledger, bus=bus)


def check(statuses: dict[str, str], deadline: int = int(NOW.timestamp()) + 60) -> str:
    payload = CheckJobsInput(run=RUN, job_names=list(statuses), deadline=deadline)
    return check_jobs(payload, services(FakeJobs(dict(statuses)))).status


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({"a": "InProgress"}, "InProgress"),
        ({"a": "Completed"}, "Completed"),
        ({"a": "Completed", "b": "InProgress"}, "InProgress"),
        ({"a": "Completed", "b": "Completed"}, "Completed"),
        ({"a": "InProgress", "b": "Failed"}, "Failed"),
        ({"a": "Stopped"}, "Failed"),
        ({"a": "Stopping"}, "InProgress"),
    ],
)
def test_stage_status_aggregates_every_job(statuses: dict[str, str], expected: str) -> None:
    assert check(statuses) == expected


def test_the_failure_reason_names_each_failed_job() -> None:
    payload = CheckJobsInput(run=RUN, job_names=["a", "b"], deadline=int(NOW.timestamp()) + 60)
    result = check_jobs(payload, services(FakeJobs({"a": "Completed", "b": "Failed"})))
    assert result.failure_reason == "b: Failed: boom"
    assert result.model_artifacts is None  # several jobs: no single artifact


def test_a_job_running_past_its_deadline_fails_the_stage() -> None:
    with pytest.raises(JobDeadlineExceeded, match="a still running 60 s past"):
        check({"a": "InProgress"}, deadline=int(NOW.timestamp()) - 60)
    assert check({"a": "Completed"}, deadline=int(NOW.timestamp()) - 60) == "Completed"


def test_stop_jobs_stops_only_running_jobs_from_the_ledger_and_from_sagemaker() -> None:
    jobs = FakeJobs(
        {
            "forgeflow-r1-smoke-1": "Completed",
            "forgeflow-r1-train-1": "InProgress",
            "forgeflow-r1-eval-mmlu-base-1": "InProgress",
            "forgeflow-r2-train-1": "InProgress",
        }
    )
    ledger = FakeLedger.of({"run_id": "r1", "job_names": ["forgeflow-r1-smoke-1", "forgeflow-r1-train-1"]})
    answer = stop_jobs(StopJobsInput(run=RUN), services(jobs, ledger))
    assert answer.stopped == ["forgeflow-r1-eval-mmlu-base-1", "forgeflow-r1-train-1"]
    assert "forgeflow-r2-train-1" not in jobs.stopped


def test_stop_jobs_before_registration_has_nothing_to_stop() -> None:
    answer = stop_jobs(StopJobsInput(run=RunPointer()), services(FakeJobs({})))
    assert (answer.run_id, answer.stopped) == (None, [])


def test_run_failed_carries_the_lambda_error_message_not_its_json() -> None:
    cause = json.dumps({"errorType": "MixPlanInvalid", "errorMessage": "curated 'general' has 12 records"})
    bus, ledger = FakeBus(), FakeLedger.of({"run_id": "r1"})
    payload = PublishInput(
        outcome="failed",
        run=RUN,
        failure=Failure(stage="mix", error="MixPlanInvalid", cause=cause),
        stopped=["forgeflow-r1-smoke-1"],
    )
    publish_result(payload, services(FakeJobs({}), ledger, bus))
    detail = json.loads(bus.entries[0]["Detail"])
    assert (detail["stage"], detail["error_code"]) == ("mix", "MixPlanInvalid")
    assert detail["message"] == "curated 'general' has 12 records"
    assert detail["stopped_jobs"] == ["forgeflow-r1-smoke-1"]
    assert ledger.rows["r1"].status == "FAILED"


def test_a_request_rejected_before_registration_still_says_which_dataset() -> None:
    bus = FakeBus()
    event = {"source": "forgeflow", "detail": {"dataset_uri": "s3://b/d.jsonl"}}
    payload = PublishInput(
        outcome="failed",
        run=RunPointer(),
        event=event,
        failure=Failure(stage="register", error="RequestInvalid", cause="bad"),
    )
    publish_result(payload, services(FakeJobs({}), FakeLedger(), bus))
    detail = json.loads(bus.entries[0]["Detail"])
    assert (detail["run_id"], detail["dataset_uri"], detail["message"]) == (None, "s3://b/d.jsonl", "bad")


def test_the_default_mix_plan_blends_curated_data_of_the_dataset_s_method() -> None:
    from forgeflow.nova import Method
    from forgeflow.pipeline.request import parse_trigger, resolve_run

    event = {
        "source": "forgeflow",
        "detail-type": "FineTune Requested",
        "id": "1",
        "detail": {"request_id": "x", "dataset_uri": "s3://b/d.jsonl"},
    }
    settings = PipelineSettings(data_bucket="b", curated_data_prefix="curated/")
    run = resolve_run(parse_trigger(event), None, settings)
    plan = default_mix_plan(run, Method.DPO, settings)
    assert [(s["uri"], s["weight"]) for s in plan["sources"]] == [
        ("s3://b/d.jsonl", 0.75),
        ("s3://b/curated/dpo/", 0.25),
    ]


def test_settings_come_from_the_environment_and_name_a_bad_variable() -> None:
    from forgeflow.errors import InputError

    settings = PipelineSettings.from_environ({"DATA_BUCKET": "b", "BUDGET_USD": "", "POLL_SECONDS": "5"})
    assert (settings.data_bucket, settings.budget_usd, settings.poll_seconds) == ("b", None, 5)
    assert settings.run_prefix("r1") == "s3://b/runs/r1/"
    with pytest.raises(InputError, match="DEFAULT_MODEL is invalid"):
        PipelineSettings.from_environ({"DEFAULT_MODEL": "giant"})
    with pytest.raises(InputError, match="SAGEMAKER_ROLE_ARN is not set"):
        settings.require("sagemaker_role_arn")


@pytest.mark.parametrize("kind", ["data", "input"])
def test_a_translated_error_says_its_hint_once(kind: str) -> None:
    from forgeflow.errors import DataError, InputError
    from forgeflow.pipeline.errors import MixPlanInvalid
    from forgeflow.pipeline.steps.common import reraise_as

    error = (
        DataError("no curated data", hint="upload some")
        if kind == "data"
        else InputError("cannot read x", hint="upload some")
    )
    with pytest.raises((MixPlanInvalid, InputMissing)) as raised, reraise_as(MixPlanInvalid, missing=True):
        raise error
    assert str(raised.value).count("upload some") == 1
