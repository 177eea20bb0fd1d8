"""Issue #9 (orchestration): the faults a review injected, each one scenario on the real ASL and handlers.

Findings 1 (a transient Lambda failure stops a healthy job), 2 (polling grows the history), 3 (a failed job
can never be retried), 5 (Run Failed not always published), 6 (abort race) and 7 (smoke/eval MaxRuntime).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forgeflow_tools.local.runtime import LocalRuntime, RunOutcome
from forgeflow_tools.local.sagemaker import FailureInjection

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings(r"ignore:Exception\(\w+\)")]


def _run(runtime: LocalRuntime, dataset: Path) -> RunOutcome:
    runtime.drop_dataset(dataset)
    (execution,) = runtime.wait_for_executions(1)
    return runtime.outcome(execution["executionArn"])


def _jobs(runtime: LocalRuntime) -> dict[str, str]:
    return {job.name: job.status for job in runtime.emulator.jobs()}


def _failed_events(outcome: RunOutcome) -> list[dict[str, Any]]:
    return [event for event in outcome.events if event["detail-type"] == "Run Failed"]


# Finding 3: a CapacityError while Starting is retried as a new attempt with a new name.
def test_capacity_error_on_train_is_retried_as_attempt_two(scenario_stack, small_examples) -> None:
    runtime = scenario_stack(FailureInjection(capacity_errors={"train": 1}))
    outcome = _run(runtime, small_examples["support"])

    assert outcome.status == "SUCCEEDED"
    trains = {name: status for name, status in _jobs(runtime).items() if "-train-" in name}
    assert sorted(trains.items()) == [
        (f"forgeflow-{outcome.run_id}-train-1", "Failed"),
        (f"forgeflow-{outcome.run_id}-train-2", "Completed"),
    ]


# Finding 3 (bounded) and 5: attempts run out → FAILED at stage train, one Run Failed, nothing running.
def test_capacity_error_on_every_train_attempt_fails_once(scenario_stack, small_examples) -> None:
    runtime = scenario_stack(FailureInjection(capacity_errors={"train": 9}))
    outcome = _run(runtime, small_examples["support"])

    assert outcome.status == "FAILED"
    (failed,) = _failed_events(outcome)
    assert failed["detail"]["stage"] == "train"
    assert failed["detail"]["error_code"] == "JobAttemptsExhausted"
    trains = [name for name in _jobs(runtime) if "-train-" in name]
    assert len(trains) == 3  # the first attempt and JobRetryAttempts=2 new ones
    assert not [name for name, status in _jobs(runtime).items() if status in ("InProgress", "Stopping")]


# Finding 3: a FAILED run may be started again; its attempts continue and never reuse a name.
def test_failed_run_restarts_with_new_attempt_names(scenario_stack, small_examples) -> None:
    runtime = scenario_stack(FailureInjection(capacity_errors={"train": 3}))
    first = _run(runtime, small_examples["support"])
    assert first.status == "FAILED"
    envelope = runtime.history(first.execution_arn)[0]["executionStartedEventDetails"]["input"]
    import orjson

    runtime.deliver_event(orjson.loads(envelope)["event"])
    second_arn = next(
        e["executionArn"] for e in runtime.executions() if e["executionArn"] != first.execution_arn
    )
    second = runtime.outcome(second_arn)

    assert second.status == "SUCCEEDED"
    assert second.run_id == first.run_id
    # Issue #15: the re-run is the run's second execution, named so (steps/launch.py).
    assert first.execution_arn.endswith(f":{first.run_id}")
    assert second_arn.endswith(f":{first.run_id}-r2")
    trains = {name: status for name, status in _jobs(runtime).items() if "-train-" in name}
    assert trains[f"forgeflow-{first.run_id}-train-4"] == "Completed"
    assert len(trains) == 4


# Finding 1: a timed-out invocation of any step is retried; the run succeeds and no job is stopped.
@pytest.mark.parametrize(
    "function",
    [
        "RegisterRunFunction",
        "BuildTrainingJobFunction",
        "BuildEvaluationJobsFunction",
        "PublishResultFunction",
    ],
)
def test_lambda_timeout_is_retried_without_stopping_a_job(scenario_stack, small_examples, function) -> None:
    runtime = scenario_stack(lambda_timeouts={function: 1})
    outcome = _run(runtime, small_examples["support"])

    assert outcome.status == "SUCCEEDED"
    assert "Stopped" not in _jobs(runtime).values()
    assert [event["detail-type"] for event in outcome.events].count("Run Succeeded") == 1


# Finding 5 and 6: abort while the training job runs → Step Functions stops it, the sweeper publishes the
# one Run Failed.
def test_abort_in_training_stops_the_job_and_publishes_one_run_failed(scenario_stack, small_examples) -> None:
    runtime = scenario_stack(abort_after="TrainingJob")
    outcome = _run(runtime, small_examples["support"])

    assert outcome.status == "ABORTED"
    (failed,) = _failed_events(outcome)
    assert failed["detail"]["stage"] == "train"
    assert failed["detail"]["error_code"] == "ExecutionAborted"
    trains = [status for name, status in _jobs(runtime).items() if "-train-" in name]
    assert trains == ["Stopped"]
    assert outcome.ledger is not None
    assert outcome.ledger["status"] == "FAILED"


# Issue #16: the AWS SDK integration does not stop a serverless job when the execution is aborted (only
# .sync does); the sweeper stops it by the ledger's names and publishes the one Run Failed.
def test_abort_while_polling_a_serverless_job_the_sweeper_stops_it(scenario_stack, small_examples) -> None:
    import yaml

    from tests.statemachine.test_statemachine_paths import SERVERLESS_SIDECAR

    runtime = scenario_stack(abort_after="WaitForServerlessTrainingJob")
    runtime.drop_dataset(small_examples["support"], sidecar=yaml.safe_dump(SERVERLESS_SIDECAR).encode())
    (execution,) = runtime.wait_for_executions(1)
    outcome = runtime.outcome(execution["executionArn"])

    assert outcome.status == "ABORTED"
    (failed,) = _failed_events(outcome)
    assert (failed["detail"]["stage"], failed["detail"]["error_code"]) == ("train", "ExecutionAborted")
    trains = [status for name, status in _jobs(runtime).items() if "-train-" in name]
    assert trains == ["Stopped"]


# Issue #16: a serverless job still running after the stack's ServerlessMaxPolls polls is overdue: not
# retried, the stage fails and StopJobs stops the job (no .sync integration to do it).
def test_an_overdue_serverless_job_fails_the_stage_and_stop_jobs_stops_it(
    scenario_stack, small_examples
) -> None:
    import yaml

    from tests.statemachine.test_statemachine_paths import SERVERLESS_SIDECAR

    # Each status lasts 60 s: the job is still Starting when the third poll finds the bound reached.
    runtime = scenario_stack(seconds_per_status=60, parameter_overrides={"ServerlessMaxPolls": "3"})
    runtime.drop_dataset(small_examples["support"], sidecar=yaml.safe_dump(SERVERLESS_SIDECAR).encode())
    (execution,) = runtime.wait_for_executions(1)
    outcome = runtime.outcome(execution["executionArn"])

    assert outcome.status == "FAILED"
    (failed,) = _failed_events(outcome)
    assert (failed["detail"]["stage"], failed["detail"]["error_code"]) == ("train", "JobFailed")
    assert "still InProgress after 3 polls" in failed["detail"]["message"]
    (train,) = [name for name in _jobs(runtime) if "-train-" in name]
    assert failed["detail"]["stopped_jobs"] == [train]
    assert runtime.emulator.describe_training_job(train)["TrainingJobStatus"] == "Stopped"


# Issue #16: a serverless evaluation job still running after ServerlessMaxPolls polls is overdue, as a
# training job is: not retried, Run Failed at evaluate with the reason, and StopJobs stops the jobs.
def test_an_overdue_serverless_evaluation_fails_the_evaluation_and_is_stopped(
    scenario_stack, small_examples
) -> None:
    import yaml

    from tests.statemachine.test_statemachine_paths import SERVERLESS_MMLU_ONLY

    runtime = scenario_stack(
        FailureInjection(stall_stages=frozenset({"eval"})), parameter_overrides={"ServerlessMaxPolls": "3"}
    )
    runtime.drop_dataset(small_examples["support"], sidecar=yaml.safe_dump(SERVERLESS_MMLU_ONLY).encode())
    (execution,) = runtime.wait_for_executions(1)
    outcome = runtime.outcome(execution["executionArn"])

    assert outcome.status == "FAILED"
    (failed,) = _failed_events(outcome)
    assert (failed["detail"]["stage"], failed["detail"]["error_code"]) == ("evaluate", "JobFailed")
    assert "still InProgress after 3 polls" in failed["detail"]["message"]
    evals = sorted(name for name in _jobs(runtime) if "-eval-mmlu-" in name)
    assert [name.rsplit("-", 2)[-2] for name in evals] == ["base", "trained"]
    assert sorted(failed["detail"]["stopped_jobs"]) == evals
    assert {_jobs(runtime)[name] for name in evals} == {"Stopped"}
    assert _jobs(runtime)[f"forgeflow-{outcome.run_id}-train-1"] == "Completed"


# Issue #16: a serverless evaluation's results file (uncompressed, <job>/output/output/) malformed or
# missing: Run Failed at evaluate with the file CollectEvaluation read, as for a recipe job's archive.
@pytest.mark.parametrize(
    ("fault", "reason"), [("malformed", "is not valid JSON"), ("missing", "holds no results_*.json")]
)
def test_a_bad_serverless_results_file_fails_the_run_at_evaluate(
    scenario_stack, small_examples, fault: str, reason: str
) -> None:
    import yaml

    from tests.statemachine.test_statemachine_paths import SERVERLESS_MMLU_ONLY

    runtime = scenario_stack(FailureInjection(bad_results=fault))  # type: ignore[arg-type]
    runtime.drop_dataset(small_examples["support"], sidecar=yaml.safe_dump(SERVERLESS_MMLU_ONLY).encode())
    (execution,) = runtime.wait_for_executions(1)
    outcome = runtime.outcome(execution["executionArn"])

    assert outcome.status == "FAILED"
    (failed,) = _failed_events(outcome)
    assert (failed["detail"]["stage"], failed["detail"]["error_code"]) == ("evaluate", "EvaluationInvalid")
    assert reason in failed["detail"]["message"]
    assert "-eval-mmlu-" in failed["detail"]["message"]
    assert "/output/output/" in failed["detail"]["message"]


# Finding 5: PublishFailure itself failing → the sweeper publishes, still exactly one Run Failed.
def test_failing_publish_failure_still_gives_one_run_failed(scenario_stack, small_examples) -> None:
    runtime = scenario_stack(
        FailureInjection(fail_stages=frozenset({"smoke"})), lambda_timeouts={"PublishResultFunction": 99}
    )
    outcome = _run(runtime, small_examples["support"])

    assert outcome.status == "FAILED"
    assert len(_failed_events(outcome)) == 1


# Finding 2: no poll loop; waiting for a job adds no history events however long the job takes.
def test_waiting_for_a_job_adds_no_history_events(scenario_stack, small_examples) -> None:
    runtime = scenario_stack(seconds_per_status=0.05)  # each job runs ≥ 0.2 s: ~20 describes
    outcome = _run(runtime, small_examples["support"])

    assert outcome.status == "SUCCEEDED"
    kinds, inside = [], False
    for event in runtime.history(outcome.execution_arn):
        entered = event.get("stateEnteredEventDetails", {}).get("name")
        inside = inside or entered == "TrainingJob"
        if inside:
            kinds.append(event["type"])
            if event["type"] == "TaskStateExited":
                break
    assert kinds == [
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskSucceeded",
        "TaskStateExited",
    ]


# Finding 7: the smoke and evaluation jobs get their own short MaxRuntime; the full job keeps the run's.
def test_smoke_and_eval_jobs_get_short_max_runtime(scenario_stack, small_examples) -> None:
    runtime = scenario_stack()
    outcome = _run(runtime, small_examples["support"])

    assert outcome.status == "SUCCEEDED"
    runtimes = {
        job.name.rsplit("-", 1)[0].rsplit("-", 1)[-1] if "eval" not in job.name else "eval": job.request[
            "StoppingCondition"
        ]["MaxRuntimeInSeconds"]
        for job in runtime.emulator.jobs()
    }
    assert runtimes == {"smoke": 3600, "train": 86400, "eval": 7200}
