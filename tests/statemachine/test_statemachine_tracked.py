"""Tracked job states (issue #13): with the stack parameter MlflowTrackingArn the smoke and full training
jobs log to the SageMaker MLflow tracking server through CreateTrainingJob's `MlflowConfig`.

The state machine passes a fixed member set and moto's interpreter has no JSONata, so each job state has a
Choice-guarded twin `Tracked<X>` that passes `MlflowConfig` too. The twins are derived here from their
originals, so the two can never drift apart, and the local runtime shows which one runs.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from forgeflow.jobs.requests import MLFLOW_MEMBER
from forgeflow.pipeline.steps.jobs import SYNC_FIELDS, TRACKED_FIELDS
from forgeflow.pipeline.steps.serverless import SERVERLESS_FIELDS, TRACKED_SERVERLESS_FIELDS
from forgeflow_tools.local.runtime import LocalRuntime

ASL = Path(__file__).resolve().parents[2] / "statemachine" / "pipeline.asl.json"
TRACKING_ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/forgeflow-emulated"
# Each tracked job state, where its built request lives in the execution state, its member set.
TRACKED = {
    "SmokeJob": ("$.smoke.request", SYNC_FIELDS),
    "TrainingJob": ("$.training.request", SYNC_FIELDS),
    "ServerlessTrainingJob": ("$.training.request", SERVERLESS_FIELDS),
}
SERVERLESS_SIDECAR = {
    "model": "lite-2",
    "compute": "serverless",
    "poll_seconds": 0,
    "mix": {"sources": [{"name": "customer", "role": "customer", "weight": 1.0}]},
}


@pytest.fixture(scope="module")
def states() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(re.sub(r"\$\{\w+\}", "1", ASL.read_text(encoding="utf-8")))
    return dict(document["States"])


def _targets(state: dict[str, Any]) -> list[str]:
    found = [state[key] for key in ("Next", "Default") if key in state]
    found += [choice["Next"] for choice in state.get("Choices", [])]
    return found + [catch["Next"] for catch in state.get("Catch", [])]


@pytest.mark.parametrize("original", sorted(TRACKED))
def test_the_twin_is_its_original_plus_exactly_the_mlflow_member(
    states: dict[str, Any], original: str
) -> None:
    request, _ = TRACKED[original]
    expected = copy.deepcopy(states[original])
    expected["Parameters"][f"{MLFLOW_MEMBER}.$"] = f"{request}.{MLFLOW_MEMBER}"
    twin = copy.deepcopy(states[f"Tracked{original}"])
    # The comment says which one it is; everything else (Resource, RoleArn, ResultSelector, ResultPath,
    # Retry, Catch, Next) must be the original's.
    expected.pop("Comment", None)
    twin.pop("Comment", None)
    assert twin == expected


@pytest.mark.parametrize("original", sorted(TRACKED))
def test_one_choice_on_the_built_request_guards_each_pair(states: dict[str, Any], original: str) -> None:
    request, _ = TRACKED[original]
    guard = states[f"Is{original}Tracked"]
    assert guard["Type"] == "Choice"
    assert guard["Choices"] == [
        {"Variable": f"{request}.{MLFLOW_MEMBER}", "IsPresent": True, "Next": f"Tracked{original}"}
    ]
    assert guard["Default"] == original
    # Nothing reaches either job state but through its guard: no path skips the check.
    entering = {
        name for name, state in states.items() if {original, f"Tracked{original}"} & set(_targets(state))
    }
    assert entering == {f"Is{original}Tracked"}


def test_the_member_sets_are_the_requests_plus_mlflow_config(states: dict[str, Any]) -> None:
    assert SYNC_FIELDS | {MLFLOW_MEMBER} == TRACKED_FIELDS
    assert SERVERLESS_FIELDS | {MLFLOW_MEMBER} == TRACKED_SERVERLESS_FIELDS
    for original, (_, fields) in TRACKED.items():
        assert {key.removesuffix(".$") for key in states[original]["Parameters"]} == fields
        twin = {key.removesuffix(".$") for key in states[f"Tracked{original}"]["Parameters"]}
        assert twin == fields | {MLFLOW_MEMBER}


def test_the_evaluation_map_stays_untracked(states: dict[str, Any]) -> None:
    processor = states["EvaluationJobs"]["ItemProcessor"]["States"]
    assert not [name for name in processor if "Tracked" in name]
    assert MLFLOW_MEMBER not in json.dumps(states["EvaluationJobs"])


def _entered(runtime: LocalRuntime, execution_arn: str) -> list[str]:
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in runtime.history(execution_arn)
        if "stateEnteredEventDetails" in event
    ]


def _run(runtime: LocalRuntime, data: Path, sidecar: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    import yaml

    runtime.drop_dataset(data, sidecar=yaml.safe_dump(sidecar).encode() if sidecar else None)
    (execution,) = runtime.wait_for_executions(1)
    outcome = runtime.outcome(execution["executionArn"])
    assert outcome.status == "SUCCEEDED", outcome.events
    return outcome.run_id, _entered(runtime, outcome.execution_arn)


def test_with_a_tracking_server_the_tracked_twins_run_and_the_jobs_carry_mlflow_config(
    scenario_stack: Callable[..., LocalRuntime], small_examples: dict[str, Path]
) -> None:
    runtime = scenario_stack(parameter_overrides={"MlflowTrackingArn": TRACKING_ARN})
    run_id, entered = _run(runtime, small_examples["support"])
    assert {"TrackedSmokeJob", "TrackedTrainingJob"} <= set(entered)
    assert not {"SmokeJob", "TrainingJob"} & set(entered)
    jobs = {job.name: job.request for job in runtime.emulator.jobs() if run_id in job.name}
    training = [name for name in jobs if name.endswith(("-smoke-1", "-train-1"))]
    assert len(training) == 2
    for name in training:
        assert jobs[name][MLFLOW_MEMBER] == {
            "MlflowResourceArn": TRACKING_ARN,
            "MlflowExperimentName": "forgeflow",  # the experiment TrackRunFunction logs the run record to
            "MlflowRunName": name,
        }
    evaluations = [name for name in jobs if "-eval-" in name]
    assert evaluations
    assert not [name for name in evaluations if MLFLOW_MEMBER in jobs[name]]
    # TrackRunFunction is deployed too; offline there is no server for it, and it says so.
    (failed,) = [error for error in runtime.deliveries.errors if "TrackRunFunction" in error]
    assert "no-sagemaker-mlflow-tracking-server-in-the-local-emulation" in failed


def test_without_a_tracking_server_the_original_states_run_without_mlflow_config(
    scenario_stack: Callable[..., LocalRuntime], small_examples: dict[str, Path]
) -> None:
    runtime = scenario_stack()
    run_id, entered = _run(runtime, small_examples["support"])
    assert {"IsSmokeJobTracked", "SmokeJob", "IsTrainingJobTracked", "TrainingJob"} <= set(entered)
    assert not [name for name in entered if name.startswith("Tracked")]
    requests = [job.request for job in runtime.emulator.jobs() if run_id in job.name]
    assert requests
    assert not [request for request in requests if MLFLOW_MEMBER in request]


def test_a_tracked_serverless_job_runs_through_its_twin(
    scenario_stack: Callable[..., LocalRuntime], small_examples: dict[str, Path]
) -> None:
    runtime = scenario_stack(parameter_overrides={"MlflowTrackingArn": TRACKING_ARN})
    run_id, entered = _run(runtime, small_examples["support"], SERVERLESS_SIDECAR)
    assert "TrackedServerlessTrainingJob" in entered
    assert "ServerlessTrainingJob" not in entered
    (train,) = [job for job in runtime.emulator.jobs() if job.name.endswith(f"{run_id}-train-1")]
    assert train.request["ServerlessJobConfig"]["JobType"] == "FineTuning"
    assert train.request[MLFLOW_MEMBER]["MlflowRunName"] == train.name
