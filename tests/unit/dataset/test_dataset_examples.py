"""The shipped example data: deterministic, valid, realistic in shape and size."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson

from forgeflow.dataset.canonical import record_hash
from forgeflow.dataset.converse import DPORecord, SFTRecord
from forgeflow.dataset.validation import ValidationOptions, validate_uri
from forgeflow.nova import Method, NovaModel
from forgeflow.storage import Storage
from forgeflow_tools.examples import TAXONOMY, write_examples


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    first = write_examples(tmp_path / "a")
    second = write_examples(tmp_path / "b")
    other = write_examples(tmp_path / "c", seed=8)
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes()
        assert first[name].read_bytes() != other[name].read_bytes()


def test_examples_are_valid_for_every_model_that_trains_them(tmp_path: Path) -> None:
    paths = write_examples(tmp_path)
    for name, model in [(n, m) for n in ("support", "general") for m in NovaModel] + [
        ("dpo", m) for m in (NovaModel.MICRO, NovaModel.LITE, NovaModel.PRO)
    ]:
        report = validate_uri(Storage(), str(paths[name]), ValidationOptions(model=model, platform="bedrock"))
        assert report.valid, (name, model, report.error_codes)
        assert report.warning_count == 0
        assert report.stats.duplicates == 0


def test_sizes_methods_and_models(tmp_path: Path) -> None:
    paths = write_examples(tmp_path)
    expected = {"support": (600, Method.SFT, SFTRecord), "general": (400, Method.SFT, SFTRecord)}
    expected["dpo"] = (100, Method.DPO, DPORecord)
    for name, (count, method, model) in expected.items():
        lines = paths[name].read_bytes().splitlines()
        assert len(lines) == count
        records = [orjson.loads(line) for line in lines]
        assert len({record_hash(r) for r in records}) == count
        for record in records:
            model.model_validate(record)
        report = validate_uri(Storage(), str(paths[name]), ValidationOptions())
        assert report.stats.method is method


def test_support_set_covers_the_taxonomy_with_varied_messages(tmp_path: Path) -> None:
    records = [orjson.loads(line) for line in write_examples(tmp_path)["support"].read_bytes().splitlines()]
    labels = Counter(r["messages"][1]["content"][0]["text"] for r in records)
    assert set(labels) == set(TAXONOMY)
    assert min(labels.values()) >= 20
    assert all("/" in label for label in labels)
    openings = {r["messages"][0]["content"][0]["text"][:12] for r in records}
    assert len(openings) > 100
