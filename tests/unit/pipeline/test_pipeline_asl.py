"""statemachine/pipeline.asl.json: the graph is sound, every task is guarded, moto's interpreter parses it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
ASL_PATH = ROOT / "statemachine" / "pipeline.asl.json"
NUMERIC = {"LambdaRetrySeconds", "ThrottleRetrySeconds", "ApprovalTimeoutSeconds", "ServerlessMaxPolls"}
SYNC = "arn:aws:states:::sagemaker:createTrainingJob.sync"


def substitute(text: str) -> str:
    """What CloudFormation does with DefinitionSubstitutions: textual replacement."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in NUMERIC:
            return "3"
        return f"arn:aws:lambda:us-east-1:123456789012:function:{name.removesuffix('Arn')}"

    return re.sub(r"\$\{(\w+)\}", value, text)


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(substitute(ASL_PATH.read_text()))
    return document


def targets(state: dict[str, Any]) -> list[str]:
    found = [state[key] for key in ("Next", "Default") if key in state]
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [catcher["Next"] for catcher in state.get("Catch", [])]
    return found


def test_every_target_exists_and_every_state_is_reachable(definition: dict[str, Any]) -> None:
    states = definition["States"]
    for name, state in states.items():
        for target in targets(state):
            assert target in states, f"{name} → {target}"
    reached, frontier = set(), [definition["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name not in reached:
            reached.add(name)
            frontier.extend(targets(states[name]))
    assert reached == set(states)


def test_every_non_terminal_state_leads_somewhere(definition: dict[str, Any]) -> None:
    for name, state in definition["States"].items():
        if state["Type"] in ("Succeed", "Fail"):
            continue
        assert targets(state) or state.get("End"), name


def _all_states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Top-level states and those of Map item processors."""
    found = dict(definition["States"])
    for state in definition["States"].values():
        if "ItemProcessor" in state:
            found.update(_all_states(state["ItemProcessor"]))
    return found


def _final_errors() -> set[str]:
    import inspect

    from forgeflow.pipeline import errors

    retryable = {"TrainingJobThrottled", "CapacityUnavailable"}  # named create/describe-time conditions
    named = {
        cls.__name__
        for cls in vars(errors).values()
        if inspect.isclass(cls) and issubclass(cls, errors.PipelineError) and cls is not errors.PipelineError
    }
    return named - retryable


FINAL_ERRORS = _final_errors()


def test_lambda_tasks_catch_everything_and_retry_any_error_but_their_own(definition: dict[str, Any]) -> None:
    tasks = {
        n: s for n, s in _all_states(definition).items() if s.get("Resource", "").endswith("lambda:invoke")
    }
    assert len(tasks) >= 12
    for name, state in tasks.items():
        assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.ALL"]], name
        # Issue #9 finding 1: Sandbox.Timedout, Lambda.Unknown, network errors are retried (bounded).
        domain, broad = state["Retry"]
        assert domain["MaxAttempts"] == 0, name
        # Every error the pipeline raises on purpose is final, except those a later try can cure; the list
        # comes from forgeflow.pipeline.errors, so a new error class cannot be retried five times by mistake.
        assert set(domain["ErrorEquals"]) == FINAL_ERRORS, name
        assert broad["ErrorEquals"] == ["States.ALL"], name
        assert broad["MaxAttempts"] <= 5, name
        assert broad["MaxDelaySeconds"] <= 60, name


def test_jobs_run_through_the_sync_integration_and_never_retry_a_created_job(
    definition: dict[str, Any],
) -> None:
    states = _all_states(definition)
    jobs = {n: s for n, s in states.items() if s.get("Resource") == SYNC}
    # The Tracked* twins: the same jobs passing MlflowConfig too (statemachine/test_statemachine_tracked.py).
    assert set(jobs) == {"SmokeJob", "TrainingJob", "EvaluationJob", "TrackedSmokeJob", "TrackedTrainingJob"}
    for name, state in jobs.items():
        # A Retry on States.TaskFailed would re-create a job under its used name: only create-time errors.
        retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
        assert retried, name
        assert all(error.startswith("SageMaker.") for error in retried), name
        # The jobs' role is the stack's (a substitution), never a value from the execution's state.
        assert "RoleArn.$" not in state["Parameters"], name
        assert state["Parameters"]["RoleArn"].endswith(":SageMakerExecutionRole"), name
        (catch,) = state["Catch"]
        assert states[catch["Next"]]["Parameters"]["FunctionName"].endswith("NextJobAttemptFunction"), name


def test_failures_all_end_in_one_path_that_publishes_and_fails(definition: dict[str, Any]) -> None:
    states = definition["States"]
    attempts = {"NextSmokeJobAttempt", "NextTrainingJobAttempt"}
    failure_entries = {c["Next"] for s in states.values() for c in s.get("Catch", [])} - {
        "PublishFailure",
        "Failed",
        *attempts,
    }
    failure_entries |= {"DatasetInvalid"}
    for name in failure_entries:
        state = states[name]
        assert state["Type"] == "Pass", name
        assert state["ResultPath"] == "$.failure", name
        assert state["Next"] == "StopJobs", name
        assert "stage" in state["Parameters"], name
    assert states["StopJobs"]["Next"] == "PublishFailure"
    assert states["PublishFailure"]["Next"] == "Failed"
    assert states["PublishFailure"]["Parameters"]["Payload"]["outcome"] == "failed"
    assert states["Failed"]["Type"] == "Fail"


def test_a_failed_smoke_job_never_reaches_the_training_job(definition: dict[str, Any]) -> None:
    states = definition["States"]
    on_failure = states["NextSmokeJobAttempt"]["Catch"][0]["Next"]
    path, name = [], on_failure
    while "Next" in states[name]:
        path.append(name)
        name = states[name]["Next"]
    assert "TrainingJob" not in path
    assert name == "Failed"


def test_the_only_waits_are_attempt_backoffs_and_the_bounded_serverless_poll(
    definition: dict[str, Any],
) -> None:
    # Issue #9 finding 2: no poll loop for .sync jobs (each poll added 9 history events). Issue #16: a
    # serverless job cannot run through .sync, so its one poll loop is bounded by the stack's
    # ServerlessMaxPolls (at most MAX_SERVERLESS_POLLS, the history-quota bound pre-flight also uses).
    from cfnlint.decode import decode

    from forgeflow.jobs.serverless import MAX_SERVERLESS_POLLS

    waits = {n: s for n, s in _all_states(definition).items() if s["Type"] == "Wait"}
    backoffs = {"WaitForSmokeJobAttempt", "WaitForTrainingJobAttempt", "WaitForEvaluationJobAttempt"}
    polls = {"WaitForServerlessTrainingJob", "WaitForServerlessEvaluationJob"}
    assert set(waits) == backoffs | polls
    assert all(waits[name]["SecondsPath"].endswith(".wait_seconds") for name in backoffs)
    assert all(waits[name]["SecondsPath"] == "$.run.settings.poll_seconds" for name in polls)
    states = _all_states(definition)
    for status, counter, overdue in (
        ("ServerlessTrainingJobStatus", "$.training.poll.count", "ServerlessTrainingJobOverdue"),
        ("ServerlessEvaluationJobStatus", "$.poll.count", "ServerlessEvaluationJobOverdue"),
    ):
        bound = [c for c in states[status]["Choices"] if c.get("Variable") == counter]
        assert bound == [
            {
                "Variable": counter,
                "NumericGreaterThanEquals": 3,  # the ${ServerlessMaxPolls} substitution (NUMERIC)
                "Next": overdue,
            }
        ]
    assert "${ServerlessMaxPolls}" in ASL_PATH.read_text()
    template, _ = decode(str(ASL_PATH.parents[1] / "template.yaml"))
    parameters = template["Parameters"]
    assert parameters["ServerlessMaxPolls"]["MaxValue"] == MAX_SERVERLESS_POLLS
    assert parameters["ServerlessMaxPolls"]["Default"] == MAX_SERVERLESS_POLLS


def test_evaluation_jobs_run_in_parallel(definition: dict[str, Any]) -> None:
    evaluation = definition["States"]["EvaluationJobs"]
    assert evaluation["Type"] == "Map"
    assert evaluation["ItemsPath"] == "$.evaluation.jobs"
    assert evaluation["MaxConcurrency"] > 1


def test_task_results_are_selected_pointers_under_named_keys(definition: dict[str, Any]) -> None:
    for name, state in _all_states(definition).items():
        if state["Type"] == "Task":
            assert state["ResultPath"].startswith("$."), name
            if state["Resource"].endswith(".waitForTaskToken"):
                continue  # the approver's answer, kept whole (test_approval_waits_on_a_task_token_…)
            prefix = "$.Payload." if state["Resource"].endswith("lambda:invoke") else "$."
            if name in ("DescribeServerlessTrainingJob", "DescribeServerlessEvaluationJob"):
                continue  # keeps the whole output: FailureReason (optional) is a failure's cause
            assert all(value.startswith(prefix) for value in state["ResultSelector"].values()), name


def test_moto_interpreter_parses_the_definition() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    program, _ = AmazonStateLanguageParser.parse(substitute(ASL_PATH.read_text()))
    assert len(program.states.states) == len(json.loads(substitute(ASL_PATH.read_text()))["States"])


def test_serverless_job_requests_are_built_with_exactly_the_members_the_asl_passes(
    definition: dict[str, Any],
) -> None:
    from forgeflow.pipeline.steps.serverless import SERVERLESS_FIELDS, TRACKED_SERVERLESS_FIELDS
    from forgeflow.pipeline.steps.serverless_eval import (
        SERVERLESS_EVAL_FIELDS,
        SERVERLESS_EVAL_PACKAGE_FIELDS,
    )

    creates = {
        name: state
        for name, state in _all_states(definition).items()
        if state.get("Resource") == "arn:aws:states:::aws-sdk:sagemaker:createTrainingJob"
    }
    expected = {
        "ServerlessTrainingJob": SERVERLESS_FIELDS,
        "TrackedServerlessTrainingJob": TRACKED_SERVERLESS_FIELDS,
        "ServerlessEvaluationJob": SERVERLESS_EVAL_FIELDS,
        "ServerlessModelPackageEvaluationJob": SERVERLESS_EVAL_PACKAGE_FIELDS,
    }
    assert set(creates) == set(expected)
    for name, state in creates.items():
        assert {key.removesuffix(".$") for key in state["Parameters"]} == expected[name], name
        # The jobs' role is the stack's (a substitution), never a value from the execution's state.
        assert state["Parameters"]["RoleArn"].endswith(":SageMakerExecutionRole"), name
        retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
        assert all(error.startswith("SageMaker.") for error in retried), name


# Issue #16: the Map routes a serverless request to the AWS SDK branch, whose every failure reaches the
# same NextEvaluationJobAttempt as a .sync failure; the serverful EvaluationJob is the default.
def test_the_evaluation_map_routes_serverless_requests_to_their_poll_loop(definition: dict[str, Any]) -> None:
    processor = definition["States"]["EvaluationJobs"]["ItemProcessor"]
    states = processor["States"]
    assert processor["StartAt"] == "IsEvaluationJobServerless"
    choice = states["IsEvaluationJobServerless"]
    assert choice["Default"] == "EvaluationJob"
    assert [c["Next"] for c in choice["Choices"]] == [
        "ServerlessModelPackageEvaluationJob",
        "ServerlessEvaluationJob",
    ]
    assert states["WaitForEvaluationJobAttempt"]["Next"] == "IsEvaluationJobServerless"
    loop = [
        "ServerlessEvaluationJob",
        "ServerlessModelPackageEvaluationJob",
        "DescribeServerlessEvaluationJob",
        "ServerlessEvaluationJobEnded",
        "ServerlessEvaluationJobOverdue",
    ]
    for name in loop:
        state = states[name]
        catches = [c["Next"] for c in state.get("Catch", [])] or [state["Next"]]
        assert catches == ["NextEvaluationJobAttempt"], name
    assert states["ServerlessEvaluationJobCompleted"]["Next"] == "EvaluationJobDone"
    assert states["ServerlessEvaluationJobCompleted"]["ResultPath"] == "$.result"


# Issue #16: the serverless training job's model package is what a serverless evaluation of the trained
# model names; a job that completed without one (the member is optional) fails the stage with its reason.
def test_the_serverless_training_job_keeps_its_model_package(definition: dict[str, Any]) -> None:
    states = definition["States"]
    completed = states["ServerlessTrainingJobCompleted"]["Parameters"]
    assert completed["model_package_arn.$"] == "$.training.described.OutputModelPackageArn"
    first, without = states["ServerlessTrainingJobStatus"]["Choices"][:2]
    assert first["Next"] == "ServerlessTrainingJobCompleted"
    assert {"Variable": "$.training.described.OutputModelPackageArn", "IsPresent": True} in first["And"]
    assert without["Next"] == "ServerlessTrainingJobWithoutModelPackage"
    assert states["ServerlessTrainingJobWithoutModelPackage"]["Next"] == "NextTrainingJobAttempt"


def test_job_requests_are_built_with_exactly_the_members_the_asl_passes(definition: dict[str, Any]) -> None:
    from forgeflow.pipeline.steps.jobs import SYNC_FIELDS, TRACKED_FIELDS

    for name, state in _all_states(definition).items():
        if state.get("Resource") == SYNC:
            passed = {key.removesuffix(".$") for key in state["Parameters"]}
            assert passed == (TRACKED_FIELDS if name.startswith("Tracked") else SYNC_FIELDS), name


# --- issue #15, approval before the full job --------------------------------------------------------------
WAIT_FOR_TOKEN = "arn:aws:states:::lambda:invoke.waitForTaskToken"


def test_approval_waits_on_a_task_token_between_the_smoke_job_and_the_full_job(
    definition: dict[str, Any],
) -> None:
    states = definition["States"]
    assert states["IsSmokeOnly"]["Default"] == "IsApprovalRequired"
    # A run without a smoke stage (serverless) is held all the same before its full job.
    (skipped,) = states["IsSmokeSkipped"]["Choices"]
    assert skipped["Next"] == "IsApprovalRequired"
    (choice,) = states["IsApprovalRequired"]["Choices"]
    assert (choice["Variable"], choice["BooleanEquals"], choice["Next"]) == (
        "$.run.settings.require_approval",
        True,
        "AwaitApproval",
    )
    assert states["IsApprovalRequired"]["Default"] == "BuildTrainingJob"
    waiting = {n for n, s in _all_states(definition).items() if s.get("Resource") == WAIT_FOR_TOKEN}
    assert waiting == {"AwaitApproval"}
    wait = states["AwaitApproval"]
    assert wait["Next"] == "BuildTrainingJob"
    assert wait["TimeoutSeconds"] == 3  # ${ApprovalTimeoutSeconds}
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert wait["Parameters"]["FunctionName"].endswith(":RequestApprovalFunction")
    # Whatever an approver sends (the console allows any JSON) is kept whole: a ResultSelector path the
    # output lacks would fail the execution with States.Runtime, which no Catch catches.
    assert wait["ResultSelector"] == {"decision.$": "$"}


def test_a_rejection_or_a_timeout_is_never_retried_and_fails_the_run_at_approval(
    definition: dict[str, Any],
) -> None:
    from forgeflow.pipeline.errors import APPROVAL_TIMED_OUT, ApprovalRejected

    states = definition["States"]
    wait = states["AwaitApproval"]
    final, broad = wait["Retry"]
    # A retry would invoke RequestApproval again: a new token, a second Approval Requested.
    assert final["MaxAttempts"] == 0
    assert set(final["ErrorEquals"]) == FINAL_ERRORS | {ApprovalRejected.default_code, APPROVAL_TIMED_OUT}
    assert broad["ErrorEquals"] == ["States.ALL"]
    (catch,) = wait["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    failed = states[catch["Next"]]
    assert failed["Parameters"]["stage"] == "approval"
    path, name = [], catch["Next"]
    while "Next" in states[name]:
        path.append(name)
        name = states[name]["Next"]
    assert "BuildTrainingJob" not in path
    assert "TrainingJob" not in path
    assert name == "Failed"
