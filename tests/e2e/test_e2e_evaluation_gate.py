"""Issue #13 (the deciding half) end to end on the local runtime: the general suite, the stand-in's trade,
the verdict, the baseline cache and the run's actual cost.

Every number here is the local stand-in's (nearest-neighbour retrieval, docs/local.md), read from the files
the run left, never asserted into being.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from forgeflow.dataset.canonical import record_hash
from forgeflow.evaluation.general import in_general_holdout
from forgeflow_tools.examples import write_examples
from forgeflow_tools.local.runtime import LocalRuntime, RunOutcome
from forgeflow_tools.local.sagemaker import FailureInjection

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
pytestmark = pytest.mark.slow
SUPPORT_RECORDS = 200


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gate")
    full = write_examples(folder / "full")
    support = folder / "support_sft.jsonl"
    support.write_bytes(b"".join(full["support"].read_bytes().splitlines(keepends=True)[:SUPPORT_RECORDS]))
    return {"support": support, "general": full["general"]}


@pytest.fixture
def runtime(data: dict[str, Path]) -> Iterator[LocalRuntime]:
    """A local stack whose curated pool is the whole shipped general set (400 records)."""
    with LocalRuntime(TEMPLATE, failures=FailureInjection()) as started:
        started.put_object(f"{started.curated_prefix}sft/general_sft.jsonl", data["general"].read_bytes())
        yield started


def drop(runtime: LocalRuntime, dataset: Path, sidecar: dict[str, Any] | None = None) -> RunOutcome:
    before = len(runtime.executions())
    runtime.drop_dataset(dataset, sidecar=yaml.safe_dump(sidecar).encode() if sidecar else None)
    executions = runtime.wait_for_executions(before + 1)
    assert len(executions) == before + 1, "the S3 drop started no execution"
    return runtime.outcome(executions[-1]["executionArn"])


def summary_of(runtime: LocalRuntime, outcome: RunOutcome) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(runtime.read(f"runs/{outcome.run_id}/evaluation/summary.json"))
    return document


UNMIXED = {
    "mix": {"validation_fraction": 0.1, "sources": [{"name": "customer", "role": "customer", "weight": 1.0}]}
}


def test_the_general_slice_is_scored_and_never_reaches_train(runtime: LocalRuntime, data) -> None:
    outcome = drop(runtime, data["support"])
    prefix = f"runs/{outcome.run_id}/"
    queries = [
        orjson.loads(line)
        for line in runtime.read(prefix + "evaluation/inputs/general/gen_qa.jsonl").splitlines()
    ]
    train = [orjson.loads(line) for line in runtime.read(prefix + "mix/train.jsonl").splitlines()]
    general = [orjson.loads(line) for line in data["general"].read_bytes().splitlines()]
    held_out = [record for record in general if in_general_holdout(record_hash(record))]
    assert 0 < len(queries) == len(held_out) < len(general) / 5
    # Record identity, not text: the shipped set's multi-turn records share follow-up turns.
    trained = {record_hash(record) for record in train}
    assert not trained & {record_hash(record) for record in held_out}
    assert trained & {record_hash(record) for record in general}  # the same identity: curated data is in
    # The rest of the pool is blended in: the exclusion took the slice and nothing else.
    report = orjson.loads(runtime.read(prefix + "mix/mix_report.json"))
    curated = next(source for source in report["sources"] if source["name"] == "curated")
    assert (curated["excluded"], curated["available"]) == (len(held_out), len(general) - len(held_out))

    suite = summary_of(runtime, outcome)["suites"]["general"]
    assert suite["metric"] == "f1_score"
    assert suite["base"] is not None
    assert suite["trained"] is not None
    assert "stand-in" in suite["note"]


def test_a_customer_only_run_loses_general_ability_and_a_mixed_run_keeps_more(runtime, data) -> None:
    mixed = summary_of(runtime, drop(runtime, data["support"]))["suites"]["general"]
    unmixed = summary_of(runtime, drop(runtime, data["support"], UNMIXED))["suites"]["general"]
    assert mixed["base"] == unmixed["base"] > 0.2  # one base model (the stand-in knowing the curated pool)
    assert unmixed["trained"] < mixed["trained"]
    assert unmixed["delta"] < mixed["delta"] <= 0
    assert unmixed["trained"] < 0.1 * unmixed["base"]  # trained on support tickets alone: it forgot


def whole_pool(runtime: LocalRuntime) -> dict[str, Any]:
    """A plan whose curated share takes in the whole pool (every record outside the general slice)."""
    curated = f"s3://{runtime.bucket}/{runtime.curated_prefix}sft/"
    return {
        "mix": {
            "validation_fraction": 0.1,
            "allow_upsample": True,
            "sources": [
                {"name": "customer", "role": "customer", "weight": 0.3},
                {"name": "curated", "uri": curated, "weight": 0.7},
            ],
        }
    }


def outcome_event(outcome: RunOutcome) -> dict[str, Any]:
    ended = [
        e for e in outcome.events if e["detail-type"] in ("Run Succeeded", "Run Regressed", "Run Failed")
    ]
    assert len(ended) == 1, [e["detail-type"] for e in outcome.events]
    return ended[0]


def test_a_run_that_keeps_general_ability_is_promoted_with_its_actual_cost(runtime, data) -> None:
    outcome = drop(runtime, data["support"], whole_pool(runtime))
    event = outcome_event(outcome)
    assert event["detail-type"] == "Run Succeeded", event["detail"]
    detail = event["detail"]
    assert detail["verdict"] == "promoted"
    assert detail["evaluation"]["general"]["delta"] >= -0.02  # within the 2.0-point gate
    summary = summary_of(runtime, outcome)
    assert summary["gate"]["verdict"] == "promoted"
    mmlu = next(row for row in summary["gate"]["gates"] if row["gate"] == "mmlu_max_drop")
    assert (mmlu["status"], mmlu["value"]) == ("not_measured", None)  # offline: neither pass nor fail
    # Cost: every job the run ran, billable seconds from DescribeTrainingJob × the stack's prices.
    cost = summary["cost"]
    names = {job.name for job in runtime.emulator.jobs() if outcome.run_id in job.name}
    assert {job["name"] for job in cost["jobs"]} == names
    for job in cost["jobs"]:
        described = runtime.client("sagemaker").describe_training_job(TrainingJobName=job["name"])
        assert job["billable_seconds"] == described["BillableTimeInSeconds"]
        assert job["instance_type"] == described["ResourceConfig"]["InstanceType"]
    priced = [job["usd"] for job in cost["jobs"] if job["usd"] is not None]
    assert cost["actual_usd"] == pytest.approx(sum(priced))
    assert cost["estimate_usd"] == detail["estimated_cost_usd"]
    assert detail["cost"] == cost
    assert detail["actual_cost_usd"] == cost["actual_usd"]
    assert outcome.ledger is not None
    assert (outcome.ledger["verdict"], float(outcome.ledger["actual_cost_usd"])) == (
        "promoted",
        pytest.approx(cost["actual_usd"]),
    )


def test_a_customer_only_run_is_regressed_with_its_deltas_and_failed_gate(runtime, data) -> None:
    outcome = drop(runtime, data["support"], UNMIXED)
    assert outcome.status == "SUCCEEDED"
    event = outcome_event(outcome)
    assert event["detail-type"] == "Run Regressed"
    detail = event["detail"]
    assert detail["verdict"] == "regressed"
    assert detail["evaluation"]["general"]["delta"] < -0.02
    assert len(detail["failed_gates"]) == 1
    assert detail["failed_gates"][0].startswith("general_max_drop: ")
    assert detail["failed_gates"][0].endswith("points (threshold 2.0)")
    assert outcome.ledger is not None
    assert (outcome.ledger["status"], outcome.ledger["verdict"]) == ("SUCCEEDED", "regressed")


def test_the_gate_threshold_comes_from_the_stack_and_the_run_config_overrides_it(data) -> None:
    with LocalRuntime(TEMPLATE, parameter_overrides={"GateGeneralMaxDrop": "100"}) as runtime:
        runtime.put_object(f"{runtime.curated_prefix}sft/general_sft.jsonl", data["general"].read_bytes())
        assert outcome_event(drop(runtime, data["support"], UNMIXED))["detail-type"] == "Run Succeeded"
        strict = {**UNMIXED, "gates": {"general_max_drop": 2.0}}
        assert outcome_event(drop(runtime, data["support"], strict))["detail-type"] == "Run Regressed"


def base_jobs(runtime: LocalRuntime, run_id: str) -> list[str]:
    return [job.name for job in runtime.emulator.jobs() if run_id in job.name and job.name.count("-base-")]


def test_the_second_run_on_the_same_eval_set_reuses_the_baseline(runtime, data) -> None:
    first = drop(runtime, data["support"])
    created = runtime.emulator.create_calls
    second = drop(runtime, data["support"])
    assert first.run_id != second.run_id
    assert sorted(base_jobs(runtime, first.run_id)) == sorted(
        f"forgeflow-{first.run_id}-eval-{suite}-base-1" for suite in ("mmlu", "genqa", "general")
    )
    assert base_jobs(runtime, second.run_id) == []  # no base eval job started
    # smoke, train and the three trained evaluations: nothing else was created.
    assert runtime.emulator.create_calls - created == 5
    one, two = summary_of(runtime, first), summary_of(runtime, second)
    for suite in ("mmlu", "gen_qa", "general"):
        assert two["baseline"][suite]["cached"] is True
        assert two["baseline"][suite]["job_name"] == one["baseline"][suite]["job_name"]
        assert two["suites"][suite]["base"] == one["suites"][suite]["base"]
    entry = orjson.loads(runtime.read(one["baseline"]["general"]["entry"].split("/", 3)[3]))
    assert entry["job_name"] == f"forgeflow-{first.run_id}-eval-general-base-1"
    assert entry["run_id"] == first.run_id


def test_the_stand_in_s_baseline_is_not_reused_after_the_curated_pool_changed(runtime, data) -> None:
    # The stand-in's base model memorises the curated pool: a new pool is a new base model, so its
    # cached scores (computed on the old pool) must not answer for it (a real Nova model's key ignores
    # the pool: tests/unit/evaluation/test_evaluation_baseline_cost.py).
    first = drop(runtime, data["support"])
    general = data["general"].read_bytes().splitlines(keepends=True)
    half = b"".join(general[: len(general) // 2])
    runtime.put_object(f"{runtime.curated_prefix}sft/general_sft.jsonl", half)
    second = drop(runtime, data["support"])
    assert sorted(base_jobs(runtime, second.run_id)) == sorted(
        f"forgeflow-{second.run_id}-eval-{suite}-base-1" for suite in ("mmlu", "genqa", "general")
    )
    one, two = summary_of(runtime, first), summary_of(runtime, second)
    assert two["baseline"]["general"]["cached"] is False
    assert two["baseline"]["general"]["entry"] != one["baseline"]["general"]["entry"]
    assert two["baseline"]["general"]["job_name"] == f"forgeflow-{second.run_id}-eval-general-base-1"


def test_a_failed_evaluation_job_fails_the_run_at_evaluate(data) -> None:
    with LocalRuntime(TEMPLATE, failures=FailureInjection(fail_stages=frozenset({"eval"}))) as runtime:
        runtime.put_object(f"{runtime.curated_prefix}sft/general_sft.jsonl", data["general"].read_bytes())
        outcome = drop(runtime, data["support"])
    assert outcome.status == "FAILED"
    event = outcome_event(outcome)
    assert (event["detail-type"], event["detail"]["stage"]) == ("Run Failed", "evaluate")
    assert "AlgorithmError" in event["detail"]["message"]


@pytest.mark.parametrize(
    ("fault", "reason"), [("malformed", "is not valid JSON"), ("missing", "holds no results_*.json")]
)
def test_a_bad_results_file_fails_the_run_at_evaluate_with_the_reason(data, fault: str, reason: str) -> None:
    with LocalRuntime(TEMPLATE, failures=FailureInjection(bad_results=fault)) as runtime:  # type: ignore[arg-type]
        runtime.put_object(f"{runtime.curated_prefix}sft/general_sft.jsonl", data["general"].read_bytes())
        outcome = drop(runtime, data["support"])
        assert not runtime.list_keys("baseline/")  # a bad results file never becomes a baseline
    assert outcome.status == "FAILED"
    event = outcome_event(outcome)
    assert (event["detail-type"], event["detail"]["stage"]) == ("Run Failed", "evaluate")
    assert event["detail"]["error_code"] == "EvaluationInvalid"
    assert reason in event["detail"]["message"]
    assert "output.tar.gz" in event["detail"]["message"]


def test_local_run_exits_3_when_regressed_and_0_when_the_run_config_allows_the_drop(
    data, tmp_path, capsys
) -> None:
    from forgeflow_tools.cli.main import main

    common = ["--template", str(TEMPLATE), "--outputs-dir", str(tmp_path / "runs"), "--output", "json"]
    code = main(["local", "run", str(data["support"]), "--no-curated", *common])
    document = orjson.loads(capsys.readouterr().out)
    assert code == 3, document
    assert document["status"] == "SUCCEEDED"
    assert [e["detail-type"] for e in document["events"]][-1] == "Run Regressed"
    config = tmp_path / "run.yaml"
    config.write_text("gates: {general_max_drop: 100.0}\n", encoding="utf-8")
    code = main(["local", "run", str(data["support"]), "--no-curated", "--config", str(config), *common])
    document = orjson.loads(capsys.readouterr().out)
    assert code == 0, document
    assert document["events"][-1]["detail"]["verdict"] == "promoted"
