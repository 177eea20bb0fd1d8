"""Which records of each source enter the training mix, and how often.

Every source's records are ranked by `p`, a seeded hash of the record's canonical bytes: a permutation
that depends only on content and seed, never on file or line order. Sampling without replacement takes a
prefix of that ranking; upsampling takes whole passes over the pool plus a prefix as the remainder. A
prefix is a `Threshold`: every record with p below a value, plus a given number of records whose p equals
it (equal p means byte-identical records, so which copies does not matter).

Thresholds are found without holding the ranking in memory: a 65,536-bin histogram of p (counts and
tokens) locates the boundary bin, and only that bin's entries are read back from the index file.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate
from pathlib import Path

HIST_BITS = 16
_BINS = 1 << HIST_BITS
_BIN_SHIFT = 64 - HIST_BITS
_FLUSH = 1 << 16


@dataclass(frozen=True)
class Threshold:
    """Selects the records with p < `p`, plus `ties` records with p == `p`."""

    p: int
    ties: int = 0


ALL = Threshold(1 << 64)
NONE = Threshold(0)


class Admit:
    """The stateful predicate of one pass over a pool: does this record belong to the prefix?"""

    def __init__(self, threshold: Threshold) -> None:
        self._p = threshold.p
        self._ties = threshold.ties

    def __call__(self, p: int) -> bool:
        if p < self._p:
            return True
        if p == self._p and self._ties > 0:
            self._ties -= 1
            return True
        return False


class PoolIndex:
    """The p hashes and token estimates of one source's pool: histogram in memory, entries on disk."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._p_path = directory / "p.bin"
        self._t_path = directory / "t.bin"
        self.counts = array("Q", bytes(8 * _BINS))
        self.bin_tokens = array("Q", bytes(8 * _BINS))
        self._p = array("Q")
        self._t = array("I")
        self.records = 0
        self.tokens = 0

    def add(self, p: int, tokens: int) -> None:
        b = p >> _BIN_SHIFT
        self.counts[b] += 1
        self.bin_tokens[b] += tokens
        self._p.append(p)
        self._t.append(tokens)
        self.records += 1
        self.tokens += tokens
        if len(self._p) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        with self._p_path.open("ab") as stream:
            self._p.tofile(stream)
        with self._t_path.open("ab") as stream:
            self._t.tofile(stream)
        self._p = array("Q")
        self._t = array("I")

    def bin_entries(self, wanted: int) -> list[tuple[int, int]]:
        """The (p, tokens) entries of one histogram bin, sorted by p."""
        self.flush()
        found: list[tuple[int, int]] = []
        with self._p_path.open("rb") as p_stream, self._t_path.open("rb") as t_stream:
            while True:
                ps = array("Q")
                ts = array("I")
                chunk = p_stream.read(8 * _FLUSH)
                if not chunk:
                    break
                ps.frombytes(chunk)
                ts.frombytes(t_stream.read(4 * len(ps)))
                found.extend((p, t) for p, t in zip(ps, ts, strict=True) if p >> _BIN_SHIFT == wanted)
        found.sort()
        return found


@dataclass(frozen=True)
class Prefix:
    """A prefix of the p-ranking: its threshold, how many records and tokens it holds."""

    threshold: Threshold
    records: int
    tokens: int


def rank_prefix(index: PoolIndex, count: int) -> Prefix:
    """The first `count` records of the ranking."""
    if count <= 0:
        return Prefix(NONE, 0, 0)
    if count >= index.records:
        return Prefix(ALL, index.records, index.tokens)
    # The boundary bin: the first whose running count reaches `count` (accumulate and bisect run in C;
    # a Python loop over the 65,536 bins was most of the allocation's time).
    running = list(accumulate(index.counts))
    b = bisect_left(running, count)
    if b == _BINS:
        raise AssertionError("histogram counts disagree with the record count")
    seen = running[b - 1] if b else 0
    entries = index.bin_entries(b)[: count - seen]
    tokens = sum(index.bin_tokens[:b]) + sum(t for _, t in entries)
    last = entries[-1][0]
    ps = [p for p, _ in entries]
    return Prefix(Threshold(last, len(ps) - bisect_left(ps, last)), count, tokens)


def token_prefix(index: PoolIndex, pool: Prefix, target: Fraction) -> Prefix:
    """The prefix of the pool whose tokens come closest to `target` (within half a record's tokens).

    Records are taken in rank order while taking the next one keeps the running total nearer the target
    (running + tokens/2 < target), so the total ends within half of one record's tokens of the target.
    """
    if target <= 0:
        return Prefix(NONE, 0, 0)
    records = 0
    tokens = 0
    for b in range(_BINS):
        left_in_pool = pool.records - records
        if left_in_pool <= 0:
            return pool
        if index.counts[b] <= left_in_pool and tokens + index.bin_tokens[b] < target:
            records += index.counts[b]
            tokens += index.bin_tokens[b]
            continue
        entries = index.bin_entries(b)[:left_in_pool]
        return _greedy(entries, records, tokens, target, pool)
    return pool


def _greedy(
    entries: Iterable[tuple[int, int]], records: int, tokens: int, target: Fraction, pool: Prefix
) -> Prefix:
    taken_at: dict[int, int] = {}
    last = -1
    for p, t in entries:
        if 2 * tokens + t >= 2 * target:
            return Prefix(Threshold(p, taken_at.get(p, 0)), records, tokens)
        tokens += t
        records += 1
        taken_at[p] = taken_at.get(p, 0) + 1
        last = p
    if records >= pool.records:
        return pool
    # Every entry of this bin is taken; the next record starts a later bin.
    return Prefix(Threshold(last + 1), records, tokens)
