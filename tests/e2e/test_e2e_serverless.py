"""The two ways to keep general ability, side by side on the real template (issue #16; docs/mixing.md
"Which path should I use"): `compute: serverless` with a Nova-managed category (ForgeFlow blends the
customer side, Amazon adds the Nova share at training time) and `compute: serverful` with the user's own
curated data blended into train.jsonl. Both through `forgeflow local run --example --config`."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from forgeflow_tools.cli.main import main as cli

pytestmark = pytest.mark.slow

# These runs compare the two compute paths, not the forgetting gate (tests/e2e/test_e2e_evaluation_gate.py):
# the gate is opened so that the stand-in's general-suite drop does not end them regressed.
SERVERLESS = """\
model: lite-2
gates: {general_max_drop: 100.0}
compute: serverless
poll_seconds: 0
mix:
  sources:
    - {name: customer, role: customer, weight: 0.7}
    - {name: code, uri: "nova:code", weight: 0.3}
"""
SERVERFUL = """\
model: lite-2
gates: {general_max_drop: 100.0}
compute: serverful
mix:
  sources:
    - {name: customer, role: customer, weight: 0.7}
    - {name: general, uri: "s3://{bucket}/curated/sft/", weight: 0.3}
"""


def _local_run(config: str, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "run.yaml"
    path.write_text(config)
    out = io.StringIO()
    argv = ["local", "run", "--example", "--config", str(path), "--output", "json"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli([*argv, "--outputs-dir", str(tmp_path / "outputs")])
    result: dict[str, Any] = json.loads(out.getvalue())
    assert code == 0, result
    return result


def _mix_report(result: dict[str, Any]) -> dict[str, Any]:
    (report,) = Path(result["outputs_dir"]).rglob("mix/mix_report.json")
    loaded: dict[str, Any] = json.loads(report.read_text())
    return loaded


def test_serverless_with_a_nova_category_runs_to_a_results_event(tmp_path: Path) -> None:
    result = _local_run(SERVERLESS, tmp_path)
    assert result["status"] == "SUCCEEDED"
    detail = result["events"][-1]["detail"]
    assert result["events"][-1]["detail-type"] == "Run Succeeded"
    assert detail["emulated"] is True
    assert detail["smoke_job_name"] is None
    assert "smoke stage is skipped" in detail["smoke_skipped"]
    assert detail["estimated_cost_usd"] is None
    forge = _mix_report(result)["forge"]
    assert forge["hyperparameters"] == {"customer_data_percent": "70", "nova_code_percent": "100"}
    assert forge["parts"]["mixed_by_amazon_at_training_time"][0]["share"] == 0.3
    _assert_serverless_evaluation(result, detail)


def _assert_serverless_evaluation(result: dict[str, Any], detail: dict[str, Any]) -> None:
    """Issue #16: MMLU ran as serverless BenchmarkEvaluation jobs of the base model and of the trained
    model package, and was read from their emulated results where the SDK reads them."""
    outputs = Path(result["outputs_dir"])
    run_id = detail["run_id"]
    record = json.loads((outputs / "run.json").read_text())
    jobs = {job["name"]: job["status"] for job in record["training_jobs"]}
    mmlu = {f"forgeflow-{run_id}-eval-mmlu-{target}-1" for target in ("base", "trained")}
    assert {name: jobs[name] for name in mmlu} == dict.fromkeys(mmlu, "Completed")
    # The trained model: the model package the serverless training job registered, in the event, the
    # ledger, the summary and the report.
    package = detail["model_package_arn"]
    assert package.startswith("arn:aws:sagemaker:us-east-1:123456789012:model-package/forgeflow-emulated/")
    assert record["ledger"]["model_package_arn"] == package
    (summary_file,) = outputs.rglob("evaluation/summary.json")
    summary = json.loads(summary_file.read_text())
    assert summary["trained_model"] == {
        "training_job_name": detail["training_job_name"],
        "model_package_arn": package,
    }
    (report_file,) = outputs.rglob("report/report.json")
    assert json.loads(report_file.read_text())["other"]["trained_model"]["model_package_arn"] == package
    for name in mmlu:
        (results,) = outputs.rglob(f"jobs/{name}/output/output/None/eval_results/results_*.json")
        document = json.loads(results.read_text())
        assert document["emulated"] is True
        # MMLU as measured by the stand-in: it has no benchmark data offline, so no number, and why.
        assert document["not_measured"] in summary["suites"]["mmlu"]["note"]
    assert summary["suites"]["mmlu"]["base"] is None
    assert summary["jobs"]["mmlu"] == {
        "base": f"forgeflow-{run_id}-eval-mmlu-base-1",
        "trained": f"forgeflow-{run_id}-eval-mmlu-trained-1",
    }
    # The other suites keep their evaluation recipes (instance-based jobs with an output.tar.gz).
    assert {suite for suite in summary["jobs"] if suite != "mmlu"}
    for suite, targets in summary["jobs"].items():
        if suite != "mmlu":
            assert all(list(outputs.rglob(f"jobs/{name}/output/output.tar.gz")) for name in targets.values())


def test_serverful_with_own_curated_data_blends_it_into_train_jsonl(tmp_path: Path) -> None:
    # The local stack's bucket name is fixed by the template's naming (forgeflow-local-databucket-<account>).
    config = SERVERFUL.replace("{bucket}", "forgeflow-local-databucket-123456789012")
    result = _local_run(config, tmp_path)
    assert result["status"] == "SUCCEEDED"
    detail = result["events"][-1]["detail"]
    assert detail["smoke_job_name"] is not None
    assert detail["smoke_skipped"] is None
    assert detail["estimated_cost_usd"] is not None
    assert detail["model_package_arn"] is None  # a serverful job registers no model package
    report = _mix_report(result)
    assert report["forge"] is None
    shares = {source["name"]: source["mix_share"] for source in report["sources"]}
    assert shares == {"customer": 0.7, "general": 0.3}
