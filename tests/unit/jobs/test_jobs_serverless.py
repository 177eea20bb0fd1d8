"""Serverless CreateTrainingJob requests: golden files (LoRA, full; with and without Forge mixing), the
service model's verdict on each, and a refusal per documented restriction."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.session import get_session
from botocore.validate import validate_parameters

from forgeflow.errors import DataError
from forgeflow.jobs.requests import JobSettings
from forgeflow.jobs.serverless import (
    FORGE_SMTJ_SOURCE,
    ServerlessSettings,
    build_serverless_training_request,
    refusals,
    sequence_length,
)
from forgeflow.jobs.validate import request_problems
from forgeflow.mixing.forge import Compute, check_compute, forge_data_mixing
from forgeflow.mixing.plan import parse_plan
from forgeflow.nova import Method, NovaModel, Technique
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.render import render_recipe

GOLDEN = Path(__file__).parent / "golden"
SETTINGS = JobSettings(
    role_arn="arn:aws:iam::123456789012:role/forgeflow-sagemaker",
    output_uri="s3://forgeflow-data/runs/r-1/jobs/",
)
# A hub-content ARN of the shape botocore's ServerlessJobBaseModelArn pattern requires (illustrative name).
BASE_ARN = "arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub/Model/nova-textgeneration-lite-v2"
GROUP_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/forgeflow"
SERVERLESS = ServerlessSettings(
    model_package_group_arn=GROUP_ARN, base_model_arns={NovaModel.LITE_2: BASE_ARN}, accept_eula=True
)
SHAPE = get_session().get_service_model("sagemaker").operation_model("CreateTrainingJob").input_shape
FORGE_PLAN = {
    "seed": 7,
    "sources": [
        {"name": "customer", "role": "customer", "uri": "s3://b/incoming/support.jsonl", "weight": 0.6},
        {"name": "own", "uri": "s3://b/curated/sft/", "weight": 0.1},
        {"name": "code", "uri": "nova:code", "weight": 0.1},
        {"name": "reasoning", "uri": "nova:reasoning-instruction-following", "weight": 0.2},
    ],
}


def _request(technique: Technique, forge: bool) -> dict[str, Any]:
    rendered = render_recipe(
        TrainingConfig(model=NovaModel.LITE_2, technique=technique, name="forgeflow-r-1")
    )
    mixing = forge_data_mixing(parse_plan(FORGE_PLAN)) if forge else None
    return build_serverless_training_request(
        rendered,
        run_id="r-1",
        stage="train",
        train_uri="s3://forgeflow-data/runs/r-1/mix/train.jsonl",
        settings=SETTINGS,
        serverless=SERVERLESS,
        forge_hyperparameters=mixing["hyperparameters"] if mixing else None,
        tags=[{"Key": "forgeflow:run-id", "Value": "r-1"}],
    )


@pytest.mark.parametrize("forge", [False, True], ids=["own-data", "forge-mixing"])
@pytest.mark.parametrize("technique", [Technique.SFT_LORA, Technique.SFT_FULL])
def test_serverless_request_golden(technique: Technique, forge: bool) -> None:
    request = _request(technique, forge)
    validate_parameters(request, SHAPE)
    assert request_problems("CreateTrainingJob", request) == []
    name = f"serverless_lite-2_{technique.value}_{'forge' if forge else 'own'}.json"
    text = json.dumps(request, indent=2, sort_keys=True) + "\n"
    if os.environ.get("FORGEFLOW_UPDATE_GOLDEN"):
        (GOLDEN / name).write_text(text, encoding="utf-8")
    assert text == (GOLDEN / name).read_text(encoding="utf-8")


def test_serverless_request_anatomy() -> None:
    lora, full = _request(Technique.SFT_LORA, True), _request(Technique.SFT_FULL, False)
    for request in (lora, full):
        # SageMaker chooses image and hardware: no instance or replica keys at all.
        assert "ResourceConfig" not in request
        assert "AlgorithmSpecification" not in request
        assert request["ModelPackageConfig"] == {"ModelPackageGroupArn": GROUP_ARN}
        assert request["ServerlessJobConfig"]["JobType"] == "FineTuning"
    assert lora["ServerlessJobConfig"]["Peft"] == "LORA"
    assert "Peft" not in full["ServerlessJobConfig"]  # full rank: no Peft (SDK _create_serverless_config)
    hyper = lora["HyperParameters"]
    assert all(isinstance(value, str) for value in hyper.values())
    assert hyper["customer_data_percent"] == "70"
    nova = [float(v) for k, v in hyper.items() if k.startswith("nova_")]
    assert sum(nova) == 100
    assert full["HyperParameters"] == {}


def test_serverless_sequence_length() -> None:
    assert [sequence_length(n) for n in (1, 1024, 1025, 8192, 65536)] == ["1K", "1K", "2K", "8K", "64K"]
    with pytest.raises(DataError, match="1024K"):
        sequence_length(1024 * 1024 + 1)


def test_serverless_refuses_dpo() -> None:
    problems = refusals(NovaModel.LITE_2, Technique.DPO_LORA, SERVERLESS)
    assert len(problems) == 1
    assert "SFT only" in problems[0]
    assert FORGE_SMTJ_SOURCE in problems[0]


def test_serverless_refuses_a_model_without_a_base_model_arn() -> None:
    problems = refusals(NovaModel.LITE, Technique.SFT_LORA, SERVERLESS)
    assert len(problems) == 1
    assert "BaseModelArnLite" in problems[0]
    rendered = render_recipe(TrainingConfig(model=NovaModel.LITE, technique=Technique.SFT_LORA, name="x"))
    with pytest.raises(DataError, match="BaseModelArnLite") as caught:
        build_serverless_training_request(
            rendered,
            run_id="r-1",
            stage="train",
            train_uri="s3://b/t.jsonl",
            settings=SETTINGS,
            serverless=SERVERLESS,
        )
    assert caught.value.code == "SERVERLESS_UNSUPPORTED"


def test_serverless_refuses_a_missing_model_package_group() -> None:
    settings = ServerlessSettings(base_model_arns={NovaModel.LITE_2: BASE_ARN})
    assert any("ModelPackageGroupArn" in p for p in refusals(NovaModel.LITE_2, Technique.SFT_FULL, settings))


def _forge_plan(*nova: str) -> Any:
    sources = [{"name": "customer", "role": "customer", "uri": "c.jsonl", "weight": 0.7}]
    sources += [{"name": uri.replace(":", "-"), "uri": uri, "weight": 0.3 / len(nova)} for uri in nova]
    return parse_plan({"sources": sources})


@pytest.mark.parametrize(
    ("method", "model", "category", "code"),
    [
        # Each restriction of nova-forge-sft-datamix-smtj: Nova 2 Lite only (so no Nova 1.0), SFT only,
        # text only.
        (Method.SFT, NovaModel.LITE, "nova:code", "FORGE_MODEL_UNSUPPORTED"),
        (Method.SFT, NovaModel.MICRO, "nova:code", "FORGE_MODEL_UNSUPPORTED"),
        (Method.SFT, NovaModel.PRO, "nova:code", "FORGE_MODEL_UNSUPPORTED"),
        (Method.DPO, NovaModel.LITE_2, "nova:code", "FORGE_METHOD_UNSUPPORTED"),
        (Method.SFT, NovaModel.LITE_2, "nova:charts", "FORGE_MODALITY_UNSUPPORTED"),
    ],
)
def test_serverless_forge_mixing_refusals_name_reason_and_source(
    method: Method, model: NovaModel, category: str, code: str
) -> None:
    with pytest.raises(DataError) as caught:
        check_compute(_forge_plan(category), Compute.SERVERLESS, method=method, model=model)
    assert caught.value.code == code
    assert "nova-forge-sft-datamix-smtj" in f"{caught.value} {caught.value.hint}"


def test_serverless_forge_mixing_accepts_nova_2_lite_text_sft() -> None:
    check_compute(
        _forge_plan("nova:code", "nova:math"), Compute.SERVERLESS, method=Method.SFT, model=NovaModel.LITE_2
    )
