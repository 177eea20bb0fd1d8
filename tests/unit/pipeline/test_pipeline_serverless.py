"""`compute: serverless` in a run request: Nova-managed categories pass Mix (ForgeFlow blends the
customer-side sources, Amazon adds the Nova share at training time), serverful refuses them, and
pre-flight refuses what a serverless job cannot run, with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from forgeflow.pipeline.errors import MixPlanInvalid, PreflightRefused, RequestInvalid
from forgeflow_tools.examples import write_examples

PLAN = """
model: lite-2
compute: {compute}
mix:
  validation_fraction: 0.1
  sources:
    - {{name: customer, role: customer, weight: 0.6}}
    - {{name: own, uri: "s3://forgeflow-test-data/curated/sft/", weight: 0.2}}
    - {{name: code, uri: "nova:code", weight: 0.2}}
"""


def _run(stack: Any, invoke: Any, tmp_path: Path, sidecar: str) -> tuple[str, dict[str, Any]]:
    from tests.unit.pipeline.test_pipeline_handlers import load_event, upload_examples

    upload_examples(stack, tmp_path)
    stack.put("incoming/support_sft.forgeflow.yaml", sidecar.encode())
    uploaded = stack.put("incoming/support_sft.jsonl", write_examples(tmp_path)["support"].read_bytes())
    trigger = load_event("register_run")
    trigger["event"]["detail"]["object"].update(
        {"version-id": uploaded["VersionId"], "etag": uploaded["ETag"].strip('"')}
    )
    run_id = str(invoke("register_run", trigger)["run_id"])
    return run_id, invoke("validate_dataset", load_event("validate_dataset", run_id))


def test_serverless_mixes_customer_side_sources_and_hands_the_nova_share_to_forge(
    stack: Any, invoke: Any, tmp_path: Path
) -> None:
    from tests.unit.pipeline.test_pipeline_handlers import BUCKET, load_event

    run_id, validation = _run(
        stack, invoke, tmp_path, PLAN.format(compute="serverless").replace("forgeflow-test-data", BUCKET)
    )
    mix = invoke("mix_data", {**load_event("mix_data", run_id), "validation": validation})
    report = orjson.loads(stack.get(f"runs/{run_id}/mix/mix_report.json"))
    assert report["compute"] == "serverless"
    assert [s["name"] for s in report["sources"]] == ["customer", "own"]  # physically blended
    assert report["forge"]["hyperparameters"] == {"customer_data_percent": "80", "nova_code_percent": "100"}
    assert "Amazon" in report["forge"]["mixed_by"]
    # Both parts of the training mix, each with who mixes it.
    assert report["forge"]["parts"] == {
        "blended_by_forgeflow": [{"source": "customer", "share": 0.6}, {"source": "own", "share": 0.2}],
        "mixed_by_amazon_at_training_time": [
            {"source": "code", "share": 0.2, "hyperparameter": "nova_code_percent"}
        ],
    }
    event = {**load_event("render_recipe", run_id), "validation": validation, "mix": mix}
    # The test stack configures no base-model ARN or model package group: pre-flight says which to set.
    with pytest.raises(PreflightRefused) as refused:
        invoke("render_recipe", event)
    assert "BaseModelArnLite2" in str(refused.value)
    assert "ModelPackageGroupArn" in str(refused.value)


def test_serverful_refuses_nova_categories_at_mix(stack: Any, invoke: Any, tmp_path: Path) -> None:
    from tests.unit.pipeline.test_pipeline_handlers import BUCKET, load_event

    run_id, validation = _run(
        stack, invoke, tmp_path, PLAN.format(compute="serverful").replace("forgeflow-test-data", BUCKET)
    )
    with pytest.raises(MixPlanInvalid, match="serverless"):
        invoke("mix_data", {**load_event("mix_data", run_id), "validation": validation})


def test_compute_hyperpod_is_not_a_pipeline_target(stack: Any, invoke: Any, tmp_path: Path) -> None:
    from tests.unit.pipeline.test_pipeline_handlers import load_event

    stack.put("incoming/support_sft.forgeflow.yaml", b"compute: hyperpod\n")
    uploaded = stack.put("incoming/support_sft.jsonl", write_examples(tmp_path)["support"].read_bytes())
    trigger = load_event("register_run")
    trigger["event"]["detail"]["object"].update(
        {"version-id": uploaded["VersionId"], "etag": uploaded["ETag"].strip('"')}
    )
    with pytest.raises(RequestInvalid, match="serverful or serverless"):
        invoke("register_run", trigger)


GROUP_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/forgeflow-test"
BASE_ARN = (
    "arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub/Model/nova-textgeneration-lite-v2/1.0.0"
)


@pytest.fixture
def serverless_stack(stack: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MODEL_PACKAGE_GROUP_ARN", GROUP_ARN)
    monkeypatch.setenv("BASE_MODEL_ARN_LITE_2", BASE_ARN)
    monkeypatch.setenv("ACCEPT_BASE_MODEL_EULA", "true")
    return stack


def _rendered(stack: Any, invoke: Any, tmp_path: Path, plan: str) -> tuple[str, dict[str, Any]]:
    from tests.unit.pipeline.test_pipeline_handlers import BUCKET, load_event

    run_id, validation = _run(stack, invoke, tmp_path, plan.replace("forgeflow-test-data", BUCKET))
    mix = invoke("mix_data", {**load_event("mix_data", run_id), "validation": validation})
    event = {**load_event("render_recipe", run_id), "validation": validation, "mix": mix}
    return run_id, {**event, "recipe": invoke("render_recipe", event)}


def test_serverless_preflight_passes_with_cost_unknown_and_skips_the_smoke_stage(
    serverless_stack: Any, invoke: Any, tmp_path: Path
) -> None:
    run_id, state = _rendered(serverless_stack, invoke, tmp_path, PLAN.format(compute="serverless"))
    recipe = state["recipe"]
    assert recipe["estimate_usd"] is None
    assert "no documented smallest run" in recipe["smoke_skipped"]
    verdict = orjson.loads(serverless_stack.get(f"runs/{run_id}/recipe/preflight.json"))
    assert verdict["ok"] is True
    assert verdict["estimate"]["status"] == "unknown"
    assert verdict["estimate"]["total_usd"] is None
    # SageMaker sizes a serverless job: no instance or replica keys are reported or checked.
    assert {"instance_type", "replicas"}.isdisjoint(verdict["recipe"])
    assert verdict["recipe"]["sequence_length"].endswith("K")


def test_serverless_full_job_is_a_serverless_request_with_the_nova_share_as_hyperparameters(
    serverless_stack: Any, invoke: Any, tmp_path: Path
) -> None:
    from forgeflow.jobs.validate import validate_request
    from forgeflow.pipeline.steps.serverless import SERVERLESS_FIELDS

    _, state = _rendered(serverless_stack, invoke, tmp_path, PLAN.format(compute="serverless"))
    job = invoke("build_training_job", {**state, "stage": "train"})
    request = job["request"]
    assert set(request) == SERVERLESS_FIELDS
    assert request["ServerlessJobConfig"]["BaseModelArn"] == BASE_ARN
    assert request["ServerlessJobConfig"]["JobType"] == "FineTuning"
    assert request["ModelPackageConfig"] == {"ModelPackageGroupArn": GROUP_ARN}
    assert request["HyperParameters"] == {"customer_data_percent": "80", "nova_code_percent": "100"}
    assert request["TrainingJobName"] == job["job_name"]
    validate_request("CreateTrainingJob", request)


def test_with_a_tracking_server_the_serverless_request_carries_mlflow_config(
    serverless_stack: Any, invoke: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forgeflow.jobs.validate import validate_request
    from forgeflow.pipeline.steps.serverless import TRACKED_SERVERLESS_FIELDS

    arn = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/forgeflow"
    monkeypatch.setenv("MLFLOW_TRACKING_ARN", arn)
    _, state = _rendered(serverless_stack, invoke, tmp_path, PLAN.format(compute="serverless"))
    job = invoke("build_training_job", {**state, "stage": "train"})
    request = job["request"]
    assert set(request) == TRACKED_SERVERLESS_FIELDS  # TrackedServerlessTrainingJob passes every member
    assert request["MlflowConfig"] == {
        "MlflowResourceArn": arn,
        "MlflowExperimentName": "forgeflow",
        "MlflowRunName": job["job_name"],
    }
    validate_request("CreateTrainingJob", request)


def test_serverless_refuses_smoke_only_and_an_unaccepted_eula(
    serverless_stack: Any, invoke: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCEPT_BASE_MODEL_EULA", "false")
    plan = PLAN.format(compute="serverless") + "smoke_only: true\n"
    with pytest.raises(PreflightRefused) as refused:
        _rendered(serverless_stack, invoke, tmp_path, plan)
    assert "AcceptBaseModelEula" in str(refused.value)
    assert "smoke_only cannot run on serverless" in str(refused.value)


def test_serverless_refuses_a_poll_window_shorter_than_the_job_may_run(
    serverless_stack: Any, invoke: Any, tmp_path: Path
) -> None:
    # 2000 polls × 10 s = 20,000 s < 1 day: the loop would call the job overdue while it still trains.
    plan = PLAN.format(compute="serverless") + "poll_seconds: 10\nmax_runtime_seconds: 86400\n"
    with pytest.raises(PreflightRefused, match="set poll_seconds to at least 44"):
        _rendered(serverless_stack, invoke, tmp_path, plan)
