"""A new attempt renames its request (`rename_request`): every member derived from the job name follows.

Written for the 57 mutants of `rename_request` that `make mutate` reported with no unit test reaching them
(docs/mutation.md): it was only exercised through the pipeline's NextJobAttempt step.
"""

from __future__ import annotations

import copy
from typing import Any

from forgeflow.jobs.requests import JobSettings, build_training_job_request, job_name, rename_request
from forgeflow.jobs.validate import validate_request
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.render import render_recipe

ROLE = "arn:aws:iam::123456789012:role/forgeflow-sagemaker"
MLFLOW = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/forgeflow"
FIRST = job_name("r", "train", 1)
SECOND = job_name("r", "train", 2)


def _request(**settings: Any) -> dict[str, Any]:
    return build_training_job_request(
        render_recipe(TrainingConfig()),
        run_id="r",
        stage="train",
        channels={"train": "s3://b/t.jsonl"},
        recipe_uri="s3://b/r/",
        settings=JobSettings(**{"role_arn": ROLE, "output_uri": "s3://b/out/", **settings}),
    )


def test_every_name_derived_member_follows_the_new_name() -> None:
    request = _request(checkpoint_uri="s3://b/ckpt/", mlflow_resource_arn=MLFLOW)
    renamed = rename_request(request, SECOND)
    assert renamed["TrainingJobName"] == SECOND
    assert renamed["TensorBoardOutputConfig"] == {"S3OutputPath": f"s3://b/out/{SECOND}/tensorboard/"}
    assert renamed["CheckpointConfig"] == {"S3Uri": f"s3://b/ckpt/{SECOND}/"}
    assert renamed["MlflowConfig"] == {
        "MlflowResourceArn": MLFLOW,
        "MlflowExperimentName": "forgeflow",
        "MlflowRunName": SECOND,
    }
    validate_request("CreateTrainingJob", renamed)


def test_the_renamed_request_is_the_one_a_build_for_that_attempt_gives() -> None:
    request = _request(checkpoint_uri="s3://b/ckpt/", mlflow_resource_arn=MLFLOW)
    rebuilt = build_training_job_request(
        render_recipe(TrainingConfig()),
        run_id="r",
        stage="train",
        channels={"train": "s3://b/t.jsonl"},
        recipe_uri="s3://b/r/",
        settings=JobSettings(
            role_arn=ROLE, output_uri="s3://b/out/", checkpoint_uri="s3://b/ckpt/", mlflow_resource_arn=MLFLOW
        ),
        attempt=2,
    )
    assert rename_request(request, SECOND) == rebuilt


def test_the_previous_request_is_left_as_it_was() -> None:
    request = _request(checkpoint_uri="s3://b/ckpt/", mlflow_resource_arn=MLFLOW)
    before = copy.deepcopy(request)
    rename_request(request, SECOND)
    assert request == before
    assert request["TensorBoardOutputConfig"]["S3OutputPath"] == f"s3://b/out/{FIRST}/tensorboard/"


def test_a_request_without_the_optional_members_is_renamed_and_gains_none() -> None:
    request = _request(tensorboard=False)
    renamed = rename_request(request, SECOND)
    assert renamed == {**request, "TrainingJobName": SECOND}
    assert not {"TensorBoardOutputConfig", "CheckpointConfig", "MlflowConfig"} & set(renamed)


def test_only_the_name_as_a_path_segment_is_replaced() -> None:
    # A prefix that merely contains the old name (not as /<name>/) keeps it: only the job's own folder moves.
    request = _request(output_uri=f"s3://b/x{FIRST}/", checkpoint_uri=f"s3://b/{FIRST}x/")
    renamed = rename_request(request, SECOND)
    assert renamed["TensorBoardOutputConfig"]["S3OutputPath"] == f"s3://b/x{FIRST}/{SECOND}/tensorboard/"
    assert renamed["CheckpointConfig"]["S3Uri"] == f"s3://b/{FIRST}x/{SECOND}/"
