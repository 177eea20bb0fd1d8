"""canonical_line, record_hash, the seeded split and the token heuristic."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from forgeflow.dataset.canonical import canonical_line, record_hash
from forgeflow.dataset.split import bucket_of, in_validation, split_uri
from forgeflow.dataset.tokens import count_record, estimate_tokens, tokens_from_counts
from forgeflow.dataset.validation import RecordValidator, ValidationOptions
from forgeflow.errors import DataError
from forgeflow.storage import Storage
from forgeflow_tools.examples import write_examples


def test_canonical_line_is_compact_and_keeps_key_order() -> None:
    assert (
        canonical_line({"b": 1, "a": [1, {"y": "é", "x": None}]})
        == '{"b":1,"a":[1,{"y":"é","x":null}]}'.encode()
    )


def test_record_hash_ignores_key_order_and_whitespace(sft_record: dict[str, Any]) -> None:
    reordered = orjson.loads(
        orjson.dumps(dict(reversed(list(sft_record.items()))), option=orjson.OPT_INDENT_2)
    )
    assert record_hash(reordered) == record_hash(sft_record)
    assert len(record_hash(sft_record)) == 64
    sft_record["messages"][1]["content"][0]["text"] += "!"
    assert record_hash(reordered) != record_hash(sft_record)


def test_in_validation_is_deterministic_and_close_to_the_fraction() -> None:
    hashes = [record_hash({"n": n}) for n in range(5000)]
    picked = [h for h in hashes if in_validation(h, 7, 0.2)]
    assert picked == [h for h in hashes if in_validation(h, 7, 0.2)]
    assert 900 < len(picked) < 1100
    assert picked != [h for h in hashes if in_validation(h, 8, 0.2)]
    assert not any(in_validation(h, 7, 0.0) for h in hashes)


def test_a_larger_fraction_keeps_every_record_of_a_smaller_one() -> None:
    hashes = [record_hash({"n": n}) for n in range(500)]
    small = {h for h in hashes if in_validation(h, 1, 0.1)}
    large = {h for h in hashes if in_validation(h, 1, 0.3)}
    assert small <= large
    assert all(0 <= bucket_of(h, 1) < 1 for h in hashes)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_out_of_range_fraction_is_a_data_error(fraction: float) -> None:
    with pytest.raises(DataError, match="out of range"):
        in_validation("00", 0, fraction)


def test_split_is_independent_of_line_order_and_keeps_duplicates_together(tmp_path: Path) -> None:
    source = write_examples(tmp_path / "ex")["support"]
    lines = source.read_bytes().splitlines()
    lines += lines[:20]  # duplicates
    shuffled = lines[:]
    random.Random(3).shuffle(shuffled)
    (tmp_path / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "b.jsonl").write_bytes(b"\r\n".join(shuffled) + b"\r\n\n")
    storage = Storage()
    first = split_uri(storage, str(tmp_path / "a.jsonl"), str(tmp_path / "out_a"), fraction=0.15, seed=11)
    second = split_uri(storage, str(tmp_path / "b.jsonl"), str(tmp_path / "out_b"), fraction=0.15, seed=11)
    assert (first.train, first.validation) == (second.train, second.validation)
    assert second.blank_lines == 1
    assert first.train + first.validation == len(lines)
    for side in ("train.jsonl", "validation.jsonl"):
        a = sorted((tmp_path / "out_a" / side).read_bytes().splitlines())
        b = sorted((tmp_path / "out_b" / side).read_bytes().splitlines())
        assert a == b
    train = set((tmp_path / "out_a" / "train.jsonl").read_bytes().splitlines())
    validation = set((tmp_path / "out_a" / "validation.jsonl").read_bytes().splitlines())
    assert not train & validation
    assert 0.08 < first.validation / len(lines) < 0.22


def test_split_refuses_a_non_object_line_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(b'{"a": 1}\n[1]\n')
    with pytest.raises(DataError, match="line 2"):
        split_uri(Storage(), str(tmp_path / "in.jsonl"), str(tmp_path / "out"), fraction=0.5)
    assert not list((tmp_path / "out").glob("*.jsonl"))


def test_token_formula() -> None:
    assert tokens_from_counts(0, 0) == 0
    assert tokens_from_counts(9, 2) == 3 + 8
    assert (
        tokens_from_counts(8, 2, has_system=True, images=1, videos=1, documents=1)
        == 2 + 12 + 1600 + 8000 + 2000
    )


def test_estimate_tokens_matches_the_validator_on_every_example(tmp_path: Path) -> None:
    for path in write_examples(tmp_path).values():
        validator = RecordValidator(ValidationOptions())
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            outcome = validator.check(number, line)
            assert outcome.record is not None
            assert outcome.est_tokens == estimate_tokens(outcome.record)
            assert outcome.counts == count_record(outcome.record)


def test_estimate_tokens_counts_media_and_tools(sft_record: dict[str, Any]) -> None:
    image = {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/a.png"}}}}
    sft_record["messages"][0]["content"].append(image)
    sft_record["messages"][0]["content"].append(
        {"toolResult": {"toolUseId": "t", "content": [{"json": {"a": 1}}]}}
    )
    counts = count_record(sft_record)
    assert counts.images == 1
    assert (
        counts.characters
        == len("You are a support classifier.My parcel never arrivedshipping/lost_parcel") + 7
    )
    outcome = RecordValidator(ValidationOptions()).check(1, orjson.dumps(sft_record))
    assert outcome.counts == counts
    assert outcome.est_tokens == estimate_tokens(sft_record)
