"""Duplicate counting stays exact when its keys spill to disk (bounded memory on any file size)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from forgeflow.dataset.duplicates import DuplicateCounter
from forgeflow.dataset.validation import ValidationOptions, validate_stream


def _expected(keys: list[int]) -> int:
    return sum(count - 1 for count in Counter(keys).values())


@given(keys=st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(0, 20), max_size=300))
def test_count_equals_records_minus_distinct_whatever_the_buffer(keys: list[int]) -> None:
    for buffer_keys in (1, 3, 64, 1 << 18):
        counter = DuplicateCounter(buffer_keys=buffer_keys)
        for key in keys:
            counter.add(key)
        assert counter.count() == _expected(keys)


def test_repeats_across_spilled_runs_are_counted_and_the_spill_file_removed(tmp_path: Path) -> None:
    counter = DuplicateCounter(buffer_keys=4)
    for key in (*[5, 1, 9, 2], *[7, 5, 3, 8], *[5, 9]):  # two runs spilled, two keys in the buffer
        counter.add(key)
    spill = counter._spill_path
    assert spill is not None
    assert Path(spill).stat().st_size == 8 * 8  # 8 bytes per spilled key
    assert counter.count() == 3  # 5 twice more, 9 once more
    assert not Path(spill).exists()
    assert counter.count() == 0  # counting forgets what it counted


def test_the_validator_reports_duplicates_in_the_stats(tmp_path: Path) -> None:
    record = (
        b'{"messages": [{"role": "user", "content": [{"text": "Where is my parcel?"}]},'
        b' {"role": "assistant", "content": [{"text": "shipping/lost_parcel"}]}]}'
    )
    reordered = (
        b'{"messages": [{"content": [{"text": "Where is my parcel?"}], "role": "user"},'
        b' {"content": [{"text": "shipping/lost_parcel"}], "role": "assistant"}]}'
    )
    other = record.replace(b"parcel?", b"order?")
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n".join([record, other, reordered, record]) + b"\n")
    with path.open("rb") as stream:
        report = validate_stream(stream, ValidationOptions(), str(path))
    assert report.to_dict()["stats"]["duplicates"] == 2  # key order does not make a record different
