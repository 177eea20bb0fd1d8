"""Step logic with in-memory services: job attempts, stopping, failure publishing."""

from __future__ import annotations

import json

import pytest
from fakes import FakeBus, FakeJobs, FakeLedger, fake_services

from forgeflow.pipeline import events
from forgeflow.pipeline.errors import InputMissing, JobAttemptsExhausted, JobFailed
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import (
    Caught,
    Failure,
    JobRequest,
    NextAttemptInput,
    PublishInput,
    RunPointer,
    StopJobsInput,
)
from forgeflow.pipeline.steps import Services
from forgeflow.pipeline.steps.jobs import next_attempt
from forgeflow.pipeline.steps.mix import default_mix_plan
from forgeflow.pipeline.steps.outcome import publish_result, stop_jobs, stop_orphaned_jobs

RUN = RunPointer(registered=True, run_id="r1", dataset_uri="s3://b/incoming/d.jsonl", request_uri="s3://b/x")


def services(jobs: FakeJobs, ledger: FakeLedger | None = None, bus: FakeBus | None = None) -> Services:
    return fake_services(jobs=jobs, ledger=ledger, bus=bus)


def _failed_job(reason: str) -> Caught:
    described = {
        "TrainingJobName": "forgeflow-r1-train-1",
        "TrainingJobStatus": "Failed",
        "FailureReason": reason,
    }
    return Caught(Error="States.TaskFailed", Cause=json.dumps(described))


def _attempt(caught: Caught, retries_used: int = 0, ledger: FakeLedger | None = None) -> JobRequest:
    job = JobRequest(
        stage="train",
        job_name="forgeflow-r1-train-1",
        request={
            "TrainingJobName": "forgeflow-r1-train-1",
            "CheckpointConfig": {"S3Uri": "s3://b/c/forgeflow-r1-train-1/"},
        },
        retries_used=retries_used,
    )
    ledger = ledger or FakeLedger.of({"run_id": "r1", "job_names": ["forgeflow-r1-train-1"]})
    settings = PipelineSettings(data_bucket="b", job_retry_attempts=2, job_retry_seconds=60)
    return next_attempt(
        NextAttemptInput(run=RUN, job=job, caught=caught), fake_services(ledger=ledger, settings=settings)
    )


@pytest.mark.parametrize(
    "caught",
    [
        _failed_job("CapacityError: Unable to provision requested ML compute capacity."),
        _failed_job("InternalServerError: We encountered an internal error. Please try again."),
        Caught(Error="SageMaker.ResourceLimitExceeded", Cause="The account-level service limit is exceeded"),
    ],
)
def test_a_retryable_failure_gets_a_new_attempt_with_a_new_name(caught: Caught) -> None:
    retried = _attempt(caught)
    assert retried.job_name == "forgeflow-r1-train-2"
    assert retried.request["TrainingJobName"] == "forgeflow-r1-train-2"
    assert retried.request["CheckpointConfig"]["S3Uri"] == "s3://b/c/forgeflow-r1-train-2/"
    assert (retried.retries_used, retried.wait_seconds) == (1, 60)


def test_attempt_numbers_continue_past_every_name_the_run_used() -> None:
    ledger = FakeLedger.of({"run_id": "r1", "job_names": [f"forgeflow-r1-train-{n}" for n in (1, 2, 3)]})
    assert _attempt(_failed_job("CapacityError: x"), ledger=ledger).job_name == "forgeflow-r1-train-4"


def test_a_non_retryable_failure_fails_at_once() -> None:
    with pytest.raises(JobFailed, match="AlgorithmError: exit code 1"):
        _attempt(_failed_job("AlgorithmError: exit code 1"))


def test_attempts_are_bounded_by_the_stack_setting() -> None:
    with pytest.raises(JobAttemptsExhausted, match="failed 3 times"):
        _attempt(_failed_job("CapacityError: x"), retries_used=2)


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


ARN = "arn:aws:states:us-east-1:1:execution:m:e1"


def _ended(status: str) -> dict[str, object]:
    return {"detail": {"executionArn": ARN, "status": status}}


def test_the_sweeper_publishes_run_failed_for_an_aborted_execution_once() -> None:
    # Issue #9 finding 5: after an abort only the ledger said FAILED; no event was published.
    bus = FakeBus()
    ledger = FakeLedger.of({"run_id": "r1", "status": "RUNNING", "stage": "train", "execution_arn": ARN})
    services_ = fake_services(jobs=FakeJobs({}), ledger=ledger, bus=bus)
    stop_orphaned_jobs(_ended("ABORTED"), services_)
    stop_orphaned_jobs(_ended("ABORTED"), services_)  # EventBridge delivers at least once
    (entry,) = bus.entries
    detail = json.loads(entry["Detail"])
    assert (entry["DetailType"], detail["stage"], detail["error_code"]) == (
        "Run Failed",
        "train",
        "ExecutionAborted",
    )
    assert ledger.rows["r1"].status == "FAILED"


def test_the_sweeper_adds_nothing_when_publish_failure_already_published() -> None:
    bus = FakeBus()
    ledger = FakeLedger.of(
        {"run_id": "r1", "status": "FAILED", "execution_arn": ARN, "outcome_event_id": "e"}
    )
    stop_orphaned_jobs(_ended("FAILED"), fake_services(jobs=FakeJobs({}), ledger=ledger, bus=bus))
    assert bus.entries == []


def test_the_sweeper_stops_a_job_created_after_its_first_sweep() -> None:
    # Issue #9 finding 6: a create in flight when the execution was stopped lands after the sweep.
    jobs = FakeJobs({})
    ledger = FakeLedger.of({"run_id": "r1", "status": "RUNNING", "execution_arn": ARN})
    services_ = fake_services(jobs=jobs, ledger=ledger)
    services_.sleep = lambda seconds: jobs.statuses.update({"forgeflow-r1-train-1": "InProgress"})
    answer = stop_orphaned_jobs(_ended("ABORTED"), services_)
    assert answer.stopped == ["forgeflow-r1-train-1"]


def test_a_retried_publish_puts_no_second_event() -> None:
    # A Lambda timeout after PutEvents succeeded: the retry must not publish again.
    bus, ledger = FakeBus(), FakeLedger.of({"run_id": "r1", "execution_arn": ARN})
    payload = PublishInput(
        outcome="failed", execution_arn=ARN, run=RUN, failure=Failure(stage="mix", error="X", cause="y")
    )
    first = publish_result(payload, services(FakeJobs({}), ledger, bus))
    again = publish_result(payload, services(FakeJobs({}), ledger, bus))
    assert len(bus.entries) == 1
    assert again.event_id == first.event_id


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

    settings = PipelineSettings.from_environ(
        {"DATA_BUCKET": "b", "BUDGET_USD": "", "JOB_RETRY_ATTEMPTS": "5"}
    )
    assert (settings.data_bucket, settings.budget_usd, settings.job_retry_attempts) == ("b", None, 5)
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


def test_the_sweeper_names_an_operator_stop_as_its_stage() -> None:
    # Issue #15: `forgeflow runs stop` passes its stage in StopExecution's error; Run Failed must say it.
    bus = FakeBus()
    ledger = FakeLedger.of({"run_id": "r1", "status": "RUNNING", "stage": "train", "execution_arn": ARN})
    ended = {
        "detail": {
            "executionArn": ARN,
            "status": "ABORTED",
            "error": events.OPERATOR_STOP_ERROR,
            "cause": "stopped by ops@example.com: wrong dataset",
        }
    }
    stop_orphaned_jobs(ended, fake_services(jobs=FakeJobs({}), ledger=ledger, bus=bus))
    (entry,) = bus.entries
    detail = json.loads(entry["Detail"])
    assert (detail["stage"], detail["error_code"]) == ("stopped-by-operator", "StoppedByOperator")
    assert "wrong dataset" in detail["message"]
    assert "in stage train" in detail["message"]
    assert ledger.rows["r1"].error_code == "StoppedByOperator"
