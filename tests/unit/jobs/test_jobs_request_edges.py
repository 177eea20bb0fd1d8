"""Request building at its edges: every refusal's code and message, name-length boundaries, URI joins.

Written to kill the mutants `make mutate` found surviving in forgeflow/jobs/requests.py (docs/mutation.md):
error codes that were never asserted, the job-name length and hashing boundaries, tag truncation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from forgeflow.errors import DataError
from forgeflow.jobs.requests import (
    JobSettings,
    VpcSettings,
    build_eval_job_request,
    build_training_job_request,
    job_name,
    recipe_location,
)
from forgeflow.jobs.smoke import smoke_recipe
from forgeflow.nova import NovaModel
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.evaluation import render_eval_recipe
from forgeflow.recipes.render import render_recipe

ROLE = "arn:aws:iam::123456789012:role/forgeflow-sagemaker"
SETTINGS = JobSettings(role_arn=ROLE, output_uri="s3://b/out/")
FULL = render_recipe(TrainingConfig())
TRAIN = {"train": "s3://b/t.jsonl"}


def _train(**changes: Any) -> dict[str, Any]:
    call: dict[str, Any] = {
        "run_id": "r",
        "stage": "train",
        "channels": TRAIN,
        "recipe_uri": "s3://b/r/",
        "settings": SETTINGS,
    }
    rendered = changes.pop("rendered", FULL)
    return build_training_job_request(rendered, **{**call, **changes})


def _eval(suite: str = "gen_qa", **changes: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"run_id": "r", "settings": SETTINGS, "recipe_uri": "s3://b/e/recipe.yaml"}
    if suite == "gen_qa":
        call["data_uri"] = "s3://b/eval/"
    return build_eval_job_request(render_eval_recipe(NovaModel.LITE, suite), **{**call, **changes})  # type: ignore[arg-type]


def _digest(run_id: str) -> str:
    return hashlib.sha256(run_id.encode()).hexdigest()[:10]


REFUSALS: list[tuple[str, Callable[[], object], str, str]] = [
    (
        "stage",
        lambda: job_name("r", "Train"),
        "INVALID_JOB_NAME",
        "job stage 'Train' is not one of smoke, train, eval-(mmlu|genqa|general)-(base|trained)",
    ),
    (
        "attempt 0",
        lambda: job_name("r", "train", 0),
        "INVALID_JOB_NAME",
        "job attempt must be in [1, 9999], got 0",
    ),
    (
        "attempt 10000",
        lambda: job_name("r", "train", 10_000),
        "INVALID_JOB_NAME",
        "job attempt must be in [1, 9999], got 10000",
    ),
    ("no run id", lambda: job_name("", "train"), "INVALID_JOB_NAME", "a job name needs a run id"),
    (
        "region",
        lambda: _train(settings=SETTINGS.model_copy(update={"region": "eu-west-2"})),
        "UNSUPPORTED_REGION",
        "no Nova training image is published for region eu-west-2: use one of ap-northeast-1, us-east-1, "
        "us-west-2, or set image_uri in the job settings",
    ),
    (
        "recipe not s3",
        lambda: recipe_location("/tmp/r.yaml"),
        "INVALID_JOB_REQUEST",
        "recipe_uri must be an s3:// URI, got '/tmp/r.yaml'",
    ),
    (
        "recipe not yaml",
        lambda: recipe_location("s3://b/r.txt"),
        "INVALID_JOB_REQUEST",
        "recipe_uri must be a folder (ending in /) or a .yaml file, got 's3://b/r.txt'",
    ),
    (
        "training stage",
        lambda: _train(stage="eval"),
        "INVALID_JOB_REQUEST",
        "training stage must be smoke or train, got 'eval'",
    ),
    (
        "smoke needs smoke recipe",
        lambda: _train(stage="smoke"),
        "INVALID_JOB_REQUEST",
        "stage 'smoke' needs the smoke variant (forgeflow.jobs.smoke.smoke_recipe) recipe",
    ),
    (
        "train needs full recipe",
        lambda: _train(rendered=smoke_recipe(FULL)),
        "INVALID_JOB_REQUEST",
        "stage 'train' needs the full recipe",
    ),
    (
        "channels",
        lambda: _train(channels={**TRAIN, "test": "s3://b/x", "eval": "s3://b/y"}),
        "INVALID_JOB_REQUEST",
        "unknown data channels eval, test: Nova jobs read exactly 'train' and 'validation'",
    ),
    (
        "no train",
        lambda: _train(channels={"validation": "s3://b/v"}),
        "INVALID_JOB_REQUEST",
        "the train channel needs an s3:// URI",
    ),
    (
        "eval instance",
        lambda: _eval(settings=SETTINGS.model_copy(update={"eval_instance_type": "ml.p4d.24xlarge"})),
        "INVALID_JOB_REQUEST",
        "eval_instance_type ml.p4d.24xlarge is not allowed for evaluating Nova lite: allowed ml.p5.48xlarge, "
        "ml.g5.12xlarge, ml.g5.24xlarge, ml.g6.12xlarge, ml.g6.24xlarge, ml.g6.48xlarge",
    ),
    (
        "gen_qa without data",
        lambda: _eval(data_uri=None),
        "INVALID_JOB_REQUEST",
        "the gen_qa evaluation needs data_uri: the S3 folder holding gen_qa.jsonl",
    ),
    (
        "gen_qa data not the file",
        lambda: _eval(data_uri="s3://b/eval/other.jsonl"),
        "INVALID_JOB_REQUEST",
        "data_uri must be a folder (ending in /) or the gen_qa.jsonl file, got 's3://b/eval/other.jsonl'",
    ),
    (
        "mmlu with data",
        lambda: _eval("mmlu", data_uri="s3://b/eval/"),
        "INVALID_JOB_REQUEST",
        "the mmlu benchmark takes no data_uri",
    ),
]


@pytest.mark.parametrize(("call", "code", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_every_refusal_names_its_code_and_says_what_is_wrong(
    call: Callable[[], object], code: str, message: str
) -> None:
    with pytest.raises(DataError) as caught:
        call()
    assert caught.value.code == code
    assert str(caught.value).startswith(message)


def test_a_run_id_that_just_fits_is_verbatim_and_one_more_character_is_hashed() -> None:
    room = 63 - len("forgeflow-") - len("-train-1")
    assert job_name("a" * room, "train") == f"forgeflow-{'a' * room}-train-1"
    longer = "a" * (room + 1)
    assert job_name(longer, "train") == f"forgeflow-{'a' * (room - 12)}--{_digest(longer)}-train-1"
    assert job_name("a", "train", 9999) == "forgeflow-a-train-9999"


def test_a_hashed_name_is_cut_before_a_dash_and_keeps_the_whole_digest() -> None:
    run_id = "a" * 32 + "-" + "b" * 20  # the cut at 33 characters lands just after the "-"
    assert job_name(run_id, "train") == f"forgeflow-{'a' * 32}--{_digest(run_id)}-train-1"


@pytest.mark.parametrize(
    ("run_id", "body"),
    [
        ("-r-", "r--{}"),  # edge dashes stripped, and the name hashed because it changed
        ("Xr-", "Xr--{}"),  # only dashes are stripped
        ("!!!", "{}"),  # nothing name-safe left: the digest alone
    ],
)
def test_unsafe_run_ids_are_cleaned_then_hashed(run_id: str, body: str) -> None:
    assert job_name(run_id, "smoke") == f"forgeflow-{body.format(_digest(run_id))}-smoke-1"


def test_the_attempt_and_the_dataset_reach_both_request_kinds() -> None:
    train = _train(attempt=3, dataset="s3://b/incoming/d.jsonl")
    evaluation = _eval(attempt=4, dataset="s3://b/incoming/d.jsonl")
    assert train["TrainingJobName"] == "forgeflow-r-train-3"
    assert evaluation["TrainingJobName"] == "forgeflow-r-eval-genqa-base-4"
    for request in (train, evaluation):
        assert {"Key": "forgeflow:dataset", "Value": "s3://b/incoming/d.jsonl"} in request["Tags"]


def test_gen_qa_data_is_mounted_as_its_folder() -> None:
    for data_uri in ("s3://b/eval/gen_qa.jsonl", "s3://b/eval/"):
        train = _eval(data_uri=data_uri)["InputDataConfig"][0]
        assert train["ChannelName"] == "train"
        assert train["DataSource"]["S3DataSource"]["S3Uri"] == "s3://b/eval/"


def test_a_yml_recipe_file_is_accepted() -> None:
    assert recipe_location("s3://b/r/recipe.yml") == ("s3://b/r/", "recipe.yml")


def test_tags_are_cut_to_the_service_limits() -> None:
    settings = SETTINGS.model_copy(update={"tags": {"k" * 200: "v" * 300}})
    tags = _train(settings=settings)["Tags"]
    assert {"Key": "k" * 128, "Value": "v" * 256} in tags


def test_uris_are_joined_with_one_slash_and_nothing_else_stripped() -> None:
    settings = SETTINGS.model_copy(
        update={
            "output_uri": "s3://b/OUTX//",
            "checkpoint_uri": "s3://b/CKPTX/",
            "vpc": VpcSettings(subnets=["subnet-0abc"], security_group_ids=["sg-0abc"]),
        }
    )
    request = _train(settings=settings)
    assert request["OutputDataConfig"]["S3OutputPath"] == "s3://b/OUTX/"
    assert request["CheckpointConfig"] == {"S3Uri": "s3://b/CKPTX/forgeflow-r-train-1/"}
    # Traffic between the nodes of a job inside the customer's VPC is encrypted.
    assert request["EnableInterContainerTrafficEncryption"] is True


def test_a_recipe_of_the_wrong_variant_points_to_the_recipes_doc() -> None:
    for call in (lambda: _train(stage="smoke"), lambda: _train(rendered=smoke_recipe(FULL))):
        with pytest.raises(DataError) as caught:
            call()
        assert caught.value.hint == "see docs/recipes.md"


def test_one_unknown_channel_is_named_in_the_singular() -> None:
    with pytest.raises(DataError) as caught:
        _train(channels={**TRAIN, "test": "s3://b/x"})
    assert (
        caught.value.message == "unknown data channel test: Nova jobs read exactly 'train' and 'validation'"
    )


def test_a_hashed_name_keeps_a_trailing_letter_at_the_cut() -> None:
    run_id = "a" * 32 + "X" + "b" * 20  # the cut at 33 characters ends on the X: only dashes are stripped
    assert job_name(run_id, "train") == f"forgeflow-{'a' * 32}X--{_digest(run_id)}-train-1"
