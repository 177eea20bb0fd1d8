"""The external sort and the p-ranking thresholds behind selection."""

from __future__ import annotations

import random
import tempfile
from fractions import Fraction
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.mixing.selection import Admit, PoolIndex, Prefix, rank_prefix, token_prefix
from forgeflow.mixing.spill import Spill, fan_out_bits

keys = st.integers(0, 2**64 - 1)


@settings(max_examples=40, deadline=None)
@given(
    items=st.lists(st.tuples(keys, st.binary(min_size=1, max_size=300)), max_size=300),
    bits=st.integers(0, 9),
    limit=st.sampled_from([64, 1024, 1 << 20]),
)
def test_sorted_entries_are_in_key_order_whatever_fan_out_and_memory_limit(
    items: list[tuple[int, bytes]], bits: int, limit: int
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        spill = Spill(Path(temporary) / "s", bits=bits)
        for key, line in items:
            spill.add(key, key ^ 1, key ^ 2, len(line), line)
        got = [(e.key, e.line) for e in spill.sorted_entries(limit)]
        odd = [(e.key, e.line) for e in spill.sorted_entries(limit, admit=lambda p: p % 2 == 1)]
        again = [(e.key, e.line) for e in spill.sorted_entries(limit)]
        unordered = sorted((e.key, e.line) for e in spill.entries())
    assert [k for k, _ in got] == sorted(k for k, _ in items)
    assert sorted(got) == sorted(items) == unordered
    assert got == again
    assert odd == [(k, line) for k, line in got if (k ^ 1) % 2 == 1]


def test_fan_out_grows_with_size_and_is_capped() -> None:
    assert fan_out_bits(0) == 0
    assert fan_out_bits(8 * 1024 * 1024) == 0
    assert fan_out_bits(8 * 1024 * 1024 + 1) == 1
    assert fan_out_bits(5 * 1024**3) == 9


def _index(directory: Path, entries: list[tuple[int, int]]) -> PoolIndex:
    index = PoolIndex(directory)
    for p, tokens in entries:
        index.add(p, tokens)
    index.flush()
    return index


def _selected(entries: list[tuple[int, int]], prefix: Prefix) -> list[tuple[int, int]]:
    admit = Admit(prefix.threshold)
    return [entry for entry in entries if admit(entry[0])]


# Equal p means byte-identical records, hence equal tokens: tokens are a function of p here.
ranked = st.lists(
    (st.integers(0, 2**64 - 1) | st.sampled_from([5 << 48, (5 << 48) + 1])).map(lambda p: (p, p % 500 + 1)),
    min_size=1,
    max_size=200,
)


@settings(max_examples=60, deadline=None)
@given(entries=ranked, data=st.data())
def test_rank_prefix_selects_exactly_the_first_records_of_the_ranking(
    entries: list[tuple[int, int]], data: st.DataObject
) -> None:
    count = data.draw(st.integers(0, len(entries)))
    with tempfile.TemporaryDirectory() as temporary:
        prefix = rank_prefix(_index(Path(temporary), entries), count)
    chosen = _selected(entries, prefix)
    assert len(chosen) == prefix.records == count
    assert sorted(chosen) == sorted(entries)[:count]
    assert prefix.tokens == sum(t for _, t in chosen)


@settings(max_examples=60, deadline=None)
@given(entries=ranked, data=st.data())
def test_token_prefix_lands_within_half_a_record_of_the_target(
    entries: list[tuple[int, int]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        index = _index(Path(temporary), entries)
        cap = data.draw(st.integers(1, len(entries)))
        pool = rank_prefix(index, cap)
        target = Fraction(data.draw(st.integers(0, max(pool.tokens - 1, 0))))
        prefix = token_prefix(index, pool, target)
    chosen = _selected(entries, prefix)
    ordered = sorted(entries)
    assert sorted(chosen) == ordered[: len(chosen)]
    assert len(chosen) <= pool.records
    assert prefix.tokens == sum(t for _, t in chosen)
    biggest = max(t for _, t in ordered[: pool.records])
    assert abs(prefix.tokens - target) <= Fraction(biggest, 2)


def test_admit_takes_the_requested_number_of_ties() -> None:
    ps = [3, 3, 3, 1, 9]
    random.Random(0).shuffle(ps)
    with tempfile.TemporaryDirectory() as temporary:
        prefix = rank_prefix(_index(Path(temporary), [(p, 1) for p in ps]), 3)
    assert prefix.threshold.p == 3
    assert prefix.threshold.ties == 2
    assert sorted(p for p in ps if Admit(prefix.threshold)(p)) == [1, 3, 3, 3]
    admit = Admit(prefix.threshold)
    assert sorted(p for p in ps if admit(p)) == [1, 3, 3]


def test_a_spills_write_buffers_stay_within_8_mib_whatever_its_fan_out(tmp_path: Path) -> None:
    for bits in range(10):
        spill = Spill(tmp_path / f"bits-{bits}", bits=bits)
        lines, slots = spill._buffers  # a bucket's line file and slot file share its buffer
        assert lines + slots >= 16 * 1024
        assert slots >= 1024
        assert (lines + slots) << bits <= 8 * 1024 * 1024


def test_a_consuming_read_gives_the_same_order_and_deletes_each_bucket_once_read(tmp_path: Path) -> None:
    # The write's last read of a spill frees each bucket's pages at once, for the output to reuse.
    rng = random.Random(5)
    items = [(rng.getrandbits(64), rng.randbytes(rng.randint(1, 90))) for _ in range(400)]
    spills = [Spill(tmp_path / name, bits=3) for name in ("kept", "consumed")]
    for spill in spills:
        for key, line in items:
            spill.add(key, key ^ 1, key ^ 2, len(line), line)
    kept, consumed = spills
    expected = [(e.key, e.line) for e in kept.sorted_entries(limit=2048)]
    left: list[int] = []
    got = []
    for entry in consumed.sorted_entries(limit=2048, consume=True):  # 2 KiB: some buckets are split
        got.append((entry.key, entry.line))
        left.append(len(list((tmp_path / "consumed").glob("*.bin"))))
    assert got == expected
    assert left[0] == 7
    assert left[-1] == 0
    assert left == sorted(left, reverse=True)
    assert not list((tmp_path / "consumed").rglob("*.bin"))
    assert len(list((tmp_path / "kept").glob("*.bin"))) == 8  # a plain read keeps them


def test_sorted_lines_are_the_sorted_entries_a_bucket_at_a_time_their_tail_copied(tmp_path: Path) -> None:
    # The write joins views of a bucket's bytes; the last `tail` lines are copies, so that a block of at
    # most `tail` lines never keeps a finished bucket alive while the next one is read.
    rng = random.Random(9)
    spill = Spill(tmp_path / "s", bits=2)
    for _ in range(300):
        key, line = rng.getrandbits(64), rng.randbytes(rng.randint(1, 50))
        spill.add(key, key ^ 1, key ^ 2, len(line) % 7, line)
    entries = list(spill.sorted_entries(admit=lambda p: p % 3 > 0))
    buckets = list(spill.sorted_lines(lambda p: p % 3 > 0, tail=5))
    assert len(buckets) == 4
    assert [bytes(line) for lines, _ in buckets for line in lines] == [e.line for e in entries]
    assert sum(tokens for _, tokens in buckets) == sum(e.tokens for e in entries)
    for lines, _ in buckets:
        assert [type(line) for line in lines[-5:]] == [bytes] * 5
        assert all(isinstance(line, memoryview) for line in lines[:-5])


def test_a_finished_spill_reads_in_key_order_under_any_limit_and_after_more_adds(tmp_path: Path) -> None:
    """`finish` (the scan worker's sort) covers only buckets within its limit; a read with another
    limit, or after more records went in, sorts what it did not cover."""
    rng = random.Random(5)
    items = [(rng.getrandbits(64), rng.randbytes(rng.randint(1, 200))) for _ in range(400)]
    spill = Spill(tmp_path / "s", bits=2)
    for key, line in items[:300]:
        spill.add(key, key ^ 1, key ^ 2, len(line), line)
    spill.finish(limit=4096)  # some buckets are larger: left unsorted
    assert [e.key for e in spill.sorted_entries(limit=1 << 20)] == sorted(k for k, _ in items[:300])
    for key, line in items[300:]:
        spill.add(key, key ^ 1, key ^ 2, len(line), line)
    spill.finish()
    for key, line in items[:10]:  # appended to buckets already sorted
        spill.add(key, key ^ 1, key ^ 2, len(line), line)
    got = [(e.key, e.line) for e in spill.sorted_entries(limit=2048)]
    assert got == sorted(items + items[:10])
    lines = [bytes(line) for bucket, _ in spill.sorted_lines(tail=3) for line in bucket]
    assert lines == [line for _, line in got]
