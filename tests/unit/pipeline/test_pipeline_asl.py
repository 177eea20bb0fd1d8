"""statemachine/pipeline.asl.json: the graph is sound, every task is guarded, moto's interpreter parses it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
ASL_PATH = ROOT / "statemachine" / "pipeline.asl.json"
NUMERIC = {"LambdaRetrySeconds", "ThrottleRetrySeconds", "CapacityRetrySeconds", "CapacityMaxAttempts"}


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


def test_every_task_catches_everything_and_retries_lambda_service_errors(definition: dict[str, Any]) -> None:
    tasks = {name: state for name, state in definition["States"].items() if state["Type"] == "Task"}
    assert len(tasks) >= 12
    for name, state in tasks.items():
        assert state["Resource"] == "arn:aws:states:::lambda:invoke", name
        assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.ALL"]], name
        retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
        assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= retried, name


def test_job_starts_retry_throttling_and_capacity_with_backoff(definition: dict[str, Any]) -> None:
    for name in ("SmokeJob", "TrainingJob", "Evaluate"):
        retriers = {tuple(r["ErrorEquals"]): r for r in definition["States"][name]["Retry"]}
        assert retriers[("TrainingJobThrottled",)]["BackoffRate"] > 1
        assert retriers[("CapacityUnavailable",)]["MaxAttempts"] >= 1


def test_failures_all_end_in_one_path_that_publishes_and_fails(definition: dict[str, Any]) -> None:
    states = definition["States"]
    failure_entries = {c["Next"] for s in states.values() for c in s.get("Catch", [])} - {
        "PublishFailure",
        "Failed",
    }
    failure_entries |= {"DatasetInvalid", "SmokeJobFailed", "TrainingJobFailed", "EvaluationJobFailed"}
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
    status = states["SmokeJobStatus"]
    on_failure = next(c["Next"] for c in status["Choices"] if c["StringEquals"] == "Failed")
    path, name = [], on_failure
    while "Next" in states[name]:
        path.append(name)
        name = states[name]["Next"]
    assert "TrainingJob" not in path
    assert name == "Failed"


def test_poll_loops_wait_on_the_run_setting(definition: dict[str, Any]) -> None:
    waits = [state for state in definition["States"].values() if state["Type"] == "Wait"]
    assert len(waits) == 3
    assert all(state["SecondsPath"] == "$.run.settings.poll_seconds" for state in waits)


def test_task_results_are_selected_pointers_under_named_keys(definition: dict[str, Any]) -> None:
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            assert state["ResultPath"].startswith("$."), name
            assert all(value.startswith("$.Payload.") for value in state["ResultSelector"].values()), name


def test_moto_interpreter_parses_the_definition() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    program, _ = AmazonStateLanguageParser.parse(substitute(ASL_PATH.read_text()))
    assert len(program.states.states) == len(json.loads(substitute(ASL_PATH.read_text()))["States"])
