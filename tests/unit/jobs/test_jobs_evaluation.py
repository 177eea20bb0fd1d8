"""Evaluation inputs: gen_qa conversion, eval recipes, manifest → checkpoint, one-call job preparation."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

import boto3
import pytest
from moto import mock_aws

from forgeflow.aws.s3 import S3Objects
from forgeflow.errors import DataError
from forgeflow.jobs.evaluation import (
    checkpoint_uri_from_manifest,
    converse_to_gen_qa,
    manifest_from_output_archive,
    output_archive_uri,
    prepare_eval_job,
    write_gen_qa,
)
from forgeflow.jobs.requests import JobSettings, build_eval_job_request
from forgeflow.nova import NovaModel
from forgeflow.recipes.bounds import RecipeError
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.evaluation import render_eval_recipe
from forgeflow.storage import Storage

ESCROW = "s3://customer-escrow-123456789012-smtj-abc/r-1/outputs/checkpoints"


def _sft(question: str = "Where is my parcel?", answer: str = "shipping/lost_parcel") -> dict[str, Any]:
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "You classify support tickets."}],
        "messages": [
            {"role": "user", "content": [{"text": question}]},
            {"role": "assistant", "content": [{"text": answer}]},
        ],
    }


def test_jobs_gen_qa_from_sft_record() -> None:
    assert converse_to_gen_qa(_sft()) == {
        "query": "Where is my parcel?",
        "response": "shipping/lost_parcel",
        "system": "You classify support tickets.",
    }


def test_jobs_gen_qa_from_dpo_record_uses_the_preferred_candidate() -> None:
    record = _sft()
    record["messages"][-1] = {
        "role": "assistant",
        "candidates": [
            {"content": [{"text": "bad"}], "preferenceLabel": "non-preferred"},
            {"content": [{"text": "good"}], "preferenceLabel": "Preferred"},
        ],
    }
    line = converse_to_gen_qa(record)
    assert line is not None
    assert line["response"] == "good"


def test_jobs_gen_qa_multi_turn_uses_the_last_exchange() -> None:
    record = _sft()
    record["messages"] += [
        {"role": "user", "content": [{"text": "and now?"}]},
        {"role": "assistant", "content": [{"text": "billing"}]},
    ]
    assert converse_to_gen_qa(record) == {
        "query": "and now?",
        "response": "billing",
        "system": "You classify support tickets.",
    }


@pytest.mark.parametrize(
    "record",
    [
        {"messages": []},
        {"messages": [{"role": "user", "content": [{"text": "q"}]}, {"role": "assistant", "content": []}]},
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/i.png"}}}}
                    ],
                },
                {"role": "assistant", "content": [{"text": "a cat"}]},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": [{"text": " "}]},
                {"role": "assistant", "content": [{"text": "x"}]},
            ]
        },
    ],
)
def test_jobs_gen_qa_skips_what_it_cannot_express(record: dict[str, Any]) -> None:
    assert converse_to_gen_qa(record) is None


def test_jobs_write_gen_qa(tmp_path: Any) -> None:
    source = tmp_path / "validation.jsonl"
    records = [_sft(f"q{i}", f"a{i}") for i in range(5)] + [{"messages": []}]
    source.write_text("\n".join(json.dumps(r) for r in records) + "\n\nnot json\n")
    summary = write_gen_qa(Storage(None), str(source), str(tmp_path) + "/")
    assert (summary.written, summary.skipped) == (5, 2)
    lines = [json.loads(line) for line in (tmp_path / "gen_qa.jsonl").read_text().splitlines()]
    assert [line["query"] for line in lines] == [f"q{i}" for i in range(5)]
    with pytest.raises(Exception, match=r"gen_qa\.jsonl"):
        write_gen_qa(Storage(None), str(source), str(tmp_path / "other.jsonl"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"messages": []}) + "\n")
    with pytest.raises(DataError, match="no held-out record"):
        write_gen_qa(Storage(None), str(empty), str(tmp_path / "x") + "/")


def test_jobs_checkpoint_from_manifest() -> None:
    assert checkpoint_uri_from_manifest(json.dumps({"checkpoint_s3_bucket": ESCROW}).encode()) == ESCROW
    with pytest.raises(DataError, match="no checkpoint_s3_bucket") as caught:
        checkpoint_uri_from_manifest(b'{"model": "x"}')
    assert caught.value.code == "NO_CHECKPOINT"
    assert "keys present: model" in caught.value.message
    with pytest.raises(DataError, match="not valid JSON"):
        checkpoint_uri_from_manifest(b"{")
    with pytest.raises(DataError, match="not an s3:// URI"):
        checkpoint_uri_from_manifest(b'{"checkpoint_s3_bucket": "/local"}')


def _archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_jobs_manifest_from_output_archive() -> None:
    manifest = json.dumps({"checkpoint_s3_bucket": ESCROW}).encode()
    data = _archive({"deep/x/manifest.json": b"{}", "manifest.json": manifest, "other.txt": b"x"})
    assert checkpoint_uri_from_manifest(manifest_from_output_archive(data)) == ESCROW
    with pytest.raises(DataError, match=r"no manifest\.json"):
        manifest_from_output_archive(_archive({"a.txt": b"x"}))
    with pytest.raises(DataError, match="not a tar archive"):
        manifest_from_output_archive(b"not a tarball")
    assert (
        output_archive_uri("s3://b/jobs/", "forgeflow-r-train-1")
        == "s3://b/jobs/forgeflow-r-train-1/output/output.tar.gz"
    )


def test_jobs_eval_recipe_shapes() -> None:
    mmlu = render_eval_recipe(NovaModel.LITE, "mmlu")
    assert mmlu.recipe["evaluation"] == {
        "task": "mmlu",
        "strategy": "zs_cot",
        "metric": "accuracy",
        "subtask": "",
    }
    assert mmlu.recipe["inference"]["max_new_tokens"] == 8196
    assert mmlu.stage == "eval-mmlu-base"
    genqa = render_eval_recipe(NovaModel.LITE_2, "gen_qa", model_path=ESCROW)
    assert genqa.recipe["evaluation"] == {"task": "gen_qa", "strategy": "gen_qa", "metric": "all"}
    assert genqa.recipe["run"]["model_name_or_path"] == ESCROW
    assert genqa.recipe["run"]["model_type"] == "amazon.nova-2-lite-v1:0:256k"
    assert genqa.recipe["inference"]["max_new_tokens"] == 32768
    assert genqa.stage == "eval-genqa-trained"


def test_jobs_eval_recipe_overrides_and_bounds() -> None:
    rendered = render_eval_recipe(NovaModel.PRO, "mmlu", overrides={"inference": {"temperature": 2}})
    assert rendered.recipe["inference"]["temperature"] == 2
    with pytest.raises(RecipeError, match=r"inference\.temperature = 2\.5"):
        render_eval_recipe(NovaModel.PRO, "mmlu", overrides={"inference.temperature": 2.5})
    with pytest.raises(RecipeError, match="only inference"):
        render_eval_recipe(NovaModel.PRO, "mmlu", overrides={"evaluation.task": "bbh"})
    with pytest.raises(RecipeError, match="max_new_tokens"):
        render_eval_recipe(NovaModel.LITE_2, "gen_qa", overrides={"inference.max_new_tokens": 40000})
    with pytest.raises(DataError, match="s3:// escrow URI"):
        render_eval_recipe(NovaModel.PRO, "mmlu", model_path="nova-pro/prod")


def test_jobs_eval_instance_rules() -> None:
    settings = JobSettings(role_arn="arn:aws:iam::123456789012:role/r", output_uri="s3://b/")
    for model, instance in [
        ("micro", "ml.g5.12xlarge"),
        ("pro", "ml.p5.48xlarge"),
        ("lite-2", "ml.p5.48xlarge"),
    ]:
        request = build_eval_job_request(
            render_eval_recipe(NovaModel(model), "mmlu"),
            run_id="r",
            settings=settings,
            recipe_uri="s3://b/e/",
        )
        assert request["ResourceConfig"] == {
            "InstanceType": instance,
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        }
    with pytest.raises(DataError, match="not allowed for evaluating Nova pro"):
        build_eval_job_request(
            render_eval_recipe(NovaModel.PRO, "mmlu"),
            run_id="r",
            settings=settings.model_copy(update={"eval_instance_type": "ml.g5.12xlarge"}),
            recipe_uri="s3://b/e/",
        )
    with pytest.raises(DataError, match="needs data_uri"):
        build_eval_job_request(
            render_eval_recipe(NovaModel.LITE, "gen_qa"),
            run_id="r",
            settings=settings,
            recipe_uri="s3://b/e/",
        )


@mock_aws
def test_jobs_prepare_eval_job_writes_inputs_and_returns_the_request() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="forgeflow-data")
    storage = Storage(S3Objects(client))
    held_out = "s3://forgeflow-data/runs/r-1/mix/validation.jsonl"
    storage.write_bytes(held_out, b"".join(json.dumps(_sft(f"q{i}", "a")).encode() + b"\n" for i in range(3)))
    settings = JobSettings(
        role_arn="arn:aws:iam::123456789012:role/r", output_uri="s3://forgeflow-data/jobs/"
    )
    request = prepare_eval_job(
        storage,
        TrainingConfig(name="forgeflow-r-1"),
        run_id="r-1",
        suite="gen_qa",
        target="trained",
        settings=settings,
        inputs_uri="s3://forgeflow-data/runs/r-1/evaluation",
        model_path=ESCROW,
        validation_uri=held_out,
    )
    assert request["TrainingJobName"] == "forgeflow-r-1-eval-genqa-trained-1"
    assert storage.exists("s3://forgeflow-data/runs/r-1/evaluation/gen_qa/gen_qa.jsonl")
    recipe = storage.read_bytes("s3://forgeflow-data/runs/r-1/evaluation/genqa-trained/recipe.yaml").decode()
    assert ESCROW in recipe
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]
    }
    assert channels == {
        "train": "s3://forgeflow-data/runs/r-1/evaluation/gen_qa/",
        "recipe": "s3://forgeflow-data/runs/r-1/evaluation/genqa-trained/",
    }
    with pytest.raises(DataError, match="checkpoint"):
        prepare_eval_job(
            storage,
            TrainingConfig(),
            run_id="r-1",
            suite="mmlu",
            target="trained",
            settings=settings,
            inputs_uri="s3://forgeflow-data/e/",
        )
