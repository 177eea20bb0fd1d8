"""Issue #16: a serverless run's MMLU is evaluated by serverless BenchmarkEvaluation jobs of the base model
and of the trained model package (DescribeTrainingJob OutputModelPackageArn); its other suites keep their
evaluation recipes; CollectEvaluation reads a serverless job's uncompressed results where the SDK does
(`<out>/<job>/output/output/**/results_*.json`) into the same suite metrics, and refuses bad ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from forgeflow.pipeline.errors import EvaluationInvalid, RecipeInvalid
from forgeflow.ports import JobState
from tests.unit.pipeline.test_pipeline_serverless import BASE_ARN, GROUP_ARN, PLAN, _rendered

PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/forgeflow-test/3"
CHECKPOINT = "s3://customer-escrow-123456789012-smtj-x/run"
MANIFEST = json.dumps({"checkpoint_s3_bucket": CHECKPOINT}).encode()
MMLU_ONLY = PLAN.format(compute="serverless") + "eval_suites: [mmlu]\n"


@pytest.fixture
def serverless_stack(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MODEL_PACKAGE_GROUP_ARN", GROUP_ARN)
    monkeypatch.setenv("BASE_MODEL_ARN_LITE_2", BASE_ARN)
    monkeypatch.setenv("ACCEPT_BASE_MODEL_EULA", "true")
    return stack


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> dict[str, JobState]:
    """DescribeTrainingJob answers by job name (moto cannot hold a serverless job)."""
    from forgeflow.aws.sagemaker import SageMakerTrainingJobs

    known: dict[str, JobState] = {}

    def describe(self: Any, name: str) -> JobState:
        return known[name]

    monkeypatch.setattr(SageMakerTrainingJobs, "describe", describe)
    return known


def _completed(name: str, output: str, *, serverless: bool) -> JobState:
    return JobState(
        name=name,
        status="Completed",
        secondary_status="Completed",
        failure_reason="",
        model_artifacts=None,
        output_uri=output,
        created_at=None,
        serverless=serverless,
    )


def _trained(
    stack: Any, invoke: Any, tmp_path: Path, jobs: dict[str, JobState], plan: str, package: str | None
) -> tuple[str, dict[str, Any]]:
    """A serverless run up to its completed training job (the model package it registered, or none)."""
    run_id, state = _rendered(stack, invoke, tmp_path, plan)
    training = invoke("build_training_job", {**state, "stage": "train"})
    output = f"s3://{stack_bucket()}/runs/{run_id}/jobs/"
    jobs[training["job_name"]] = _completed(training["job_name"], output, serverless=True)
    # A serverless job's manifest is not archived: <out>/<job>/output/output/manifest.json (SDK,
    # sagemaker-core/src/sagemaker/core/training/utils.py build_nova_manifest_s3_uri).
    stack.put(f"runs/{run_id}/jobs/{training['job_name']}/output/output/manifest.json", MANIFEST)
    outcome = {"job_name": training["job_name"], "status": "Completed", "model_package_arn": package}
    return run_id, {**state, "training": {**training, "job": outcome}}


def stack_bucket() -> str:
    from tests.unit.pipeline.test_pipeline_handlers import BUCKET

    return BUCKET


def test_a_serverless_run_evaluates_mmlu_serverless_and_its_other_suites_by_recipe(
    serverless_stack: Any, invoke: Any, tmp_path: Path, jobs: dict[str, JobState]
) -> None:
    from forgeflow.pipeline.steps.serverless_eval import (
        SERVERLESS_EVAL_FIELDS,
        SERVERLESS_EVAL_PACKAGE_FIELDS,
    )

    run_id, state = _trained(
        serverless_stack, invoke, tmp_path, jobs, PLAN.format(compute="serverless"), PACKAGE
    )
    built = invoke("build_evaluation_jobs", state)
    by_suite = {(job["suite"], job["target"]): job["request"] for job in built["jobs"]}
    base, trained = by_suite[("mmlu", "base")], by_suite[("mmlu", "trained")]
    assert set(base) == SERVERLESS_EVAL_FIELDS
    assert set(trained) == SERVERLESS_EVAL_PACKAGE_FIELDS
    for request in (base, trained):
        config = request["ServerlessJobConfig"]
        assert (config["JobType"], config["EvaluationType"], config["BaseModelArn"]) == (
            "Evaluation",
            "BenchmarkEvaluation",
            BASE_ARN,
        )
    assert trained["ModelPackageConfig"] == {
        "ModelPackageGroupArn": GROUP_ARN,
        "SourceModelPackageArn": PACKAGE,
    }
    assert trained["TrainingJobName"] == f"forgeflow-{run_id}-eval-mmlu-trained-1"
    others = {suite for (suite, _), request in by_suite.items() if "ServerlessJobConfig" not in request}
    assert others == {suite for suite, _ in by_suite} - {"mmlu"}
    assert others  # gen_qa / general keep their evaluation recipes
    assert all("AlgorithmSpecification" in by_suite[(suite, "trained")] for suite in others)
    # ... on the checkpoint the serverless job's uncompressed manifest names.
    assert all(
        by_suite[(suite, "trained")]["HyperParameters"]["base_model_location"] == CHECKPOINT
        for suite in others
    )
    # The trained model is recorded where the run is.
    assert (serverless_stack.ledger(run_id) or {})["model_package_arn"] == PACKAGE


def test_the_trained_serverless_evaluation_needs_the_model_package(
    serverless_stack: Any, invoke: Any, tmp_path: Path, jobs: dict[str, JobState]
) -> None:
    _, state = _trained(serverless_stack, invoke, tmp_path, jobs, MMLU_ONLY, None)
    with pytest.raises(RecipeInvalid, match="OutputModelPackageArn"):
        invoke("build_evaluation_jobs", state)


def _collect(
    stack: Any, invoke: Any, tmp_path: Path, jobs: dict[str, JobState], results: dict[str, bytes | None]
) -> dict[str, Any]:
    """Build the MMLU-only serverless evaluation, "run" its jobs with these results files, collect."""
    run_id, state = _trained(stack, invoke, tmp_path, jobs, MMLU_ONLY, PACKAGE)
    built = invoke("build_evaluation_jobs", state)
    output = f"s3://{stack_bucket()}/runs/{run_id}/jobs/"
    for job in built["jobs"]:
        name = job["job_name"]
        jobs[name] = _completed(name, output, serverless=True)
        stack.put(f"runs/{run_id}/jobs/{name}/output/output/EMULATED.txt", b"emulated\n")
        document = results[job["target"]]
        if document is not None:
            key = f"runs/{run_id}/jobs/{name}/output/output/None/eval_results/results_20261201_000000.json"
            stack.put(key, document)
    done = [{"suite": j["suite"], "target": j["target"], "job_name": j["job_name"]} for j in built["jobs"]]
    evaluation = {**built, "done": done}
    return invoke("collect_evaluation", {**state, "evaluation": evaluation})


def _accuracy(value: float) -> bytes:
    return json.dumps({"results": {"all": {"accuracy": value, "accuracy_stderr": 0.01}}}).encode()


def test_serverless_results_are_parsed_into_the_same_suite_metrics(
    serverless_stack: Any, invoke: Any, tmp_path: Path, jobs: dict[str, JobState]
) -> None:
    result = _collect(
        serverless_stack, invoke, tmp_path, jobs, {"base": _accuracy(0.75), "trained": _accuracy(0.74)}
    )
    assert result["suites"]["mmlu"] == {
        "metric": "accuracy",
        "base": 0.75,
        "trained": 0.74,
        "delta": pytest.approx(-0.01),
        "note": None,
    }
    summary = json.loads(serverless_stack.get(result["summary_uri"].split("/", 3)[3]))
    assert summary["trained_model"]["model_package_arn"] == PACKAGE
    report = json.loads(
        serverless_stack.get(
            result["summary_uri"].split("/", 3)[3].replace("evaluation/summary.json", "report/report.json")
        )
    )
    assert report["other"]["trained_model"]["model_package_arn"] == PACKAGE


@pytest.mark.parametrize(
    ("trained", "error", "message"),
    [
        (b'{"results": {"all": {"accuracy": 0.7', EvaluationInvalid, "is not valid JSON"),
        (b'{"results": {"all": {}}}', EvaluationInvalid, "holds no metrics"),
        (None, EvaluationInvalid, "holds no results_*.json"),
    ],
    ids=["malformed", "no-metrics", "missing"],
)
def test_bad_serverless_results_fail_the_evaluation_with_the_reason(
    serverless_stack: Any,
    invoke: Any,
    tmp_path: Path,
    jobs: dict[str, JobState],
    trained: bytes | None,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as failed:
        _collect(serverless_stack, invoke, tmp_path, jobs, {"base": _accuracy(0.75), "trained": trained})
    assert message in str(failed.value)
    assert "eval-mmlu-trained-1/output/output/" in str(failed.value)
