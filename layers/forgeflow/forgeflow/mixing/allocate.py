"""Step 2 of a mix, the allocation: how much of each source goes into train, and which records.

Integer targets per source by largest remainder (or token targets), checked against what each source
holds; each source's selection is a prefix of its p-ranking (whole passes plus a remainder when
upsampling). Every data error of a mix is raised by now, before any output exists. (The prefixes
themselves are found by `selection`.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from forgeflow.errors import DataError
from forgeflow.mixing.apportion import largest_remainder, round_quotas, seeded_order
from forgeflow.mixing.plan import MixPlan, Unit
from forgeflow.mixing.scan import SourceScan
from forgeflow.mixing.selection import ALL, NONE, Prefix, rank_prefix, token_prefix


@dataclass(frozen=True)
class Selection:
    """One source's part of train: `passes` whole passes over `pool`, then `remainder`."""

    pool: Prefix
    passes: int
    remainder: Prefix

    @property
    def records(self) -> int:
        return self.passes * self.pool.records + self.remainder.records

    @property
    def distinct(self) -> int:
        return self.pool.records if self.passes else self.remainder.records

    def prefixes(self) -> Iterator[Prefix]:
        for _ in range(self.passes):
            yield self.pool
        if self.remainder.records:
            yield self.remainder


def select(plan: MixPlan, scans: list[SourceScan]) -> list[Selection]:
    """Each source's selection, in plan order; a DataError when the data cannot give the plan's blend."""
    pools = [_pool(scan) for scan in scans]
    weights = [scan.spec.exact_weight for scan in scans]
    _check_customer_pool(scans[0], pools[0])
    if plan.unit is Unit.RECORDS:
        targets = _record_targets(plan, scans, pools, weights)
        amounts = [pool.records for pool in pools]
    else:
        targets = _token_targets(plan, pools, weights)
        amounts = [pool.tokens for pool in pools]
    _check_amounts(plan, scans, targets, amounts, weights)
    return [
        _selection(plan.unit, scan, pool, need, have)
        for scan, pool, need, have in zip(scans, pools, targets, amounts, strict=True)
    ]


def _pool(scan: SourceScan) -> Prefix:
    """What a source may contribute at most once: all of it, or its first `max_records` by rank."""
    cap = scan.spec.max_records
    if cap is not None and cap < scan.pool.records:
        return rank_prefix(scan.pool, cap)
    return Prefix(ALL, scan.pool.records, scan.pool.tokens)


def _check_customer_pool(customer: SourceScan, pool: Prefix) -> None:
    if pool.records == 0:
        raise DataError(
            f"customer source {customer.spec.name!r} has no training records"
            + (f" ({customer.held_out:,} held out for validation)" if customer.held_out else ""),
            code="EMPTY_CUSTOMER_SOURCE",
            hint="add records, or lower validation_fraction",
        )


def _record_targets(
    plan: MixPlan, scans: list[SourceScan], pools: list[Prefix], weights: list[Fraction]
) -> list[Fraction]:
    """Integer record counts per source: of the plan's total, or around every customer record once."""
    tie_order = seeded_order([s.spec.name for s in scans], plan.seed, "apportion")
    if plan.total is not None:
        return [Fraction(n) for n in largest_remainder(plan.total, weights, tie_order)]
    # Every customer record once: the mix size is the nearest integer to kept/share, and the curated
    # counts round their exact quotas (share × size) to fill it, each within one.
    shares = [w / sum(weights) for w in weights]
    kept = pools[0].records
    total = int(kept / shares[0] + Fraction(1, 2))
    tie_order_rest = [i - 1 for i in tie_order if i]
    rest = round_quotas([share * total for share in shares[1:]], total - kept, tie_order_rest)
    return [Fraction(kept)] + [Fraction(n) for n in rest]


def _token_targets(plan: MixPlan, pools: list[Prefix], weights: list[Fraction]) -> list[Fraction]:
    """Exact token amounts per source: shares of the plan's total, or around every customer token."""
    shares = [w / sum(weights) for w in weights]
    customer_tokens = Fraction(pools[0].tokens)
    total_tokens = customer_tokens / shares[0] if plan.total is None else Fraction(plan.total)
    targets = [share * total_tokens for share in shares]
    if plan.total is None:
        targets[0] = customer_tokens
    return targets


def _check_amounts(
    plan: MixPlan,
    scans: list[SourceScan],
    targets: list[Fraction],
    amounts: list[int],
    weights: list[Fraction],
) -> None:
    """Every curated source holds something, and every source enough (or may be upsampled)."""
    for scan, amount in zip(scans[1:], amounts[1:], strict=True):
        # A declared source without data is a mistake (a wrong prefix, a filtered file), even when
        # rounding would give it no record: never let it vanish from the blend silently.
        if amount == 0:
            noun = "records" if plan.unit is Unit.RECORDS else "tokens"
            raise DataError(
                f"curated source {scan.spec.name!r} holds no usable {noun}",
                code="EMPTY_SOURCE",
                hint="add data under its URI, or remove the source from the plan",
            )
    mix_total = sum(targets, Fraction(0))
    for index in range(len(scans)):
        need, have = targets[index], amounts[index]
        if need > have and (not plan.allow_upsample or have == 0):
            raise _shortfall(plan, scans, index, need, have, mix_total, weights)


def _selection(unit: Unit, scan: SourceScan, pool: Prefix, need: Fraction, have: int) -> Selection:
    """`need` (records or tokens) from a pool holding `have`: whole passes, then a ranked remainder."""
    if need == 0:
        return Selection(pool, 0, Prefix(NONE, 0, 0))
    passes = int(need // have)
    left = need - passes * have
    if unit is Unit.RECORDS:
        return Selection(pool, passes, rank_prefix(scan.pool, int(left)))
    return Selection(pool, passes, token_prefix(scan.pool, pool, left))


def _shortfall(
    plan: MixPlan,
    scans: list[SourceScan],
    index: int,
    need: Fraction,
    have: int,
    mix_total: Fraction,
    weights: list[Fraction],
) -> DataError:
    """The error for a source too small for its share, with the changes to the plan that would fit."""
    spec = scans[index].spec
    noun = "records" if plan.unit is Unit.RECORDS else "estimated tokens"
    whole = sum(weights)
    share = weights[index] / whole
    capped = f" (max_records: {spec.max_records:,})" if spec.max_records is not None else ""
    held = scans[index].held_out
    held_note = f", after holding out {held:,} for validation" if held else ""
    message = (
        f"{spec.role} source {spec.name!r} has {have:,} {noun}{capped}{held_note}; "
        f"{_percent(share)} of a {int(mix_total):,}-{noun.split()[-1][:-1]} mix needs "
        f"{int(-(-need // 1)):,}"
    )
    if have == 0:
        return DataError(message, code="EMPTY_SOURCE", hint="add data or remove the source")
    others = whole - weights[index]
    fixes = []
    if others > 0:
        if plan.total is None and index > 0:
            # The customer amount is fixed; this source may hold at most have/customer of it.
            customer_amount = mix_total * weights[0] / whole
            max_weight = weights[0] * have / customer_amount
        else:
            max_share = Fraction(have) / mix_total
            max_weight = max_share * others / (1 - max_share)
        max_share_now = max_weight / (others + max_weight)
        fixes.append(
            f"lower its weight to ≤ {float(max_weight):.4g} (now {spec.weight:g}; that is "
            f"≤ {_percent(max_share_now, down=True)} of train.jsonl with the other weights unchanged)"
        )
    if plan.total is not None:
        fixes.append(f"lower total to ≤ {int(have / share):,}")
    fixes.append(f"add data, or set allow_upsample: true (it would be repeated {float(need / have):.2f}×)")
    return DataError(message, code="SOURCE_TOO_SMALL", hint=", ".join(fixes))


def _percent(share: Fraction, *, down: bool = False) -> str:
    value = float(share) * 100
    if down:
        value = int(value * 10) / 10
    return f"{value:.1f} %"
