"""Every path through statemachine/pipeline.asl.json, as named scenarios run on the local runtime.

Each scenario states the path it must take (states in order of first entry; attempt loops collapse) and the
outcome; the graph checks keep the definition itself honest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from forgeflow_tools.local.runtime import LocalRuntime
from forgeflow_tools.local.sagemaker import FailureInjection
from forgeflow_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
ASL = ROOT / "statemachine" / "pipeline.asl.json"

HEAD = [
    "Start",
    "RegisterRun",
    "IsDuplicate",
    "Validate",
    "IsDatasetValid",
    "Mix",
    "RenderRecipe",
    "IsSmokeSkipped",
]
SMOKE = ["BuildSmokeJob", "IsSmokeJobTracked", "SmokeJob"]
SMOKE_RETRIED = [*SMOKE, "NextSmokeJobAttempt", "WaitForSmokeJobAttempt"]
TRAIN = [
    "IsSmokeOnly",
    "IsApprovalRequired",
    "BuildTrainingJob",
    "IsTrainingJobServerless",
    "IsTrainingJobTracked",
    "TrainingJob",
]
# A serverless run: no smoke stage, the AWS SDK integration and its poll loop instead of .sync.
SERVERLESS = [
    "BuildTrainingJob",
    "IsTrainingJobServerless",
    "IsServerlessTrainingJobTracked",
    "ServerlessTrainingJob",
    "StartServerlessTrainingJobPolls",
    "WaitForServerlessTrainingJob",
    "DescribeServerlessTrainingJob",
    "ServerlessTrainingJobStatus",
    "CountServerlessTrainingJobPoll",
]
SERVERLESS_SIDECAR = {
    "model": "lite-2",
    "compute": "serverless",
    "poll_seconds": 0,
    "mix": {
        "sources": [
            {"name": "customer", "role": "customer", "weight": 0.8},
            {"name": "code", "uri": "nova:code", "weight": 0.2},
        ]
    },
}
EVAL = ["BuildEvaluationJobs", "EvaluationJobs", "IsEvaluationJobServerless", "EvaluationJob"]
EVAL_DONE = [*EVAL, "EvaluationJobDone"]
# Issue #16: a serverless run's MMLU jobs (base model, trained model package) in the Map's AWS SDK branch.
SERVERLESS_EVAL = [
    "IsEvaluationJobServerless",
    "ServerlessEvaluationJob",
    "ServerlessModelPackageEvaluationJob",
    "StartServerlessEvaluationJobPolls",
    "WaitForServerlessEvaluationJob",
    "DescribeServerlessEvaluationJob",
    "ServerlessEvaluationJobStatus",
    "CountServerlessEvaluationJobPoll",
]
SERVERLESS_MMLU_ONLY = {**SERVERLESS_SIDECAR, "eval_suites": ["mmlu"]}
FAILURE_TAIL = ["StopJobs", "PublishFailure", "Failed"]


def _definition() -> dict[str, Any]:
    # Substitutions are plain ${Name} tokens; a number keeps the document valid JSON for the graph check.
    return json.loads(re.sub(r"\$\{\w+\}", "1", ASL.read_text(encoding="utf-8")))


def _targets(state: dict[str, Any]) -> list[str]:
    found = [state[key] for key in ("Next", "Default") if key in state]
    found += [choice["Next"] for choice in state.get("Choices", [])]
    found += [catch["Next"] for catch in state.get("Catch", [])]
    return found


def _check_graph(machine: dict[str, Any]) -> None:
    states = machine["States"]
    for name, state in states.items():
        for target in _targets(state):
            assert target in states, f"{name} → {target}: no such state"
        if "ItemProcessor" in state:
            _check_graph(state["ItemProcessor"])
    reachable, frontier = set(), [machine["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name not in reachable:
            reachable.add(name)
            frontier.extend(_targets(states[name]))
    assert set(states) - reachable == set()


def test_every_transition_target_exists_and_every_state_is_reachable() -> None:
    _check_graph(_definition())


def test_every_substitution_in_the_asl_is_provided_by_the_template() -> None:
    used = set(re.findall(r"\$\{(\w+)\}", ASL.read_text(encoding="utf-8")))
    template = load_template(ROOT / "template.yaml")
    machine = template.resources["PipelineStateMachine"].properties
    assert used <= set(machine["DefinitionSubstitutions"])


def _map_states() -> set[str]:
    return set(_definition()["States"]["EvaluationJobs"]["ItemProcessor"]["States"])


def _path(runtime: LocalRuntime, execution_arn: str) -> list[str]:
    seen: list[str] = []
    for event in runtime.history(execution_arn):
        details = event.get("stateEnteredEventDetails")
        if details and details["name"] not in seen:
            seen.append(details["name"])
    return seen


@dataclass(frozen=True)
class Scenario:
    name: str
    path: list[str]
    status: str
    failures: FailureInjection = field(default_factory=FailureInjection)
    sidecar: dict[str, Any] | None = None
    failed_stage: str | None = None


SCENARIOS = [
    Scenario(
        "happy path, a new smoke attempt after ResourceLimitExceeded",
        [
            *HEAD,
            *SMOKE_RETRIED,
            *TRAIN,
            *EVAL_DONE,
            "CollectEvaluation",
            "IsRegressed",
            "Publish",
            "Succeeded",
        ],
        "SUCCEEDED",
        failures=FailureInjection(limit_creates=1),
    ),
    Scenario(
        "regressed: customer data alone, the general suite falls below the gate",
        [
            *HEAD,
            *SMOKE,
            *TRAIN,
            *EVAL_DONE,
            "CollectEvaluation",
            "IsRegressed",
            "PublishRegressed",
            "Regressed",
        ],
        "SUCCEEDED",
        sidecar={
            "mix": {"validation_fraction": 0.1, "sources": [{"name": "c", "role": "customer", "weight": 1}]},
            "gates": {"general_max_drop": 2.0},  # the scenario stack opens the gate; the run config closes it
        },
    ),
    Scenario(
        "smoke job lost its capacity on every attempt",
        [*HEAD, *SMOKE_RETRIED, "SmokeFailed", *FAILURE_TAIL],
        "FAILED",
        failures=FailureInjection(capacity_errors={"smoke": 9}),
        failed_stage="smoke",
    ),
    Scenario(
        "evaluation job failed",
        [
            *HEAD,
            *SMOKE,
            *TRAIN,
            *EVAL,
            "NextEvaluationJobAttempt",
            "EvaluationJobFailed",
            "EvaluateFailed",
            *FAILURE_TAIL,
        ],
        "FAILED",
        failures=FailureInjection(fail_stages=frozenset({"eval"})),
        failed_stage="evaluate",
    ),
    Scenario(
        "smoke only: the run ends after the smoke job",
        [*HEAD, *SMOKE, "IsSmokeOnly", "Publish", "Succeeded"],
        "SUCCEEDED",
        sidecar={"smoke_only": True},
    ),
    Scenario(
        "serverless with a Nova category: no smoke stage, the poll loop, evaluation",
        [
            *HEAD,
            "IsApprovalRequired",
            *SERVERLESS,
            "ServerlessTrainingJobCompleted",
            *EVAL_DONE,
            *SERVERLESS_EVAL,
            "ServerlessEvaluationJobCompleted",
            "CollectEvaluation",
            "IsRegressed",
            "Publish",
            "Succeeded",
        ],
        "SUCCEEDED",
        sidecar=SERVERLESS_SIDECAR,
    ),
    Scenario(
        "serverless evaluation lost its capacity: a new attempt (-2) of that evaluation job",
        [
            *HEAD,
            "IsApprovalRequired",
            *SERVERLESS,
            "ServerlessTrainingJobCompleted",
            "BuildEvaluationJobs",
            "EvaluationJobs",
            *SERVERLESS_EVAL,
            "ServerlessEvaluationJobEnded",
            "NextEvaluationJobAttempt",
            "WaitForEvaluationJobAttempt",
            "ServerlessEvaluationJobCompleted",
            "EvaluationJobDone",
            "CollectEvaluation",
            "IsRegressed",
            "Publish",
            "Succeeded",
        ],
        "SUCCEEDED",
        failures=FailureInjection(capacity_errors={"eval": 1}),
        sidecar=SERVERLESS_MMLU_ONLY,
    ),
    Scenario(
        "serverless evaluation job failed: Run Failed at evaluate",
        [
            *HEAD,
            "IsApprovalRequired",
            *SERVERLESS,
            "ServerlessTrainingJobCompleted",
            "BuildEvaluationJobs",
            "EvaluationJobs",
            *SERVERLESS_EVAL,
            "ServerlessEvaluationJobEnded",
            "NextEvaluationJobAttempt",
            "EvaluationJobFailed",
            "EvaluateFailed",
            *FAILURE_TAIL,
        ],
        "FAILED",
        failures=FailureInjection(fail_stages=frozenset({"eval"})),
        sidecar=SERVERLESS_MMLU_ONLY,
        failed_stage="evaluate",
    ),
    Scenario(
        "serverless create over the account limit: a new attempt, as for .sync jobs",
        [
            *HEAD,
            "IsApprovalRequired",
            *SERVERLESS[:4],
            "NextTrainingJobAttempt",
            "WaitForTrainingJobAttempt",
            *SERVERLESS[4:],
            "ServerlessTrainingJobCompleted",
            *EVAL_DONE,
            *SERVERLESS_EVAL,
            "ServerlessEvaluationJobCompleted",
            "CollectEvaluation",
            "IsRegressed",
            "Publish",
            "Succeeded",
        ],
        "SUCCEEDED",
        failures=FailureInjection(limit_creates=1),
        sidecar=SERVERLESS_SIDECAR,
    ),
    Scenario(
        "serverless training job failed: the failure path stops nothing left running",
        [
            *HEAD,
            "IsApprovalRequired",
            *SERVERLESS,
            "ServerlessTrainingJobEnded",
            "NextTrainingJobAttempt",
            "TrainFailed",
            *FAILURE_TAIL,
        ],
        "FAILED",
        failures=FailureInjection(fail_stages=frozenset({"train"})),
        sidecar=SERVERLESS_SIDECAR,
        failed_stage="train",
    ),
    Scenario(
        "serverless training job completed without a model package: nothing to evaluate, Run Failed at train",
        [
            *HEAD,
            "IsApprovalRequired",
            *SERVERLESS,
            "ServerlessTrainingJobWithoutModelPackage",
            "NextTrainingJobAttempt",
            "TrainFailed",
            *FAILURE_TAIL,
        ],
        "FAILED",
        failures=FailureInjection(no_model_package=True),
        sidecar=SERVERLESS_MMLU_ONLY,
        failed_stage="train",
    ),
    Scenario(
        "unknown key in the run options",
        ["Start", "RegisterRun", "RegisterFailed", *FAILURE_TAIL],
        "FAILED",
        sidecar={"no_such_option": 1},
        failed_stage="register",
    ),
]


@pytest.mark.slow
@pytest.mark.filterwarnings(r"ignore:Exception\(\w+\)")
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_path(scenario: Scenario, scenario_stack, small_examples) -> None:
    import yaml

    runtime = scenario_stack(scenario.failures)
    sidecar = yaml.safe_dump(scenario.sidecar).encode() if scenario.sidecar is not None else None
    runtime.drop_dataset(small_examples["support"], sidecar=sidecar)
    (execution,) = runtime.wait_for_executions(1)
    outcome = runtime.outcome(execution["executionArn"])

    # The Map's iterations run in parallel: the order of first entry holds outside it, a set inside it.
    path, inside = _path(runtime, outcome.execution_arn), _map_states()
    assert [s for s in path if s not in inside] == [s for s in scenario.path if s not in inside]
    assert {s for s in path if s in inside} == {s for s in scenario.path if s in inside}
    assert outcome.status == scenario.status
    if scenario.failed_stage is not None:
        assert outcome.events[-1]["detail-type"] == "Run Failed"
        assert outcome.events[-1]["detail"]["stage"] == scenario.failed_stage
    if scenario.failures.no_model_package:
        assert "completed without an OutputModelPackageArn" in outcome.events[-1]["detail"]["message"]
    if scenario.failures.capacity_errors.get("eval"):
        evals = {j.name: j.status for j in runtime.emulator.jobs() if j.stage == "eval"}
        assert sorted(evals.values()) == ["Completed", "Completed", "Failed"]
        (retried,) = [name for name in evals if name.endswith("-2")]
        assert evals[retried[:-1] + "1"] == "Failed"
    if scenario.sidecar is SERVERLESS_SIDECAR and scenario.status == "SUCCEEDED":
        detail = outcome.events[-1]["detail"]
        assert detail["smoke_job_name"] is None
        assert "no documented smallest run" in detail["smoke_skipped"]
        assert detail["estimated_cost_usd"] is None  # unknown, never invented
        (train,) = [job for job in runtime.emulator.jobs() if job.stage == "train"]
        assert train.request["ServerlessJobConfig"]["JobType"] == "FineTuning"
        assert train.request["HyperParameters"]["nova_code_percent"] == "100"
        # MMLU ran as serverless benchmark jobs; the trained one evaluated the job's model package.
        serverless = {
            j.name: j.request for j in runtime.emulator.jobs() if j.serverless_job_type == "Evaluation"
        }
        run_id = outcome.run_id
        assert set(serverless) == {
            f"forgeflow-{run_id}-eval-mmlu-base-1",
            f"forgeflow-{run_id}-eval-mmlu-trained-1",
        }
        package = serverless[f"forgeflow-{run_id}-eval-mmlu-trained-1"]["ModelPackageConfig"]
        assert package["SourceModelPackageArn"] == detail["model_package_arn"] == train.model_package_arn
    if scenario.sidecar == {"smoke_only": True}:
        detail = outcome.events[-1]["detail"]
        assert (detail["smoke_only"], detail["training_job_name"], detail["evaluation"]) == (True, None, {})
    elif scenario.status == "SUCCEEDED":
        # The emulated evaluation reaches the event honestly: flagged, and MMLU unmeasured (null + reason).
        detail = outcome.events[-1]["detail"]
        assert detail["emulated"] is True
        mmlu = detail["evaluation"]["mmlu"]
        assert (mmlu["base"], mmlu["trained"], mmlu["delta"]) == (None, None, None)
        assert mmlu["note"].startswith("not measured")
