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
