"""Largest-remainder apportionment and the prefix-faithful interleave."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.mixing.apportion import interleave, largest_remainder, round_quotas, seeded_order


def test_equal_thirds_of_ten_do_not_shortchange_the_last_source() -> None:
    counts = largest_remainder(10, [1, 1, 1], [0, 1, 2])
    assert sorted(counts) == [3, 3, 4]
    assert sum(counts) == 10


def test_tie_order_decides_who_gets_the_extra_unit() -> None:
    assert largest_remainder(10, [1, 1, 1], [2, 0, 1]) == [3, 3, 4]
    assert largest_remainder(10, [1, 1, 1], [1, 2, 0]) == [3, 4, 3]


def test_decimal_weights_are_exact() -> None:
    assert largest_remainder(10_000, [Fraction("0.7"), Fraction("0.3")], [1, 0]) == [7000, 3000]


def test_the_extra_unit_goes_to_the_largest_remainder_not_the_largest_quota() -> None:
    # quotas 5.2, 2.4, 2.4: the unit goes to a 0.4 remainder (tie order picks the first), not to 5.2
    assert largest_remainder(10, [26, 12, 12], [0, 1, 2]) == [5, 3, 2]
    assert largest_remainder(10, [26, 12, 12], [2, 1, 0]) == [5, 2, 3]


@pytest.mark.parametrize("weights", [[0, 0], [0], []])
def test_weights_that_sum_to_zero_are_refused_by_name(weights: list[int]) -> None:
    with pytest.raises(ValueError, match=r"^weights must sum to a positive number$"):
        largest_remainder(10, weights, list(range(len(weights))))


def test_a_negative_total_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^total must be >= 0$"):
        round_quotas([Fraction(1, 2)], -1, [0])


@pytest.mark.parametrize(
    ("quotas", "total"),
    [
        ([Fraction(1, 2), Fraction(1)], 3),  # floors 0 + 1: only one quota can round up, two are missing
        ([Fraction(1, 2), Fraction(1)], 0),  # below the floors' sum
        ([Fraction(3)], 4),  # a whole quota never rounds up
    ],
)
def test_a_total_out_of_rounding_reach_is_refused(quotas: list[Fraction], total: int) -> None:
    with pytest.raises(ValueError, match=f"^total {total} cannot be reached by rounding the quotas$"):
        round_quotas(quotas, total, list(range(len(quotas))))


def test_interleave_breaks_equal_deadlines_by_the_tie_order() -> None:
    assert list(interleave([1, 1], [0, 1])) == [0, 1]
    assert list(interleave([1, 1], [1, 0])) == [1, 0]
    assert list(interleave([2, 2, 2], [2, 0, 1])) == [2, 0, 1, 2, 0, 1]


def test_seeded_order_depends_on_seed_not_on_listing() -> None:
    names = ["customer", "general", "code", "math"]
    order = seeded_order(names, 7, "x")
    assert sorted(order) == [0, 1, 2, 3]
    again = seeded_order(names, 7, "x")
    assert order == again
    assert {tuple(seeded_order(names, seed, "x")) for seed in range(20)} != {tuple(order)}


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(0, 10_000),
    weights=st.lists(st.integers(1, 1000), min_size=1, max_size=6),
    data=st.data(),
)
def test_counts_sum_exactly_and_stay_within_one_of_the_quota(
    total: int, weights: list[int], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(weights))))
    counts = largest_remainder(total, weights, order)
    assert sum(counts) == total
    for count, weight in zip(counts, weights, strict=True):
        quota = Fraction(total * weight, sum(weights))
        assert abs(count - quota) < 1


@settings(max_examples=150, deadline=None)
@given(counts=st.lists(st.integers(0, 60), min_size=1, max_size=5), data=st.data())
def test_interleave_emits_exact_counts_and_every_prefix_stays_on_ratio(
    counts: list[int], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(counts))))
    sequence = list(interleave(counts, order))
    assert [sequence.count(i) for i in range(len(counts))] == counts
    total = sum(counts)
    emitted = [0] * len(counts)
    for position, source in enumerate(sequence, start=1):
        emitted[source] += 1
        for index, count in enumerate(counts):
            assert abs(emitted[index] - Fraction(count * position, total)) < 1


def test_a_thirty_seventy_mix_never_runs_long() -> None:
    sequence = list(interleave([30_000, 70_000], [0, 1]))
    longest = run = 1
    for previous, current in itertools.pairwise(sequence):
        run = run + 1 if previous == current else 1
        longest = max(longest, run)
    assert longest <= 3
