"""Pre-flight: method/modality fit, long records, dataset limits, cost estimate and budget."""

from __future__ import annotations

from typing import Any

import pytest

from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.cost import PriceTable
from forgeflow.recipes.preflight import preflight
from forgeflow.recipes.render import RenderedRecipe, render_recipe


def _stats(records: int = 10_000, mean: float = 1000.0, longest: int = 3000, **extra: Any) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "method": "sft",
        "modality": "text",
        "records": records,
        "est_tokens": {"total": int(records * mean), "mean": mean, "max": longest},
        "longest_record": {"line": 42, "est_tokens": longest, "characters": longest * 4},
        "tokens_over": {"1024": 100, "2048": 20, "4096": 3, "8192": 1, "16384": 0, "32768": 0, "65536": 0},
    }
    stats.update(extra)
    return stats


def _codes(items: list[Any]) -> list[str]:
    return [item.code for item in items]


def _render(**config: Any) -> RenderedRecipe:
    return render_recipe(TrainingConfig(**config))


def test_recipes_preflight_passes_a_plain_run() -> None:
    verdict = preflight(_render(), _stats(), budget_usd=10_000)
    assert verdict.ok, verdict.problems
    data = verdict.to_dict()
    assert data["ok"] is True
    estimate = data["estimate"]
    assert estimate["instances"] == 4
    assert estimate["instance_type"] == "ml.p5.48xlarge"
    assert estimate["price_per_instance_hour"] == pytest.approx(98.32)
    # usd = instances × hours × price
    assert estimate["usd"] == pytest.approx(4 * estimate["hours"] * 98.32, rel=1e-3)
    assert estimate["total_usd"] == pytest.approx(estimate["usd"] + estimate["smoke"]["usd"], abs=0.02)
    assert data["limits"]["max_records"] == 250_000  # Lite LoRA text 32k, 2 epochs → 100k × 5/2


def test_recipes_preflight_refuses_over_budget_and_says_why() -> None:
    verdict = preflight(_render(), _stats(records=100_000, mean=5000), budget_usd=100)
    assert not verdict.ok
    assert _codes(verdict.problems) == ["OVER_BUDGET"]
    assert "exceeds the budget of 100.00 USD" in verdict.problems[0].message


def test_recipes_preflight_config_budget_is_the_stricter_one() -> None:
    verdict = preflight(_render(budget_usd=100), _stats(), budget_usd=1_000_000)
    assert _codes(verdict.problems) == ["OVER_BUDGET"]
    assert verdict.estimate.budget_usd == 100


def test_recipes_preflight_price_override_changes_the_estimate() -> None:
    cheap = preflight(_render(prices={"ml.p5.48xlarge": 1.0}), _stats(), budget_usd=None)
    default = preflight(_render(), _stats(), budget_usd=None)
    assert cheap.estimate.cost.price_source == "run config override"
    assert cheap.estimate.cost.usd == pytest.approx(default.estimate.cost.usd / 98.32, rel=1e-2)
    table = PriceTable.default().with_overrides({"ml.p5.48xlarge": 2.0})
    assert (
        preflight(_render(), _stats(), budget_usd=None, prices=table).estimate.cost.price_per_instance_hour
        == 2.0
    )


def test_recipes_preflight_unknown_price_refuses_only_with_a_budget() -> None:
    # ml.g6.12xlarge has a documented recipe but no price in the shipped table.
    rendered = _render(model=NovaModel.MICRO, instance_type="ml.g6.12xlarge", replicas=1)
    with_budget = preflight(rendered, _stats(), budget_usd=50)
    assert "ESTIMATE_UNAVAILABLE" in _codes(with_budget.problems)
    without = preflight(rendered, _stats(), budget_usd=None)
    assert without.ok
    assert "ESTIMATE_UNAVAILABLE" in _codes(without.warnings)


def test_recipes_preflight_reports_long_records_with_count_and_worst_line() -> None:
    rendered = _render(overrides={"training_config.max_length": 8192})
    verdict = preflight(rendered, _stats(longest=9000), budget_usd=None)
    assert _codes(verdict.problems) == ["RECORDS_TOO_LONG"]
    message = verdict.problems[0].message
    assert "1 record exceeds max_length 8192" in message
    assert "line 42" in message
    # Between the counted context lengths the count is an upper bound.
    between = preflight(
        _render(overrides={"training_config.max_length": 3072}), _stats(longest=9000), budget_usd=None
    )
    assert "at most 20 records exceed max_length 3072" in between.problems[0].message
    allowed = preflight(
        _render(overrides={"training_config.max_length": 8192}, allow_truncation=True),
        _stats(longest=9000),
        budget_usd=None,
    )
    assert allowed.ok
    assert "RECORDS_TOO_LONG" in _codes(allowed.warnings)


def test_recipes_preflight_refuses_over_the_dataset_limit_quoting_the_row() -> None:
    rendered = _render(
        model=NovaModel.PRO, technique=Technique.SFT_FULL, overrides={"training_config.trainer.max_epochs": 5}
    )
    verdict = preflight(rendered, _stats(records=40_001, mean=10), budget_usd=None)
    assert _codes(verdict.problems) == ["DATASET_LIMIT"]
    assert "you can have up to 40k records" in verdict.problems[0].message
    assert preflight(rendered, _stats(records=40_000, mean=10), budget_usd=None).ok


def test_recipes_preflight_method_and_modality_must_fit() -> None:
    verdict = preflight(_render(), _stats(method="dpo"), budget_usd=None)
    assert "METHOD_MISMATCH" in _codes(verdict.problems)
    micro = preflight(_render(model=NovaModel.MICRO), _stats(modality="multimodal"), budget_usd=None)
    assert "MODALITY_UNSUPPORTED" in _codes(micro.problems)


def test_recipes_preflight_time_estimate_rows_warn_not_refuse() -> None:
    rendered = _render(technique=Technique.DPO_LORA)
    verdict = preflight(
        rendered, _stats(method="dpo", modality="multimodal", records=500_000, mean=10), budget_usd=None
    )
    assert verdict.ok
    assert "TIME_ESTIMATE" in _codes(verdict.warnings)


def test_recipes_preflight_nova2_epochs_come_from_max_steps() -> None:
    rendered = _render(model=NovaModel.LITE_2, overrides={"training_config.max_steps": 50})
    verdict = preflight(rendered, _stats(records=800), budget_usd=None)
    # 50 steps × 32 records per step over 800 records = 2 epochs; Nova 2.0 has no documented limit row.
    assert verdict.recipe["epochs_effective"] == 2.0
    assert verdict.estimate.sizing.tokens_total == 50 * 32 * 1000
    assert "LIMITS_UNDOCUMENTED" in _codes(verdict.warnings)
    assert verdict.ok


def test_recipes_preflight_without_stats_checks_nothing_and_says_so() -> None:
    verdict = preflight(_render(), None, budget_usd=10)
    assert verdict.ok
    assert _codes(verdict.warnings) == ["NO_STATS"]
    assert verdict.to_dict()["estimate"] == {"budget_usd": 10, "total_usd": None}
    empty = preflight(_render(), _stats(records=0), budget_usd=None)
    assert empty.ok is False
    assert empty.to_dict()["estimate"] == {}


def test_recipes_preflight_estimate_keys_keep_the_report_order() -> None:
    priced = preflight(_render(), _stats(), budget_usd=10_000).estimate
    assert list(priced.to_dict()) == [
        "currency",
        "region",
        "instance_type",
        "instances",
        "records",
        "epochs",
        "tokens_per_epoch",
        "tokens_total",
        "overhead_hours_per_job",
        "max_runtime_seconds",
        "budget_usd",
        "throughput_tokens_per_second_per_instance",
        "throughput_source",
        "price_per_instance_hour",
        "price_source",
        "hours",
        "usd",
        "smoke",
        "total_usd",
    ]
    assert priced.total_usd == priced.to_dict()["total_usd"]
    unpriced = preflight(
        _render(model=NovaModel.MICRO, instance_type="ml.g6.12xlarge", replicas=1), _stats(), budget_usd=None
    ).estimate.to_dict()
    assert list(unpriced) == list(priced.to_dict())
    assert (unpriced["hours"], unpriced["usd"], unpriced["total_usd"]) == (None, None, None)
    assert unpriced["smoke"] == {"hours": None, "usd": None}


def test_recipes_preflight_more_replicas_cost_more_per_hour_but_take_less_time() -> None:
    four = preflight(_render(replicas=4), _stats(records=50_000, mean=4000), budget_usd=None).estimate
    sixteen = preflight(_render(replicas=16), _stats(records=50_000, mean=4000), budget_usd=None).estimate
    assert sixteen.cost.hours < four.cost.hours
    assert sixteen.sizing.instances == 16


def test_recipes_preflight_tokens_follow_the_record_count_given() -> None:
    # The pipeline passes the mix's record count with the customer dataset's token statistics.
    stats = _stats(records=10_000, mean=1000.0)
    stats["records"] = 25_000
    estimate = preflight(_render(), stats, budget_usd=None).estimate
    assert estimate.sizing.tokens_per_epoch == 25_000_000
    assert estimate.sizing.tokens_total == 50_000_000  # 2 epochs in the Lite LoRA base recipe


def test_recipes_preflight_refuses_a_job_longer_than_its_stopping_condition() -> None:
    # 1,000,000 records × 8,000 tokens × 2 epochs on 4 p5: far beyond one day.
    stats = _stats(records=1_000_000, mean=8000.0)
    verdict = preflight(_render(), stats, budget_usd=None)
    assert "RUNTIME_TOO_SHORT" in _codes(verdict.problems)
    assert verdict.estimate.sizing.max_runtime_seconds == 86_400
    longer = preflight(_render(max_runtime_seconds=28 * 86_400), stats, budget_usd=None)
    assert "RUNTIME_TOO_SHORT" not in _codes(longer.problems)
