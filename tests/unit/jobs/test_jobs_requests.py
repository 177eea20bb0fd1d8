"""CreateTrainingJob requests: golden files per combination and stage, service-model validity, options."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.session import get_session
from botocore.validate import validate_parameters
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.errors import DataError
from forgeflow.jobs.requests import (
    JobSettings,
    VpcSettings,
    build_eval_job_request,
    build_training_job_request,
    job_name,
)
from forgeflow.jobs.smoke import smoke_recipe
from forgeflow.jobs.validate import request_problems
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.evaluation import render_eval_recipe
from forgeflow.recipes.render import RenderedRecipe, render_recipe

GOLDEN = Path(__file__).parent / "golden"
ROLE = "arn:aws:iam::123456789012:role/forgeflow-sagemaker"
SETTINGS = JobSettings(role_arn=ROLE, output_uri="s3://forgeflow-data/runs/r-1/jobs/")
COMBINATIONS = [(m, t) for m in ("micro", "lite", "pro") for t in Technique] + [
    ("lite-2", Technique.SFT_LORA),
    ("lite-2", Technique.SFT_FULL),
]
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
SHAPE = get_session().get_service_model("sagemaker").operation_model("CreateTrainingJob").input_shape


def _golden(name: str, request: dict[str, Any]) -> None:
    path = GOLDEN / name
    text = json.dumps(request, indent=2, sort_keys=True) + "\n"
    if os.environ.get("FORGEFLOW_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def _train(model: str, technique: Technique, stage: str) -> dict[str, Any]:
    rendered: RenderedRecipe = render_recipe(
        TrainingConfig(model=NovaModel(model), technique=technique, name="forgeflow-r-1")
    )
    if stage == "smoke":
        rendered = smoke_recipe(rendered)
    return build_training_job_request(
        rendered,
        run_id="r-1",
        stage=stage,
        channels={
            "train": "s3://forgeflow-data/runs/r-1/mix/train.jsonl",
            "validation": "s3://forgeflow-data/runs/r-1/mix/validation.jsonl",
        },
        recipe_uri=f"s3://forgeflow-data/runs/r-1/recipe/{stage}/",
        settings=SETTINGS,
        dataset="s3://forgeflow-data/incoming/support.jsonl",
    )


@pytest.mark.parametrize("stage", ["train", "smoke"])
@pytest.mark.parametrize(("model", "technique"), COMBINATIONS)
def test_jobs_request_golden(model: str, technique: Technique, stage: str) -> None:
    request = _train(model, technique, stage)
    validate_parameters(request, SHAPE)  # botocore's own validator, independently of the builder
    assert request_problems("CreateTrainingJob", request) == []
    _golden(f"request_{model}_{technique.value}_{stage}.json", request)


@pytest.mark.parametrize("model", ["micro", "lite", "pro", "lite-2"])
@pytest.mark.parametrize("suite", ["mmlu", "gen_qa"])
@pytest.mark.parametrize("target", ["base", "trained"])
def test_jobs_eval_request_golden(model: str, suite: str, target: str) -> None:
    checkpoint = (
        "s3://customer-escrow-123456789012-smtj-abc/r-1/outputs/checkpoints" if target == "trained" else None
    )
    rendered = render_eval_recipe(NovaModel(model), suite, model_path=checkpoint)
    request = build_eval_job_request(
        rendered,
        run_id="r-1",
        settings=SETTINGS,
        recipe_uri=f"s3://forgeflow-data/runs/r-1/evaluation/{suite}-{target}/recipe.yaml",
        data_uri="s3://forgeflow-data/runs/r-1/evaluation/gen_qa/" if suite == "gen_qa" else None,
    )
    validate_parameters(request, SHAPE)
    _golden(f"eval_{model}_{suite}_{target}.json", request)
    assert request["AlgorithmSpecification"]["TrainingImage"].endswith(
        "nova-evaluation-repo:SM-TJ-Eval-V2-latest"
    )
    hyper = request["HyperParameters"]
    if target == "trained":
        assert hyper["base_model_location"] == checkpoint
        assert "base_model" not in hyper
    else:
        assert "base_model_location" not in hyper
    channels = [c["ChannelName"] for c in request["InputDataConfig"]]
    assert channels == (["train", "recipe"] if suite == "gen_qa" else ["recipe"])


def test_jobs_request_anatomy() -> None:
    request = _train("lite", Technique.SFT_LORA, "train")
    assert request["TrainingJobName"] == "forgeflow-r-1-train-1"
    assert request["HyperParameters"] == {
        "model_type": "amazon.nova-lite-v1:0:300k",
        "base_model": "nova-lite/prod",
        "sagemaker_recipe_local_path": "/opt/ml/input/data/recipe/recipe.yaml",
    }
    train, validation, recipe = request["InputDataConfig"]
    assert train["DataSource"]["S3DataSource"]["S3DataType"] == "Converse"
    assert validation["DataSource"]["S3DataSource"]["S3DataType"] == "Converse"
    assert recipe["ChannelName"] == "recipe"
    assert recipe["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix",
        "S3Uri": "s3://forgeflow-data/runs/r-1/recipe/train/",
        "S3DataDistributionType": "FullyReplicated",
    }
    assert request["ResourceConfig"]["InstanceCount"] == 4
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86_400}
    assert request["ProfilerConfig"] == {"DisableProfiler": True}
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags == {
        "forgeflow:run-id": "r-1",
        "forgeflow:stage": "train",
        "forgeflow:dataset": "s3://forgeflow-data/incoming/support.jsonl",
    }
    for absent in ("VpcConfig", "CheckpointConfig", "MlflowConfig", "Environment", "DebugHookConfig"):
        assert absent not in request


def test_jobs_request_smoke_is_identical_but_for_name_recipe_and_tags() -> None:
    train = _train("lite", Technique.SFT_LORA, "train")
    smoke = _train("lite", Technique.SFT_LORA, "smoke")
    differing = {key for key in train if train[key] != smoke[key]}
    assert differing == {"TrainingJobName", "InputDataConfig", "Tags", "TensorBoardOutputConfig"}
    assert smoke["TrainingJobName"] == "forgeflow-r-1-smoke-1"
    assert smoke["AlgorithmSpecification"] == train["AlgorithmSpecification"]
    assert smoke["ResourceConfig"] == train["ResourceConfig"]


def test_jobs_request_images_per_method_and_generation() -> None:
    images = {
        ("lite", Technique.SFT_LORA): "nova-fine-tune-repo:SM-TJ-SFT-latest",
        ("pro", Technique.DPO_FULL): "nova-fine-tune-repo:SM-TJ-DPO-latest",
        ("lite-2", Technique.SFT_FULL): "nova-fine-tune-repo:SM-TJ-SFT-V2-latest",
    }
    for (model, technique), image in images.items():
        uri = _train(model, technique, "train")["AlgorithmSpecification"]["TrainingImage"]
        assert uri == f"708977205387.dkr.ecr.us-east-1.amazonaws.com/{image}"
    rendered = render_recipe(TrainingConfig())
    west = SETTINGS.model_copy(update={"region": "us-west-2"})
    request = build_training_job_request(
        rendered,
        run_id="r",
        stage="train",
        channels={"train": "s3://b/t.jsonl"},
        recipe_uri="s3://b/r/",
        settings=west,
    )
    assert request["AlgorithmSpecification"]["TrainingImage"].startswith("176779409107.dkr.ecr.us-west-2.")
    with pytest.raises(DataError, match="no Nova training image is published for region eu-west-2"):
        build_training_job_request(
            rendered,
            run_id="r",
            stage="train",
            channels={"train": "s3://b/t.jsonl"},
            recipe_uri="s3://b/r/",
            settings=SETTINGS.model_copy(update={"region": "eu-west-2"}),
        )


def test_jobs_request_optional_settings() -> None:
    settings_ = JobSettings(
        role_arn=ROLE,
        output_uri="s3://b/out",
        kms_key_id="arn:aws:kms:us-east-1:123456789012:key/abcd-1234",
        vpc=VpcSettings(subnets=["subnet-0abc"], security_group_ids=["sg-0abc"]),
        max_runtime_seconds=28 * 86_400,
        checkpoint_uri="s3://b/checkpoints/",
        mlflow_resource_arn="arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/forgeflow",
        tags={"team": "ml", "bad/value": "a*b"},
        tensorboard=False,
    )
    request = build_training_job_request(
        render_recipe(TrainingConfig()),
        run_id="r",
        stage="train",
        channels={"train": "s3://b/t.jsonl", "validation": None},
        recipe_uri="s3://b/r/recipe-full.yaml",
        settings=settings_,
    )
    validate_parameters(request, SHAPE)
    assert request["OutputDataConfig"] == {
        "S3OutputPath": "s3://b/out/",
        "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/abcd-1234",
    }
    assert "VolumeKmsKeyId" not in request["ResourceConfig"]
    assert request["VpcConfig"] == {"SecurityGroupIds": ["sg-0abc"], "Subnets": ["subnet-0abc"]}
    assert request["CheckpointConfig"] == {"S3Uri": "s3://b/checkpoints/forgeflow-r-train-1/"}
    assert request["MlflowConfig"]["MlflowRunName"] == "forgeflow-r-train-1"
    assert request["StoppingCondition"]["MaxRuntimeInSeconds"] == 2_419_200
    assert "TensorBoardOutputConfig" not in request
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train", "recipe"]
    assert request["HyperParameters"]["sagemaker_recipe_local_path"].endswith("/recipe-full.yaml")
    assert {"Key": "bad/value", "Value": "a_b"} in request["Tags"]


def test_jobs_settings_limits() -> None:
    with pytest.raises(ValueError, match="less than or equal"):
        JobSettings(role_arn=ROLE, output_uri="s3://b/", max_runtime_seconds=28 * 86_400 + 1)
    with pytest.raises(ValueError, match="s3://"):
        JobSettings(role_arn=ROLE, output_uri="/tmp/out")
    assert JobSettings(role_arn=ROLE, output_uri="s3://b/", kms_key_id="").kms_key_id is None


def test_jobs_request_refuses_inconsistent_calls() -> None:
    rendered = render_recipe(TrainingConfig())
    common: dict[str, Any] = {"run_id": "r", "recipe_uri": "s3://b/r/", "settings": SETTINGS}
    with pytest.raises(DataError, match="smoke variant"):
        build_training_job_request(rendered, stage="smoke", channels={"train": "s3://b/t.jsonl"}, **common)
    with pytest.raises(DataError, match="needs the full recipe"):
        build_training_job_request(
            smoke_recipe(rendered), stage="train", channels={"train": "s3://b/t"}, **common
        )
    with pytest.raises(DataError, match="unknown data channel"):
        build_training_job_request(
            rendered, stage="train", channels={"train": "s3://b/t", "test": "s3://b/x"}, **common
        )
    with pytest.raises(DataError, match="train channel"):
        build_training_job_request(rendered, stage="train", channels={"validation": "s3://b/v"}, **common)
    with pytest.raises(DataError, match="folder"):
        build_training_job_request(
            rendered,
            stage="train",
            channels={"train": "s3://b/t"},
            run_id="r",
            recipe_uri="s3://b/r.txt",
            settings=SETTINGS,
        )


def test_jobs_request_invalid_values_are_reported_by_the_service_model() -> None:
    bad_role = JobSettings(role_arn="not-an-arn", output_uri="s3://b/")
    with pytest.raises(DataError, match="RoleArn") as caught:
        build_training_job_request(
            render_recipe(TrainingConfig()),
            run_id="r",
            stage="train",
            channels={"train": "s3://b/t.jsonl"},
            recipe_uri="s3://b/r/",
            settings=bad_role,
        )
    assert caught.value.code == "INVALID_JOB_REQUEST"


def test_jobs_botocore_knows_the_converse_data_type() -> None:
    enum = get_session().get_service_model("sagemaker").shape_for("S3DataType").enum
    assert "Converse" in enum


def test_jobs_name_examples() -> None:
    assert job_name("r-1", "train") == "forgeflow-r-1-train-1"
    assert job_name("r-1", "smoke", 2) == "forgeflow-r-1-smoke-2"
    # Characters a job name cannot carry are replaced and the run id hashed, so r_1 ≠ r-1.
    assert job_name("r_1", "train") != job_name("r-1", "train")
    with pytest.raises(DataError):
        job_name("r", "Train")
    with pytest.raises(DataError):
        job_name("r", "train", 0)
    with pytest.raises(DataError):
        job_name("", "train")


STAGES = st.sampled_from(
    ["smoke", "train"] + [f"eval-{s}-{t}" for s in ("mmlu", "genqa") for t in ("base", "trained")]
)


@settings(max_examples=200, deadline=None)
@given(run_id=st.text(min_size=1, max_size=120), stage=STAGES, attempt=st.integers(1, 9999))
def test_jobs_name_properties(run_id: str, stage: str, attempt: int) -> None:
    name = job_name(run_id, stage, attempt)
    assert len(name) <= 63
    assert NAME.fullmatch(name)
    assert name.startswith("forgeflow-")
    assert name.endswith(f"-{stage}-{attempt}")
    assert job_name(run_id, stage, attempt) == name


@settings(max_examples=200, deadline=None)
@given(a=st.text(min_size=1, max_size=90), b=st.text(min_size=1, max_size=90), stage=STAGES)
def test_jobs_name_distinct_runs_get_distinct_names(a: str, b: str, stage: str) -> None:
    if a != b:
        assert job_name(a, stage) != job_name(b, stage)


def test_jobs_name_hashed_never_equals_verbatim() -> None:
    import hashlib

    digest = hashlib.sha256(b"a_b").hexdigest()[:10]
    assert job_name(f"a-b-{digest}", "train") != job_name("a_b", "train")
    assert "--" in job_name("a_b", "train")


def test_a_tracked_job_logs_into_the_experiment_track_run_logs_the_run_record_to() -> None:
    # One experiment holds both: the job's own metrics (MlflowConfig) and the run record TrackRunFunction
    # logs (forgeflow.tracking.mlflow_log), so an operator finds a run's jobs next to its verdict.
    from forgeflow.jobs.requests import JobSettings
    from forgeflow.tracking.mlflow_log import DEFAULT_EXPERIMENT

    assert JobSettings(role_arn="r", output_uri="s3://b/o/").mlflow_experiment_name == DEFAULT_EXPERIMENT
