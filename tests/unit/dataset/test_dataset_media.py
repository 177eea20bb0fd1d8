"""--check-media: referenced media objects must exist and stay within their size limits."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from forgeflow.dataset.validation import ValidationOptions, validate_stream
from forgeflow_tools.cli.main import main

BUCKET = "support-media"


def _with_media(record: dict[str, Any], *blocks: dict[str, Any]) -> bytes:
    record = copy.deepcopy(record)
    record["messages"][0]["content"].extend(blocks)
    return orjson.dumps(record) + b"\n"


def _block(kind: str, fmt: str, key: str) -> dict[str, Any]:
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": f"s3://{BUCKET}/{key}"}}}}


def test_missing_and_oversized_media_are_errors_and_each_uri_is_probed_once(
    sft_record: dict[str, Any],
) -> None:
    sizes = {f"s3://{BUCKET}/ok.png": 9_000_000, f"s3://{BUCKET}/huge.mp4": 50_000_001}
    probed: list[str] = []

    def probe(uri: str) -> int | None:
        probed.append(uri)
        return sizes.get(uri)

    data = (
        _with_media(sft_record, _block("image", "png", "ok.png"))
        + _with_media(sft_record, _block("image", "png", "ok.png"), _block("image", "png", "gone.png"))
        + _with_media(sft_record, _block("video", "mp4", "huge.mp4"))
    )
    report = validate_stream(io.BytesIO(data), ValidationOptions(), media_probe=probe)
    found = {(issue.line, issue.path, issue.code) for issue in report.errors}
    assert found == {
        (2, "/messages/0/content/2/image/source/s3Location/uri", "MEDIA_NOT_FOUND"),
        (3, "/messages/0/content/1/video/source/s3Location/uri", "MEDIA_TOO_LARGE"),
    }
    assert sorted(probed) == sorted({*sizes, f"s3://{BUCKET}/gone.png"})


def test_without_the_option_media_are_not_probed(sft_record: dict[str, Any]) -> None:
    data = _with_media(sft_record, _block("image", "png", "gone.png"))
    assert validate_stream(io.BytesIO(data), ValidationOptions()).valid


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_check_media_flag_heads_objects_on_s3(s3: Any, tmp_path: Path, sft_record: dict[str, Any]) -> None:
    s3.put_object(Bucket=BUCKET, Key="tickets/photo.png", Body=b"\x89PNG" + b"0" * 100)
    path = tmp_path / "mm.jsonl"
    path.write_bytes(_with_media(sft_record, _block("image", "png", "tickets/photo.png")))
    assert main(["validate", str(path), "--check-media"]) == 0
    path.write_bytes(_with_media(sft_record, _block("image", "png", "tickets/missing.png")))
    assert main(["validate", str(path)]) == 0
    assert main(["validate", str(path), "--check-media"]) == 1
