"""The ranking's index and prefixes at their edges: full-range p and token values, ties, bins, targets.

Written to kill the mutants `make mutate` found surviving in forgeflow/mixing/selection.py
(docs/mutation.md lists the equivalent ones). p values are placed by hand in chosen histogram bins.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from forgeflow.mixing.selection import (
    ALL,
    NONE,
    Admit,
    PoolIndex,
    Prefix,
    Threshold,
    rank_prefix,
    token_prefix,
)

BIN = 1 << 48  # the width of one histogram bin (64 - 16 bits)
TOP = (1 << 64) - 1
BIG_TOKENS = (1 << 32) - 1  # the largest estimate the index stores ("I")


def _index(tmp_path: Path, entries: list[tuple[int, int]]) -> PoolIndex:
    index = PoolIndex(tmp_path / "pool")
    for p, tokens in entries:
        index.add(p, tokens)
    return index


def _admitted(threshold: Threshold, ps: list[int]) -> list[int]:
    admit = Admit(threshold)
    return [p for p in ps if admit(p)]


def test_the_full_range_of_p_and_tokens_survives_the_disk_round_trip_also_after_a_flush(
    tmp_path: Path,
) -> None:
    index = _index(tmp_path, [(TOP, BIG_TOKENS)])
    assert index.bin_entries(TOP >> 48) == [(TOP, BIG_TOKENS)]  # flushes
    index.add(TOP - 1, BIG_TOKENS - 1)  # into the buffers made by the flush
    assert index.bin_entries(TOP >> 48) == [(TOP - 1, BIG_TOKENS - 1), (TOP, BIG_TOKENS)]
    assert index.tokens == 2 * BIG_TOKENS - 1


def test_a_bin_read_back_over_more_than_one_chunk_pairs_every_p_with_its_tokens(tmp_path: Path) -> None:
    count = (1 << 16) + 3  # one more chunk than the in-memory buffer holds
    index = _index(tmp_path, [(5 * BIN + i, i % 7) for i in range(count)])
    assert index.bin_entries(5) == [(5 * BIN + i, i % 7) for i in range(count)]


def test_a_prefix_of_every_record_is_all(tmp_path: Path) -> None:
    index = _index(tmp_path, [(BIN, 2), (2 * BIN, 3)])
    assert rank_prefix(index, 2) == Prefix(ALL, 2, 5)


def test_no_target_selects_nothing(tmp_path: Path) -> None:
    index = _index(tmp_path, [(5, 1), (BIN, 1)])
    pool = rank_prefix(index, 2)
    assert token_prefix(index, pool, Fraction(0)) == Prefix(NONE, 0, 0)


def test_a_target_of_one_token_takes_a_one_token_record(tmp_path: Path) -> None:
    index = _index(tmp_path, [(BIN, 1), (2 * BIN, 1)])
    pool = rank_prefix(index, 2)
    taken = token_prefix(index, pool, Fraction(1))
    assert (taken.records, taken.tokens) == (1, 1)
    assert _admitted(taken.threshold, [BIN, 2 * BIN]) == [BIN]


def test_a_record_that_would_overshoot_by_exactly_half_is_left_out(tmp_path: Path) -> None:
    # running + tokens/2 < target takes; 0 + 2/2 == 1 does not, nor does 2 + 2/2 == 3.
    index = _index(tmp_path, [(BIN, 2), (BIN + 1, 2), (BIN + 2, 2)])
    pool = rank_prefix(index, 3)
    assert token_prefix(index, pool, Fraction(1)).records == 0
    assert token_prefix(index, pool, Fraction(3)).records == 1


def test_a_token_prefix_never_goes_past_its_pool(tmp_path: Path) -> None:
    index = _index(tmp_path, [(b * BIN, 1) for b in range(1, 11)])
    pool = rank_prefix(index, 3)
    assert pool == Prefix(Threshold(3 * BIN, 1), 3, 3)
    # 11/2 tokens would stop at 5 records of the whole index; the pool holds 3.
    assert token_prefix(index, pool, Fraction(11, 2)) == pool


def test_identical_records_cut_in_the_middle_keep_their_tie_count(tmp_path: Path) -> None:
    p = 3 * BIN + 7
    index = _index(tmp_path, [(p, 1)] * 3 + [(4 * BIN, 1)])
    pool = rank_prefix(index, 4)
    taken = token_prefix(index, pool, Fraction(2))
    assert taken == Prefix(Threshold(p, 2), 2, 2)
    assert _admitted(taken.threshold, [p, p, p, 4 * BIN]) == [p, p]


def test_a_bin_taken_whole_by_the_greedy_step_does_not_admit_the_next_bins_first_record(
    tmp_path: Path,
) -> None:
    # Bin 0 ends at BIN - 1 and bin 1 starts at BIN: the threshold after bin 0 must stop right there.
    ps = [BIN - 2, BIN - 1, BIN]
    index = _index(tmp_path, [(p, 1) for p in ps])
    pool = rank_prefix(index, 3)
    taken = token_prefix(index, pool, Fraction(2))  # bin 0's 2 tokens are not < 2: the greedy step runs
    assert (taken.records, taken.tokens) == (2, 2)
    assert _admitted(taken.threshold, ps) == [BIN - 2, BIN - 1]


def test_a_pool_cut_among_identical_records_bounds_a_token_prefix_that_wants_more(tmp_path: Path) -> None:
    p = 2 * BIN + 1
    index = _index(tmp_path, [(p, 1)] * 5)
    pool = rank_prefix(index, 3)
    assert pool == Prefix(Threshold(p, 3), 3, 3)
    taken = token_prefix(index, pool, Fraction(100))
    assert taken == pool
    assert _admitted(taken.threshold, [p] * 5) == [p] * 3
