"""Job-request facts checked against their sources (issue #12, row 9): the Nova 2.0 Lite validation."""

from __future__ import annotations

from typing import Any

import pytest

from forgeflow.jobs.requests import JobSettings, build_training_job_request, takes_validation_channel
from forgeflow.jobs.smoke import smoke_recipe
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.render import render_recipe

SETTINGS = JobSettings(role_arn="arn:aws:iam::123456789012:role/sm", output_uri="s3://out/jobs/")
CHANNELS = {"train": "s3://b/mix/train.jsonl", "validation": "s3://b/mix/validation.jsonl"}


def _channels(model: str, technique: str, stage: str) -> list[str]:
    rendered = render_recipe(TrainingConfig(model=NovaModel(model), technique=Technique(technique)))
    if stage == "smoke":
        rendered = smoke_recipe(rendered)
    request: dict[str, Any] = build_training_job_request(
        rendered, run_id="r-1", stage=stage, channels=CHANNELS, recipe_uri="s3://b/recipe/", settings=SETTINGS
    )
    return [channel["ChannelName"] for channel in request["InputDataConfig"]]


@pytest.mark.parametrize("stage", ["smoke", "train"])
@pytest.mark.parametrize("technique", ["sft-lora", "sft-full"])
def test_jobs_facts_nova2_sft_request_has_no_validation_channel(technique: str, stage: str) -> None:
    # Amazon Bedrock UG "Supervised fine-tuning on Amazon Nova 2.0" (nova-2-sft-data-prep), current
    # limitations: validation sets "will not be supported during SFT training". The HPR recipes
    # nova_lite_2_0_p5_gpu_{lora_,}sft.yaml carry an optional run.validation_data_s3_path, a HyperPod run
    # field that ForgeFlow refuses (bounds.yaml `fixed`): on training jobs the channel is the only way in.
    assert _channels("lite-2", technique, stage) == ["train", "recipe"]
    assert not takes_validation_channel(NovaModel.LITE_2)


@pytest.mark.parametrize("model", ["micro", "lite", "pro"])
def test_jobs_facts_nova1_request_keeps_the_validation_channel(model: str) -> None:
    # AWS SageMaker DG "Fine-tuning Amazon Nova models using SageMaker training jobs" (seed 004): the
    # validation channel is optional input for Nova 1.0 jobs.
    assert _channels(model, "sft-lora", "train") == ["train", "validation", "recipe"]
    assert takes_validation_channel(NovaModel(model))
