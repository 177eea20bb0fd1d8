"""ForgeFlow's CreateTrainingJob request for every model × technique against the SageMaker SDK's own.

The SDK (sagemaker-train 1.27.0, `ModelTrainer.from_recipe` + `_create_training_job_args(boto3=True)`)
builds the request offline here: a stubbed Session whose S3 upload returns a URI, a real boto3 session
whose every HTTP send raises (so no AWS call can happen), role validation off (SAGEMAKER_VALIDATE_ROLE),
and the recipe given as a local file (no recipe download). Source of the SDK's Nova path:
aws/sagemaker-python-sdk sagemaker-train/src/sagemaker/train/sm_recipes/utils.py (_get_args_from_nova_recipe)
and sagemaker-train/src/sagemaker/train/model_trainer.py (_create_training_job_args, the `recipe` channel).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from sagemaker.core.helper.session_helper import Session
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData

from forgeflow.jobs.requests import JobSettings, build_training_job_request
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.render import RenderedRecipe, render_recipe

COMBINATIONS = [(m, t) for m in ("micro", "lite", "pro") for t in Technique] + [
    ("lite-2", Technique.SFT_LORA),
    ("lite-2", Technique.SFT_FULL),
]
ROLE = "arn:aws:iam::123456789012:role/forgeflow-sagemaker"
OUTPUT = "s3://forgeflow-out/jobs/"
TRAIN = "s3://forgeflow-data/runs/r-1/mix/train.jsonl"


def _stub_session(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    boto = boto3.Session(region_name="us-east-1", aws_access_key_id="stub", aws_secret_access_key="stub")

    def _no_aws(request: Any, **_: Any) -> None:
        raise AssertionError(f"the SDK tried to call AWS: {request.url}")

    boto.events.register("before-send", _no_aws)
    session = mock.MagicMock(spec=Session)
    session.boto_session = boto
    session.boto_region_name = "us-east-1"
    session.default_bucket.return_value = "forgeflow-out"
    session.default_bucket_prefix = None
    session.sagemaker_config = {}
    session.upload_data.side_effect = lambda path, bucket, key_prefix, **_: f"s3://{bucket}/{key_prefix}"
    return session


def _sdk_request(rendered: RenderedRecipe, image: str, tmp: Path, session: Any) -> dict[str, Any]:
    recipe = tmp / "recipe.yaml"
    recipe.write_text(rendered.to_yaml(), encoding="utf-8")
    trainer = ModelTrainer.from_recipe(
        training_recipe=str(recipe),
        compute=Compute(instance_type=rendered.instance_type),
        training_image=image,
        sagemaker_session=session,
        role=ROLE,
        base_job_name="forgeflow-r-1-train",
    )
    train = InputData(channel_name="train", data_source=TRAIN)
    request: dict[str, Any] = trainer._create_training_job_args(input_data_config=[train], boto3=True)
    return request


@pytest.mark.parametrize(("model", "technique"), COMBINATIONS)
def test_sdk_request_matches_forgeflow(
    model: str, technique: Technique, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered = render_recipe(
        TrainingConfig(model=NovaModel(model), technique=technique, name="forgeflow-r-1")
    )
    ours = build_training_job_request(
        rendered,
        run_id="r-1",
        stage="train",
        channels={"train": TRAIN, "validation": None},
        recipe_uri="s3://forgeflow-data/runs/r-1/recipe/train/",
        settings=JobSettings(role_arn=ROLE, output_uri=OUTPUT),
    )
    image = ours["AlgorithmSpecification"]["TrainingImage"]
    sdk = _sdk_request(rendered, image, tmp_path, _stub_session(monkeypatch))

    # Hyperparameters: the SDK sends base_model (base_model_location for s3://) and the recipe path;
    # ForgeFlow sends the same two plus model_type (the recipe's run.model_type, which the container also
    # reads from the recipe itself).
    assert {k: v for k, v in ours["HyperParameters"].items() if k != "model_type"} == sdk["HyperParameters"]
    assert ours["HyperParameters"]["model_type"] == rendered.model_type
    # Image and instance count (the SDK takes run.replicas when Compute has no count).
    assert ours["AlgorithmSpecification"]["TrainingImage"] == sdk["AlgorithmSpecification"]["TrainingImage"]
    assert ours["ResourceConfig"]["InstanceType"] == sdk["ResourceConfig"]["InstanceType"]
    assert (
        ours["ResourceConfig"]["InstanceCount"] == sdk["ResourceConfig"]["InstanceCount"] == rendered.replicas
    )
    # Channels: train, then the reserved `recipe` channel (S3Prefix, FullyReplicated) mounting the folder
    # whose recipe.yaml sagemaker_recipe_local_path names.
    assert [c["ChannelName"] for c in ours["InputDataConfig"]] == [
        c["ChannelName"] for c in sdk["InputDataConfig"]
    ]
    ours_recipe, sdk_recipe = ours["InputDataConfig"][-1], sdk["InputDataConfig"][-1]
    for key in ("S3DataType", "S3DataDistributionType"):
        assert ours_recipe["DataSource"]["S3DataSource"][key] == sdk_recipe["DataSource"]["S3DataSource"][key]
    assert ours["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == TRAIN
    # Output: both write under an S3OutputPath prefix (the SDK's default is s3://<bucket>/<base job name>).
    assert ours["OutputDataConfig"]["S3OutputPath"].startswith("s3://")
    assert sdk["OutputDataConfig"]["S3OutputPath"].startswith("s3://")
    assert os.environ["SAGEMAKER_VALIDATE_ROLE"] == "false"
