"""The allocation's refusals, word for word: which source is short, by how much, and the fixes that fit.

Mutation testing (docs/mutation.md) found the shortfall message and its suggested fixes pinned only in
part; each case here is computed by hand in its comment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forgeflow.errors import DataError
from forgeflow.mixing.engine import run_mix
from forgeflow.mixing.plan import parse_plan
from forgeflow.storage import Storage


def _source(root: Path, name: str, weight: float, **extra: Any) -> dict[str, Any]:
    role = "customer" if name == "customer" else "curated"
    return {"name": name, "role": role, "uri": str(root / name), "weight": weight, **extra}


def _refusal(root: Path, plan: dict[str, Any]) -> DataError:
    with pytest.raises(DataError) as caught:
        run_mix(parse_plan(plan), str(root / "out"), Storage())
    assert not (root / "out").exists()
    return caught.value


def test_a_capped_curated_source_short_of_a_fixed_total(tmp_path: Path, mixdata: Any) -> None:
    # 30 % of 1,000 needs 300 of a pool capped at 100. Weight: max share 100/1000 = 0.1 of the mix, so
    # w/(0.7 + w) = 0.1 gives w = 0.07778; total: 100 / 0.3 = 333; 300 / 100 = 3.00 passes.
    mixdata.write(tmp_path, "customer", 700)
    mixdata.write(tmp_path, "general", 120)
    plan = {
        "total": 1000,
        "sources": [_source(tmp_path, "customer", 0.7), _source(tmp_path, "general", 0.3, max_records=100)],
    }
    error = _refusal(tmp_path, plan)
    assert (error.code, error.args[0]) == (
        "SOURCE_TOO_SMALL",
        "curated source 'general' has 100 records (max_records: 100); 30.0 % of a 1,000-record mix needs 300",
    )
    assert error.hint == (
        "lower its weight to ≤ 0.07778 (now 0.3; that is ≤ 10.0 % of train.jsonl with the other weights "
        "unchanged), lower total to ≤ 333, add data, or set allow_upsample: true (it would be repeated 3.00×)"
    )


def test_a_customer_short_of_its_share_after_the_hold_out(tmp_path: Path, mixdata: Any) -> None:
    # 10 records, a 20 % hold-out (by content hash) keeps 9; 50 % of 100 needs 50. Max share 9/100, so
    # w/(0.5 + w) = 0.09 gives w = 0.04945; total: 9 / 0.5 = 18; 50 / 9 = 5.56 passes.
    mixdata.write(tmp_path, "customer", 10)
    mixdata.write(tmp_path, "general", 500)
    plan = {
        "total": 100,
        "validation_fraction": 0.2,
        "sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)],
    }
    error = _refusal(tmp_path, plan)
    assert error.args[0] == (
        "customer source 'customer' has 9 records, after holding out 1 for validation; "
        "50.0 % of a 100-record mix needs 50"
    )
    assert error.hint == (
        "lower its weight to ≤ 0.04945 (now 0.5; that is ≤ 9.0 % of train.jsonl with the other weights "
        "unchanged), lower total to ≤ 18, add data, or set allow_upsample: true (it would be repeated 5.56×)"
    )


def test_a_curated_source_short_when_every_customer_record_is_kept_once(tmp_path: Path, mixdata: Any) -> None:
    # No total: 600 customer records at 60 % make a 1,000-record mix; general needs 40 % = 400 of 150. The
    # customer amount is fixed, so general's weight may be at most 0.6 × 150 / 600 = 0.15 (share 0.2).
    mixdata.write(tmp_path, "customer", 600)
    mixdata.write(tmp_path, "general", 150)
    plan = {"sources": [_source(tmp_path, "customer", 0.6), _source(tmp_path, "general", 0.4)]}
    error = _refusal(tmp_path, plan)
    assert error.args[0] == "curated source 'general' has 150 records; 40.0 % of a 1,000-record mix needs 400"
    assert error.hint == (
        "lower its weight to ≤ 0.15 (now 0.4; that is ≤ 20.0 % of train.jsonl with the other weights "
        "unchanged), add data, or set allow_upsample: true (it would be repeated 2.67×)"
    )


def test_a_single_source_has_no_weight_to_lower(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 5)
    error = _refusal(tmp_path, {"total": 9, "sources": [_source(tmp_path, "customer", 1)]})
    assert error.args[0] == "customer source 'customer' has 5 records; 100.0 % of a 9-record mix needs 9"
    assert (
        error.hint == "lower total to ≤ 5, add data, or set allow_upsample: true (it would be repeated 1.80×)"
    )


def test_a_token_mix_counts_estimated_tokens(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 20)
    mixdata.write(tmp_path, "general", 2)
    plan = {
        "unit": "tokens",
        "sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)],
    }
    error = _refusal(tmp_path, plan)
    assert error.code == "SOURCE_TOO_SMALL"
    assert "estimated tokens;" in error.args[0]
    assert "-token mix needs" in error.args[0]


def test_an_empty_customer_after_the_hold_out_says_how_many_were_held_out(
    tmp_path: Path, mixdata: Any
) -> None:
    mixdata.write(tmp_path, "customer", 1)
    mixdata.write(tmp_path, "general", 10)
    plan = {
        "seed": 2,  # the hold-out is by content hash and seed: seed 2 holds this one record out
        "validation_fraction": 0.5,
        "sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)],
    }
    error = _refusal(tmp_path, plan)
    assert error.code == "EMPTY_CUSTOMER_SOURCE"
    assert error.args[0] == "customer source 'customer' has no training records (1 held out for validation)"
    assert error.hint == "add records, or lower validation_fraction"


def _three_tokens(record: dict[str, Any]) -> int:
    return 3


def _mix(root: Path, plan: dict[str, Any], **options: Any) -> Any:
    return run_mix(parse_plan(plan), str(root / "out"), Storage(), **options)


@pytest.mark.parametrize(("seed", "selected"), [(0, [4, 3, 3]), (1, [3, 3, 4]), (5, [3, 4, 3])])
def test_equal_remainders_go_by_the_seeded_apportion_order(
    tmp_path: Path, mixdata: Any, seed: int, selected: list[int]
) -> None:
    # 10 over three equal weights: 3⅓ each, so one source gets the 10th record. Which one follows the
    # seed (and only it: the plan is the same), so a mix is reproducible from its seed alone.
    for name in ("customer", "a", "b"):
        mixdata.write(tmp_path, name, 20)
    sources = [_source(tmp_path, name, 1) for name in ("customer", "a", "b")]
    report = _mix(tmp_path, {"seed": seed, "total": 10, "sources": sources})
    assert [source["selected"] for source in report.sources] == selected


def test_weights_that_do_not_sum_to_one_are_shares_of_their_sum(tmp_path: Path, mixdata: Any) -> None:
    # Weights 1 and 1: 50 % of 100 needs 50 of 20. Max share 20/100, so w/(1 + w) = 0.2 gives w = 0.25;
    # total: 20 / 0.5 = 40; 50 / 20 = 2.50 passes.
    mixdata.write(tmp_path, "customer", 200)
    mixdata.write(tmp_path, "general", 20)
    plan = {"total": 100, "sources": [_source(tmp_path, "customer", 1), _source(tmp_path, "general", 1)]}
    error = _refusal(tmp_path, plan)
    assert error.args[0] == "curated source 'general' has 20 records; 50.0 % of a 100-record mix needs 50"
    assert error.hint == (
        "lower its weight to ≤ 0.25 (now 1; that is ≤ 20.0 % of train.jsonl with the other weights "
        "unchanged), lower total to ≤ 40, add data, or set allow_upsample: true (it would be repeated 2.50×)"
    )


def test_shares_round_to_nearest_but_the_safe_share_rounds_down(tmp_path: Path, mixdata: Any) -> None:
    # No total, weights 1 and 2: 30 customer records at ⅓ make a 90-record mix; general needs ⅔ = 60 of
    # 12 (66.67 % prints as 66.7 %). The customer amount (30) is fixed, so general's weight may be at most
    # 1 × 12 / 30 = 0.4, a share of 0.4 / 1.4 = 28.57 %: shown rounded *down* (28.5 %), never above it.
    mixdata.write(tmp_path, "customer", 30)
    mixdata.write(tmp_path, "general", 12)
    plan = {"sources": [_source(tmp_path, "customer", 1), _source(tmp_path, "general", 2)]}
    error = _refusal(tmp_path, plan)
    assert error.args[0] == "curated source 'general' has 12 records; 66.7 % of a 90-record mix needs 60"
    assert error.hint == (
        "lower its weight to ≤ 0.4 (now 2; that is ≤ 28.5 % of train.jsonl with the other weights "
        "unchanged), add data, or set allow_upsample: true (it would be repeated 5.00×)"
    )


def test_a_fractional_token_need_is_rounded_up(tmp_path: Path, mixdata: Any) -> None:
    # 3 tokens a record. Weights 2 and 1 of 100 tokens: general needs 33⅓ (shown as 34) of its 6. Max
    # share 6/100, so w/(2 + w) = 0.06 gives w = 0.1277; total: 6 / ⅓ = 18; 33⅓ / 6 = 5.56 passes.
    mixdata.write(tmp_path, "customer", 40)
    mixdata.write(tmp_path, "general", 2)
    plan = {
        "unit": "tokens",
        "total": 100,
        "sources": [_source(tmp_path, "customer", 2), _source(tmp_path, "general", 1)],
    }
    with pytest.raises(DataError) as caught:
        _mix(tmp_path, plan, token_estimator=_three_tokens)
    assert caught.value.args[0] == (
        "curated source 'general' has 6 estimated tokens; 33.3 % of a 100-token mix needs 34"
    )
    assert caught.value.hint == (
        "lower its weight to ≤ 0.1277 (now 1; that is ≤ 6.0 % of train.jsonl with the other weights "
        "unchanged), lower total to ≤ 18, add data, or set allow_upsample: true (it would be repeated 5.56×)"
    )


def _no_customer_tokens(record: dict[str, Any]) -> int:
    return 0 if record["messages"][0]["content"][0]["text"].startswith("customer") else 3


def test_a_customer_of_zero_tokens_is_empty_even_when_upsampling_is_allowed(
    tmp_path: Path, mixdata: Any
) -> None:
    # Records but no tokens (an estimator may say 0): upsampling cannot repeat nothing into 50 tokens.
    mixdata.write(tmp_path, "customer", 5)
    mixdata.write(tmp_path, "general", 40)
    plan = {
        "unit": "tokens",
        "total": 100,
        "allow_upsample": True,
        "sources": [_source(tmp_path, "customer", 1), _source(tmp_path, "general", 1)],
    }
    with pytest.raises(DataError) as caught:
        _mix(tmp_path, plan, token_estimator=_no_customer_tokens)
    assert (caught.value.code, caught.value.args[0], caught.value.hint) == (
        "EMPTY_SOURCE",
        "customer source 'customer' has 0 estimated tokens; 50.0 % of a 100-token mix needs 50",
        "add data or remove the source",
    )


def test_the_mix_size_around_every_customer_record_rounds_half_up(tmp_path: Path, mixdata: Any) -> None:
    # No total, weights 2 and 3: 5 customer records at 40 % make a 12.5-record mix, rounded to 13, so
    # general gets 8 (a mix of 12 would give it 7).
    mixdata.write(tmp_path, "customer", 5)
    mixdata.write(tmp_path, "general", 20)
    report = _mix(tmp_path, {"sources": [_source(tmp_path, "customer", 2), _source(tmp_path, "general", 3)]})
    assert [source["selected"] for source in report.sources] == [5, 8]


def _no_general_tokens(record: dict[str, Any]) -> int:
    return 0 if record["messages"][0]["content"][0]["text"].startswith("general") else 3


def test_a_curated_source_of_zero_tokens_is_named_in_a_token_mix(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 5)
    mixdata.write(tmp_path, "general", 20)
    plan = {"unit": "tokens", "sources": [_source(tmp_path, "customer", 2), _source(tmp_path, "general", 3)]}
    with pytest.raises(DataError) as caught:
        _mix(tmp_path, plan, token_estimator=_no_general_tokens)
    assert (caught.value.code, caught.value.args[0], caught.value.hint) == (
        "EMPTY_SOURCE",
        "curated source 'general' holds no usable tokens",
        "add data under its URI, or remove the source from the plan",
    )


def test_an_empty_customer_without_a_hold_out_names_no_hold_out(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 0)
    mixdata.write(tmp_path, "general", 10)
    error = _refusal(
        tmp_path, {"sources": [_source(tmp_path, "customer", 1), _source(tmp_path, "general", 1)]}
    )
    assert (error.code, error.args[0]) == (
        "EMPTY_CUSTOMER_SOURCE",
        "customer source 'customer' has no training records",
    )
