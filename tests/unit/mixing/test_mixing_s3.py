"""End to end on S3 (moto): sources under prefixes, outputs back to S3, identical to a local run."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from forgeflow.aws.s3 import S3Objects
from forgeflow.errors import InputError
from forgeflow.mixing.engine import run_mix
from forgeflow.mixing.plan import load_plan, parse_plan
from forgeflow.storage import Storage

BUCKET = "forgeflow-data"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _upload(client: Any, folder: Path, prefix: str) -> None:
    for path in sorted(folder.glob("*.jsonl")):
        client.put_object(Bucket=BUCKET, Key=f"{prefix}{path.name}", Body=path.read_bytes())


def _plan(customer: str, general: str, code: str) -> dict[str, Any]:
    return {
        "seed": 11,
        "validation_fraction": 0.1,
        "allow_upsample": True,
        "sources": [
            {"name": "customer", "role": "customer", "uri": customer, "weight": 0.6},
            {"name": "general", "uri": general, "weight": 0.3},
            {"name": "code", "uri": code, "weight": 0.1},
        ],
    }


def test_mix_from_s3_prefixes_to_s3_matches_the_local_run(s3: Any, tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 300, files=3, paddings=[0, 50, 300])
    mixdata.write(tmp_path, "general", 900, files=2)
    mixdata.write(tmp_path, "code", 20)
    _upload(s3, tmp_path / "customer", "incoming/acme/")
    _upload(s3, tmp_path / "general", "curated/general/")
    _upload(s3, tmp_path / "code", "curated/code/")
    # Something that is not JSONL under a prefix is ignored.
    s3.put_object(Bucket=BUCKET, Key="curated/general/README.md", Body=b"# not data")
    storage = Storage(S3Objects(s3))
    plan_uri = f"s3://{BUCKET}/plans/mix.yaml"
    plan = _plan(
        f"s3://{BUCKET}/incoming/acme/", f"s3://{BUCKET}/curated/general/", f"s3://{BUCKET}/curated/code"
    )
    storage.write_bytes(plan_uri, orjson.dumps(plan))

    report = run_mix(load_plan(plan_uri, storage), f"s3://{BUCKET}/runs/r1/mix/", storage).to_dict()

    keys = sorted(
        item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/r1/mix/")["Contents"]
    )
    assert keys == ["runs/r1/mix/mix_report.json", "runs/r1/mix/train.jsonl", "runs/r1/mix/validation.jsonl"]
    train = s3.get_object(Bucket=BUCKET, Key="runs/r1/mix/train.jsonl")["Body"].read()
    assert hashlib.sha256(train).hexdigest() == report["train"]["sha256"]
    stored = orjson.loads(s3.get_object(Bucket=BUCKET, Key="runs/r1/mix/mix_report.json")["Body"].read())
    assert stored["train"]["uri"] == f"s3://{BUCKET}/runs/r1/mix/train.jsonl"
    assert len(stored["inputs"]) == 6
    assert all(item["etag"] and item["sha256"] for item in stored["inputs"])
    code = report["sources"][2]
    assert code["repeats"] > 0

    local = run_mix(
        parse_plan(_plan(str(tmp_path / "customer"), str(tmp_path / "general"), str(tmp_path / "code"))),
        str(tmp_path / "out"),
        Storage(),
    ).to_dict()
    assert (tmp_path / "out" / "train.jsonl").read_bytes() == train
    assert local["validation"]["sha256"] == report["validation"]["sha256"]
    assert [s["selected"] for s in local["sources"]] == [s["selected"] for s in report["sources"]]


def test_large_outputs_go_up_as_multipart_uploads(s3: Any, tmp_path: Path, mixdata: Any) -> None:
    # ~12 MB of train data: more than one 8 MiB part.
    mixdata.write(tmp_path, "customer", 2500, paddings=[4000, 5000, 6000])
    _upload(s3, tmp_path / "customer", "incoming/big/")
    storage = Storage(S3Objects(s3))
    plan = {
        "sources": [
            {"name": "customer", "role": "customer", "uri": f"s3://{BUCKET}/incoming/big/", "weight": 1}
        ]
    }
    report = run_mix(parse_plan(plan), f"s3://{BUCKET}/runs/big", storage).to_dict()
    head = s3.head_object(Bucket=BUCKET, Key="runs/big/train.jsonl")
    assert head["ContentLength"] == report["train"]["bytes"] > 8 * 1024 * 1024
    assert head["ETag"].strip('"').endswith("-2")


def test_a_missing_s3_prefix_fails_before_writing(s3: Any) -> None:
    storage = Storage(S3Objects(s3))
    plan = _plan(f"s3://{BUCKET}/nothing/", f"s3://{BUCKET}/curated/general/", f"s3://{BUCKET}/curated/code/")
    with pytest.raises(InputError, match=r"no \.jsonl files under") as caught:
        run_mix(parse_plan(plan), f"s3://{BUCKET}/runs/r2/", storage)
    assert caught.value.exit_code == 2
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")
