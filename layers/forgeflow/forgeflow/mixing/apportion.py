"""Exact integer shares and a prefix-faithful interleave.

`largest_remainder` turns real-valued shares into integer counts that sum exactly to the total, each
within one of its quota (Hamilton's method; ties broken by a caller-given seeded order, so no source is
systematically favoured). `interleave` lays those counts out so that every prefix of the output keeps
the declared ratio to within one record per source (a deterministic schedule, as Megatron-LM blends):
a smoke job that trains on the first few batches already sees the real blend.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from fractions import Fraction


def seeded_order(names: Sequence[str], seed: int, purpose: str) -> list[int]:
    """A permutation of range(len(names)) that depends only on the names, the seed and the purpose."""

    def key(index: int) -> bytes:
        return hashlib.sha256(f"{seed}:{purpose}:{names[index]}".encode()).digest()

    return sorted(range(len(names)), key=key)


def largest_remainder(total: int, weights: Sequence[float | Fraction], tie_order: Sequence[int]) -> list[int]:
    """Integer counts summing to `total`, proportional to `weights`, each within one of its exact quota.

    `tie_order` ranks the indices for equal remainders (first gets the extra unit first).
    """
    exact = [Fraction(w) for w in weights]
    whole = sum(exact)
    if whole <= 0:
        raise ValueError("weights must sum to a positive number")
    return round_quotas([total * w / whole for w in exact], total, tie_order)


def round_quotas(quotas: Sequence[Fraction], total: int, tie_order: Sequence[int]) -> list[int]:
    """Each quota rounded down or up so that the counts sum to `total` (Hamilton's method).

    `total` must lie between the sums of the floors and of the ceilings (it does whenever it is within
    one of the quotas' sum); each count is then strictly within one of its quota.
    """
    if total < 0:
        raise ValueError("total must be >= 0")
    counts = [int(q) for q in quotas]
    missing = total - sum(counts)
    rank = {index: position for position, index in enumerate(tie_order)}
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - counts[i]), rank[i]))
    if missing < 0 or missing > sum(1 for i in by_remainder if quotas[i] > counts[i]):
        raise ValueError(f"total {total} cannot be reached by rounding the quotas")
    for index in by_remainder[:missing]:
        counts[index] += 1
    return counts


def interleave(counts: Sequence[int], tie_order: Sequence[int]) -> Iterator[int]:
    """Source indices, one per output position, emitting exactly `counts[i]` of each.

    Earliest deadline first: at position k (1-based) the sources still under their upper quota
    (emitted < counts[i]·k/N) are eligible, and the one whose next record is due soonest
    ((emitted + 1)/counts[i] smallest) goes next, in exact integer arithmetic. Every prefix then stays
    strictly within one record of each source's share (|emitted − counts[i]·k/N| < 1).
    """
    total = sum(counts)
    emitted = [0] * len(counts)
    order = [i for i in tie_order if counts[i] > 0]
    for position in range(1, total + 1):
        best = -1
        for index in order:
            if counts[index] * position > total * emitted[index] and (
                best < 0 or (emitted[index] + 1) * counts[best] < (emitted[best] + 1) * counts[index]
            ):
                best = index
        emitted[best] += 1
        yield best
