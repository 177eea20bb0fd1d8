"""Serverless evaluation requests (JobType Evaluation, BenchmarkEvaluation for MMLU): golden files checked
against botocore's CreateTrainingJob model, and the refusals (gen_qa, a trained target without its model
package)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.validate import validate_parameters

from forgeflow.errors import DataError
from forgeflow.jobs.serverless_eval import build_serverless_evaluation_request
from forgeflow.jobs.validate import request_problems
from forgeflow.nova import NovaModel
from tests.unit.jobs.test_jobs_serverless import GOLDEN, SERVERLESS, SETTINGS, SHAPE

PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/forgeflow/1"


def _request(target: Any, **options: Any) -> dict[str, Any]:
    return build_serverless_evaluation_request(
        model=NovaModel.LITE_2,
        suite=options.pop("suite", "mmlu"),
        target=target,
        run_id="r-1",
        settings=SETTINGS,
        serverless=SERVERLESS,
        model_package_arn=options.pop("model_package_arn", PACKAGE_ARN),
        tags=[{"Key": "forgeflow:run-id", "Value": "r-1"}],
    )


@pytest.mark.parametrize("target", ["base", "trained"])
def test_serverless_benchmark_evaluation_golden(target: str) -> None:
    request = _request(target)
    validate_parameters(request, SHAPE)
    assert request_problems("CreateTrainingJob", request) == []
    name = f"serverless_eval_lite-2_mmlu_{target}.json"
    text = json.dumps(request, indent=2, sort_keys=True) + "\n"
    if os.environ.get("FORGEFLOW_UPDATE_GOLDEN"):
        (GOLDEN / name).write_text(text, encoding="utf-8")
    assert text == (GOLDEN / name).read_text(encoding="utf-8")


def test_serverless_evaluation_anatomy() -> None:
    base, trained = _request("base"), _request("trained")
    for request in (base, trained):
        config = request["ServerlessJobConfig"]
        assert (config["JobType"], config["EvaluationType"]) == ("Evaluation", "BenchmarkEvaluation")
        assert not {"Peft", "CustomizationTechnique"} & set(config)
        assert request["HyperParameters"] == {"task": "mmlu", "strategy": "zs_cot", "metric": "accuracy"}
        assert "InputDataConfig" not in request  # a built-in benchmark reads no channel (SDK)
    assert "ModelPackageConfig" not in base
    assert trained["ModelPackageConfig"]["SourceModelPackageArn"] == PACKAGE_ARN
    assert trained["TrainingJobName"] == "forgeflow-r-1-eval-mmlu-trained-1"


def test_gen_qa_has_no_serverless_benchmark() -> None:
    with pytest.raises(DataError, match="no serverless benchmark evaluation") as refused:
        _request("base", suite="gen_qa")
    assert refused.value.code == "SERVERLESS_UNSUPPORTED"
    assert refused.value.hint == "gen_qa runs as an evaluation recipe job"


def test_the_trained_target_needs_its_model_package() -> None:
    with pytest.raises(DataError, match="OutputModelPackageArn"):
        _request("trained", model_package_arn=None)


def test_the_golden_files_exist_for_both_targets() -> None:
    assert {p.name for p in Path(GOLDEN).glob("serverless_eval_*.json")} == {
        "serverless_eval_lite-2_mmlu_base.json",
        "serverless_eval_lite-2_mmlu_trained.json",
    }
