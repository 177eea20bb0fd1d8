"""End-to-end runs from an S3 drop (or an upstream request) on the embedded local runtime.

Each test asserts on the execution, the ledger row, the S3 outputs and the events read back from the
results bus, the way an operator would check a deployed stack.
"""

from __future__ import annotations

import io
import re
import tarfile
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
import yaml

from forgeflow_tools.local.runtime import LocalRuntime, RunOutcome
from forgeflow_tools.local.sagemaker import FailureInjection

pytestmark = pytest.mark.slow


def _drop(runtime: LocalRuntime, dataset: Path, sidecar: dict | None = None) -> RunOutcome:
    before = len(runtime.executions())
    runtime.drop_dataset(dataset, sidecar=yaml.safe_dump(sidecar).encode() if sidecar else None)
    executions = runtime.wait_for_executions(before + 1)
    assert len(executions) == before + 1, "the S3 drop started no execution"
    return runtime.outcome(executions[-1]["executionArn"])


def _stage_jobs(runtime: LocalRuntime, run_id: str) -> dict[str, list[str]]:
    jobs: dict[str, list[str]] = {}
    for job in runtime.emulator.jobs():
        if run_id in job.name:
            jobs.setdefault(job.stage, []).append(job.status)
    return jobs


def _untar(body: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return {
            member.name: archive.extractfile(member).read()
            for member in archive.getmembers()
            if member.isfile()
        }


def _texts(blocks: list[dict]) -> list[str]:
    return [block["text"] for block in blocks if "text" in block]


def _recomputed_f1(train: bytes, gen_qa: bytes) -> float:
    """Mean token F1 of a brute-force nearest neighbour (word-set Jaccard, earliest wins a tie) over
    the SFT training records, written independently of the emulator's index and metrics."""
    memory = []
    for line in train.splitlines():
        record = orjson.loads(line)
        prompt = _texts(record.get("system", []))
        for message in record["messages"]:
            if message["role"] == "user":
                prompt += _texts(message["content"])
        answer = _texts(record["messages"][-1]["content"])
        memory.append((set(re.findall(r"\w+", "\n".join(prompt).lower())), "\n".join(answer)))
    scores = []
    for line in gen_qa.splitlines():
        query = orjson.loads(line)
        asked = set(re.findall(r"\w+", f"{query.get('system', '')}\n{query['query']}".lower()))
        best = max(
            range(len(memory)), key=lambda i: (len(asked & memory[i][0]) / len(asked | memory[i][0]), -i)
        )
        predicted, reference = memory[best][1].split(), query["response"].split()
        common = sum((Counter(predicted) & Counter(reference)).values())
        scores.append(0.0 if common == 0 else 2 * common / (len(predicted) + len(reference)))
    assert scores, "the run wrote no gen_qa query"
    return sum(scores) / len(scores)


def test_happy_path_from_an_s3_drop(local_stack, example_data) -> None:
    runtime = local_stack()
    outcome = _drop(runtime, example_data["support"])

    assert outcome.status == "SUCCEEDED", outcome.execution
    assert outcome.detail_types() == ["Run Started", "Run Succeeded"]
    succeeded = outcome.events[-1]
    assert set(succeeded) == {
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"
    }  # fmt: skip
    assert succeeded["source"] == "forgeflow"
    assert succeeded["detail"]["run_id"] == outcome.run_id
    assert outcome.ledger is not None
    assert (outcome.ledger["status"], outcome.ledger["stage"]) == ("SUCCEEDED", "publish")
    # One smoke job, one full job, evaluation jobs: all completed, all named for this run.
    jobs = _stage_jobs(runtime, outcome.run_id)
    assert jobs["smoke"] == ["Completed"]
    assert jobs["train"] == ["Completed"]
    assert len(jobs["eval"]) >= 1
    assert set(jobs["eval"]) == {"Completed"}
    # The outputs a user looks for are in S3, where the events point.
    keys = runtime.list_keys(f"runs/{outcome.run_id}/")
    prefix = f"runs/{outcome.run_id}/"
    for expected in ("validation/report.json", "mix/train.jsonl", "mix/mix_report.json"):
        assert prefix + expected in keys
    # The pre-flight's cost estimate travels with the result.
    verdict = orjson.loads(runtime.read(f"{prefix}recipe/preflight.json"))
    assert succeeded["detail"]["estimated_cost_usd"] == verdict["estimate"]["total_usd"]
    assert succeeded["detail"]["estimated_cost_usd"] > 0
    summary_key = succeeded["detail"]["evaluation_summary_uri"].split("/", 3)[3]
    summary = orjson.loads(runtime.read(summary_key))
    # The evaluation is emulated and says so: MMLU cannot be measured offline, so it has no numbers.
    detail = succeeded["detail"]
    assert detail["emulated"] is True
    assert summary["emulated"] is True
    mmlu = detail["evaluation"]["mmlu"]
    assert (mmlu["base"], mmlu["trained"], mmlu["delta"]) == (None, None, None)
    assert "not measured" in mmlu["note"]
    assert "offline" in mmlu["note"]
    # gen_qa is measured for real on the retrieval stand-in: the base (empty memory) answers "" and scores
    # 0; the trained checkpoint's score is what a brute-force recomputation from the run's own files gives.
    gen_qa = detail["evaluation"]["gen_qa"]
    assert gen_qa["metric"] == "f1_score"
    assert gen_qa["base"] == 0.0
    expected = _recomputed_f1(
        runtime.read(f"{prefix}mix/train.jsonl"),
        runtime.read(f"{prefix}evaluation/inputs/gen_qa/gen_qa.jsonl"),
    )
    assert gen_qa["trained"] == pytest.approx(expected, abs=1e-6)
    assert gen_qa["trained"] > gen_qa["base"]
    assert gen_qa["delta"] == pytest.approx(expected, abs=1e-6)
    assert gen_qa["note"].startswith("emulated")
    train_output = runtime.read(
        f"{prefix}jobs/{succeeded['detail']['training_job_name']}/output/output.tar.gz"
    )
    manifest = orjson.loads(_untar(train_output)["manifest.json"])
    assert manifest["emulated"] is True


def test_invalid_dataset_fails_at_validate_with_a_report_and_no_job(local_stack, tmp_path) -> None:
    runtime = local_stack()
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b'{"messages": [{"role": "assistant", "content": []}]}\nnot json\n')
    outcome = _drop(runtime, broken)

    assert outcome.status == "FAILED"
    assert outcome.detail_types() == ["Run Started", "Run Failed"]
    failed = outcome.events[-1]["detail"]
    assert failed["stage"] == "validate"
    report = orjson.loads(runtime.read(failed["report_uri"].split("/", 3)[3]))
    assert report["valid"] is False
    assert report["error_count"] >= 2
    assert runtime.emulator.jobs() == []
    assert outcome.ledger is not None
    assert (outcome.ledger["status"], outcome.ledger["stage"]) == ("FAILED", "validate")


def test_unsatisfiable_mix_plan_fails_at_mix_and_starts_no_job(local_stack, example_data) -> None:
    runtime = local_stack()
    dataset = example_data["support"]
    customer = f"s3://{runtime.bucket}/incoming/{dataset.name}"
    general = f"s3://{runtime.bucket}/{runtime.curated_prefix}sft/"
    plan = {
        "mix": {
            "total": 100_000,
            "sources": [
                {"name": "customer", "role": "customer", "uri": customer, "weight": 0.5},
                {"name": "general", "uri": general, "weight": 0.5},
            ],
        }
    }
    outcome = _drop(runtime, dataset, sidecar=plan)

    assert outcome.status == "FAILED"
    failed = outcome.events[-1]["detail"]
    assert (outcome.events[-1]["detail-type"], failed["stage"]) == ("Run Failed", "mix")
    assert "100000" in failed["message"] or "100,000" in failed["message"]
    assert runtime.emulator.jobs() == []
    assert not runtime.list_keys(f"runs/{outcome.run_id}/mix/train.jsonl")


def test_recipe_over_a_documented_limit_starts_no_job(local_stack, example_data) -> None:
    runtime = local_stack()
    overrides = {"training_config": {"global_batch_size": 4096}}
    outcome = _drop(runtime, example_data["support"], sidecar={"overrides": overrides})

    assert outcome.status == "FAILED"
    failed = outcome.events[-1]["detail"]
    assert failed["stage"] == "recipe"
    assert "global_batch_size" in failed["message"]
    assert runtime.emulator.jobs() == []


def test_a_run_above_max_concurrent_runs_fails_at_register_with_one_run_failed(
    local_stack, example_data
) -> None:
    from forgeflow.aws.ledger import DynamoLedger
    from forgeflow.ports import LedgerRow

    runtime = local_stack(parameter_overrides={"MaxConcurrentRuns": "1"})
    busy = LedgerRow(run_id="busy-000000000000", status="RUNNING", execution_arn="arn:busy")
    assert DynamoLedger(runtime.client("dynamodb"), runtime.ledger_table).register(busy, max_running=1)
    outcome = _drop(runtime, example_data["support"])

    assert outcome.status == "FAILED"
    assert outcome.detail_types() == ["Run Failed"]
    failed = outcome.events[-1]["detail"]
    assert (failed["stage"], failed["error_code"]) == ("register", "RunsAtCapacity")
    assert "MaxConcurrentRuns = 1" in failed["message"]
    assert runtime.emulator.jobs() == []
    assert [row["run_id"] for row in runtime.ledger_rows()] == [busy.run_id]


def test_smoke_job_failure_never_creates_the_full_job(local_stack, example_data) -> None:
    runtime = local_stack(FailureInjection(fail_stages=frozenset({"smoke"})))
    outcome = _drop(runtime, example_data["support"])

    assert outcome.status == "FAILED"
    failed = outcome.events[-1]["detail"]
    assert failed["stage"] == "smoke"
    assert "AlgorithmError" in failed["message"]
    assert _stage_jobs(runtime, outcome.run_id) == {"smoke": ["Failed"]}
    # A run that fails after the pre-flight still says what it was estimated to cost.
    verdict = orjson.loads(runtime.read(f"runs/{outcome.run_id}/recipe/preflight.json"))
    assert failed["estimated_cost_usd"] == verdict["estimate"]["total_usd"]


def test_full_job_failure_is_reported_and_not_evaluated(local_stack, example_data) -> None:
    runtime = local_stack(FailureInjection(fail_stages=frozenset({"train"})))
    outcome = _drop(runtime, example_data["support"])

    assert outcome.status == "FAILED"
    assert outcome.events[-1]["detail"]["stage"] == "train"
    assert _stage_jobs(runtime, outcome.run_id) == {"smoke": ["Completed"], "train": ["Failed"]}
    assert outcome.ledger is not None
    assert outcome.ledger["status"] == "FAILED"


@pytest.mark.filterwarnings(r"ignore:Exception\(ThrottlingException\)")
def test_throttled_create_training_job_is_retried(local_stack, example_data) -> None:
    # The SageMaker task retries create-time throttling itself (the job was never created: same name).
    runtime = local_stack(FailureInjection(throttle_creates=5))
    outcome = _drop(runtime, example_data["support"])

    assert outcome.status == "SUCCEEDED", outcome.execution
    assert len(runtime.emulator.rejected_creates) == 5
    jobs = _stage_jobs(runtime, outcome.run_id)
    assert (jobs["smoke"], jobs["train"]) == (["Completed"], ["Completed"])
    history = runtime.history(outcome.execution_arn)
    throttled = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    assert throttled == ["SageMaker.ThrottlingException"] * 5


# Issue #15: every duplicate delivery left a SUCCEEDED "DuplicateIgnored" execution behind (nine of ten).
def test_ten_deliveries_of_one_upload_make_one_execution_named_after_the_run(
    local_stack, example_data
) -> None:
    runtime = local_stack()
    runtime.drop_dataset(example_data["support"])
    (first,) = runtime.wait_for_executions(1)
    started = orjson.loads(
        runtime.client("stepfunctions").describe_execution(executionArn=first["executionArn"])["input"]
    )
    for _ in range(9):
        runtime.deliver_event(started["event"])
    outcome = runtime.outcome(first["executionArn"])

    assert outcome.status == "SUCCEEDED"
    assert len(runtime.executions()) == 1
    run_id = outcome.run_id
    assert first["name"] == run_id
    # The console's input and output tabs say which run this is.
    assert started["run"]["run_id"] == run_id
    assert started["run"]["dataset_uri"].startswith(f"s3://{runtime.bucket}/incoming/")
    assert started["run"]["dataset_version_id"]
    assert started["run"]["outputs_prefix"] == f"s3://{runtime.bucket}/runs/{run_id}/"
    finished = orjson.loads(outcome.execution["output"])
    output = finished["run"]
    assert (output["run_id"], output["model"], output["technique"]) == (run_id, "lite", "sft-lora")
    assert output["dataset_version_id"] == started["run"]["dataset_version_id"]
    assert output["outputs_prefix"] == started["run"]["outputs_prefix"]
    # The verdict CollectEvaluation computed (forgeflow.evaluation.gate) is in the output tab too.
    summary = orjson.loads(runtime.read(f"runs/{run_id}/evaluation/summary.json"))
    assert finished["evaluation"]["result"]["verdict"] == summary["gate"]["verdict"]
    assert summary["gate"]["verdict"] in {"promoted", "regressed"}
    jobs = _stage_jobs(runtime, run_id)
    assert (jobs["smoke"], jobs["train"]) == (["Completed"], ["Completed"])
    all_events = [e for e in runtime.results_events() if e["detail"].get("run_id") == run_id]
    assert [e["detail-type"] for e in all_events].count("Run Started") == 1
    assert [e["detail-type"] for e in all_events].count("Run Succeeded") == 1
    assert [r["run_id"] for r in runtime.ledger_rows()] == [run_id]
    counter = runtime.client("dynamodb").get_item(
        TableName=runtime.ledger_table, Key={"run_id": {"S": "#running"}}, ConsistentRead=True
    )["Item"]
    assert counter["running"] == {"N": "0"}
    assert runtime.registry.logs(runtime.stack.ref("LaunchRunFunction")).count("duplicate delivery") == 9


def test_upstream_fine_tune_request(local_stack, example_data) -> None:
    runtime = local_stack()
    key = "datasets/support.jsonl"
    runtime.put_object(key, example_data["support"].read_bytes())
    runtime.request_fine_tune(
        {"schema_version": "1", "request_id": "ticket-4711", "dataset_uri": f"s3://{runtime.bucket}/{key}"}
    )
    (execution,) = runtime.wait_for_executions(1)
    outcome = runtime.outcome(execution["executionArn"])

    assert outcome.status == "SUCCEEDED", outcome.execution
    started = orjson.loads(outcome.execution["input"])["event"]
    assert (started["source"], started["detail-type"]) == ("forgeflow", "FineTune Requested")
    assert all(event["detail"]["request_id"] == "ticket-4711" for event in outcome.events)
    assert outcome.ledger is not None
    assert outcome.ledger["request_id"] == "ticket-4711"


def test_execution_aborted_mid_training_stops_the_job(local_stack, example_data) -> None:
    # Jobs advance one status per 60 s: the full job is still running when the execution is stopped.
    runtime = local_stack(seconds_per_status=60)
    runtime.drop_dataset(example_data["support"])
    (execution,) = runtime.wait_for_executions(1)
    deadline = time.monotonic() + 60
    while not runtime.emulator.jobs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [job.status for job in runtime.emulator.jobs()] == ["InProgress"]

    runtime.stop_execution(execution["executionArn"])
    outcome = runtime.outcome(execution["executionArn"])

    assert outcome.status == "ABORTED"
    (job,) = runtime.emulator.jobs()
    assert job.stop_requested, "the running job was not stopped"
    assert outcome.ledger is not None
    assert outcome.ledger["status"] == "FAILED"
    assert [e["detail-type"] for e in outcome.events].count("Run Failed") == 1
    assert runtime.deliveries.errors == []
