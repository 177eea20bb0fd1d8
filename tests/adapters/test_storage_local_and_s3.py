"""Storage: one URI-addressed API over local disk and S3, with atomic writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from forgeflow.aws.s3 import S3Objects
from forgeflow.errors import InputError
from forgeflow.storage import Storage, join, object_identity, parse_uri

BUCKET = "forgeflow-test-data"


@pytest.fixture
def s3_client() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def s3_storage(s3_client: Any) -> Storage:
    return Storage(S3Objects(s3_client))


def _write_then_crash(storage: Storage, uri: str, data: bytes) -> None:
    with storage.open_output(uri) as writer:
        writer.write(data)
        raise RuntimeError("crash mid-write")


def test_parse_uri_tells_s3_from_local_paths() -> None:
    assert parse_uri("s3://bucket/a/b.jsonl").bucket == "bucket"
    assert parse_uri("s3://bucket/a/b.jsonl").key == "a/b.jsonl"
    assert parse_uri("data/x.jsonl").path == Path("data/x.jsonl")
    assert parse_uri("file:///tmp/x.jsonl").path == Path("/tmp/x.jsonl")
    with pytest.raises(InputError, match="unsupported URI scheme"):
        parse_uri("gs://bucket/x")
    with pytest.raises(InputError, match="names no bucket"):
        parse_uri("s3:///x")


def test_join_appends_a_name_to_folders_and_prefixes() -> None:
    assert join("s3://b/out/", "train.jsonl") == "s3://b/out/train.jsonl"
    assert join("s3://b/out", "train.jsonl") == "s3://b/out/train.jsonl"
    assert join("out", "train.jsonl") == str(Path("out") / "train.jsonl")


def test_local_write_is_atomic_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    storage = Storage()
    target = tmp_path / "out" / "train.jsonl"
    storage.write_bytes(str(target), b"first\n")
    with pytest.raises(RuntimeError, match="crash mid-write"):
        _write_then_crash(storage, str(target), b"partial")
    assert target.read_bytes() == b"first\n"
    assert [p.name for p in target.parent.iterdir()] == ["train.jsonl"]


def test_local_listing_is_sorted_and_only_jsonl(tmp_path: Path) -> None:
    for name in ["b.jsonl", "a.jsonl", "notes.txt", "sub/c.jsonl"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"{}\n")
    listed = Storage().list_jsonl(str(tmp_path))
    assert listed == sorted(listed)
    assert [Path(p).name for p in listed] == ["a.jsonl", "b.jsonl", "c.jsonl"]
    with pytest.raises(InputError, match="does not exist"):
        Storage().list_jsonl(str(tmp_path / "missing"))


def test_missing_local_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"), Storage().open_input(str(tmp_path / "x.jsonl")):
        pass


def test_s3_round_trip_small_and_multipart(s3_storage: Storage, s3_client: Any) -> None:
    s3_storage.write_bytes(f"s3://{BUCKET}/small.jsonl", b"{}\n")
    assert s3_storage.read_bytes(f"s3://{BUCKET}/small.jsonl") == b"{}\n"
    big = b"x" * (17 * 1024 * 1024)  # three parts of 8 MiB
    s3_storage.write_bytes(f"s3://{BUCKET}/big.jsonl", big)
    assert s3_storage.read_bytes(f"s3://{BUCKET}/big.jsonl") == big
    identity = object_identity(s3_storage, f"s3://{BUCKET}/big.jsonl")
    assert identity["size"] == len(big)
    assert identity["etag"].endswith("-3")  # S3 marks multipart ETags with their part count


def test_s3_failed_write_aborts_the_upload(s3_storage: Storage, s3_client: Any) -> None:
    uri = f"s3://{BUCKET}/failed.jsonl"
    with pytest.raises(RuntimeError, match="crash mid-write"):
        _write_then_crash(s3_storage, uri, b"y" * (9 * 1024 * 1024))  # more than one part uploaded
    assert not s3_storage.exists(uri)
    assert not s3_client.list_multipart_uploads(Bucket=BUCKET).get("Uploads")


def test_s3_prefix_listing(s3_storage: Storage) -> None:
    for key in ["curated/general/b.jsonl", "curated/general/a.jsonl", "curated/general/readme.md"]:
        s3_storage.write_bytes(f"s3://{BUCKET}/{key}", b"{}\n")
    expected = [f"s3://{BUCKET}/curated/general/a.jsonl", f"s3://{BUCKET}/curated/general/b.jsonl"]
    assert s3_storage.list_jsonl(f"s3://{BUCKET}/curated/general/") == expected
    assert s3_storage.list_jsonl(f"s3://{BUCKET}/curated/general") == expected
    with pytest.raises(InputError, match=r"no \.jsonl files"):
        s3_storage.list_jsonl(f"s3://{BUCKET}/nothing/")


# Issue #16: a serverless evaluation's results are found by listing its uncompressed output folder.
def test_list_under_names_every_file_below_a_prefix_or_folder(s3_storage: Storage, tmp_path: Path) -> None:
    for key in ["out/j/output/output/None/eval_results/results_2.json", "out/j/output/output/EMULATED.txt"]:
        s3_storage.write_bytes(f"s3://{BUCKET}/{key}", b"{}")
    s3_storage.write_bytes(f"s3://{BUCKET}/out/j2/output/output/x.json", b"{}")
    assert s3_storage.list_under(f"s3://{BUCKET}/out/j/output/output") == [
        f"s3://{BUCKET}/out/j/output/output/EMULATED.txt",
        f"s3://{BUCKET}/out/j/output/output/None/eval_results/results_2.json",
    ]
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "results_1.json").write_text("{}")
    assert Storage().list_under(str(tmp_path / "a")) == [str(tmp_path / "a" / "b" / "results_1.json")]
    for empty in (f"s3://{BUCKET}/out/none/", str(tmp_path / "missing")):
        with pytest.raises(InputError, match="nothing under") as error:
            s3_storage.list_under(empty)
        assert error.value.code == "NOT_FOUND"


def test_missing_s3_object_is_an_input_error(s3_storage: Storage) -> None:
    with pytest.raises(InputError, match="does not exist"):
        s3_storage.read_bytes(f"s3://{BUCKET}/missing.jsonl")


def test_a_pinned_version_is_read_even_after_an_overwrite(s3_storage: Storage, s3_client: Any) -> None:
    s3_client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    uri = f"s3://{BUCKET}/incoming/data.jsonl"
    first = s3_client.put_object(Bucket=BUCKET, Key="incoming/data.jsonl", Body=b"first\n")
    s3_client.put_object(Bucket=BUCKET, Key="incoming/data.jsonl", Body=b"second\n")
    assert s3_storage.read_bytes(uri) == b"second\n"
    s3_storage.pin_version(uri, first["VersionId"])
    assert s3_storage.read_bytes(uri) == b"first\n"
    s3_storage.pin_version(uri, "no-such-version")
    with pytest.raises(InputError, match="version no-such-version"):
        s3_storage.read_bytes(uri)
