"""The seed's dataset-limit tables, row by row (transcribed here independently of limits.yaml), and the
documented treatment of other contexts and epoch counts."""

from __future__ import annotations

import pytest

from forgeflow.errors import DataError
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.limits import lookup_limit

K = 1024
# (method table context, model, techniques, modality, records at 5 epochs)
RECORD_ROWS = [
    (32 * K, "micro", ["sft-full", "sft-lora"], "text", 100_000),
    (32 * K, "lite", ["sft-full"], "text", 100_000),
    (32 * K, "lite", ["sft-full"], "multimodal", 50_000),
    (32 * K, "lite", ["sft-lora"], "text", 100_000),
    (32 * K, "lite", ["sft-lora"], "multimodal", 90_000),
    (32 * K, "pro", ["sft-full"], "text", 40_000),
    (32 * K, "pro", ["sft-full"], "multimodal", 30_000),
    (32 * K, "pro", ["sft-lora"], "text", 40_000),
    (32 * K, "pro", ["sft-lora"], "multimodal", 35_000),
    (64 * K, "micro", ["sft-full", "sft-lora"], "text", 50_000),
    (64 * K, "lite", ["sft-full"], "text", 50_000),
    (64 * K, "lite", ["sft-full"], "multimodal", 30_000),
    (64 * K, "pro", ["sft-full", "sft-lora"], "text", 17_000),
    (64 * K, "pro", ["sft-full", "sft-lora"], "multimodal", 15_000),
    (16 * K, "micro", ["dpo-full"], "text", 120_000),
    (16 * K, "micro", ["dpo-lora"], "text", 125_000),
    (16 * K, "lite", ["dpo-full"], "text", 130_000),
    (16 * K, "lite", ["dpo-lora"], "text", 140_000),
    (16 * K, "pro", ["dpo-full"], "text", 45_000),
    (16 * K, "pro", ["dpo-lora"], "text", 55_000),
    (32 * K, "micro", ["dpo-full"], "text", 45_000),
    (32 * K, "micro", ["dpo-lora"], "text", 50_000),
    (32 * K, "lite", ["dpo-full"], "text", 55_000),
    (32 * K, "lite", ["dpo-full"], "multimodal", 35_000),
    (32 * K, "lite", ["dpo-lora"], "text", 60_000),
    (32 * K, "lite", ["dpo-lora"], "multimodal", 35_000),
    (32 * K, "pro", ["dpo-full"], "text", 20_000),
    (32 * K, "pro", ["dpo-full"], "multimodal", 16_000),
    (32 * K, "pro", ["dpo-lora"], "text", 22_000),
    (32 * K, "pro", ["dpo-lora"], "multimodal", 18_000),
]
# "you can complete N samples within D days": time estimates, never record limits
TIME_ROWS = [
    ("lite", "dpo-full", 20_000, 2),
    ("lite", "dpo-lora", 20_000, 2),
    ("pro", "dpo-full", 20_000, 4),
    ("pro", "dpo-lora", 20_000, 4),
]


def _row_id(row: tuple[int, str, list[str], str, int]) -> str:
    return f"{row[0] // K}k-{row[1]}-{'+'.join(row[2])}-{row[3]}"


@pytest.mark.parametrize("row", RECORD_ROWS, ids=_row_id)
def test_recipes_limits_seed_row(row: tuple[int, str, list[str], str, int]) -> None:
    context, model, techniques, modality, records = row
    for technique in techniques:
        answer = lookup_limit(NovaModel(model), Technique(technique), modality, context, 5)
        assert answer.is_record_limit
        assert answer.value == records
        assert answer.row.context == context
        assert f"{records // 1000}k records" in answer.row.quote


@pytest.mark.parametrize(("model", "technique", "samples", "days"), TIME_ROWS)
def test_recipes_limits_time_estimate_rows(model: str, technique: str, samples: int, days: int) -> None:
    answer = lookup_limit(NovaModel(model), Technique(technique), "multimodal", 16 * K, 5)
    assert not answer.is_record_limit
    assert (answer.value, answer.row.days) == (samples, days)
    assert "time estimate, not a record limit" in answer.describe()
    assert "samples_within_days" in answer.to_dict()


@pytest.mark.parametrize("modality", ["text", "multimodal"])
def test_recipes_limits_lite_lora_64k_unsupported(modality: str) -> None:
    with pytest.raises(DataError, match="LoRA is not supported at 64k for Nova Lite") as caught:
        lookup_limit(NovaModel.LITE, Technique.SFT_LORA, modality, 64 * K, 5)
    assert caught.value.code == "LIMITS_UNSUPPORTED"


def test_recipes_limits_context_between_rows_uses_next_larger() -> None:
    at_32k = lookup_limit(NovaModel.PRO, Technique.SFT_FULL, "text", 32 * K + 1, 5)
    assert (at_32k.row.context, at_32k.value) == (64 * K, 17_000)
    small = lookup_limit(NovaModel.PRO, Technique.SFT_FULL, "text", 2000, 5)
    assert (small.row.context, small.value) == (32 * K, 40_000)
    dpo = lookup_limit(NovaModel.LITE, Technique.DPO_FULL, "text", 16 * K + 1, 5)
    assert (dpo.row.context, dpo.value) == (32 * K, 55_000)


def test_recipes_limits_context_above_the_table_is_unsupported() -> None:
    with pytest.raises(DataError, match="above the largest documented SFT context"):
        lookup_limit(NovaModel.PRO, Technique.SFT_FULL, "text", 64 * K + 1, 5)
    with pytest.raises(DataError, match="above the largest documented DPO context"):
        lookup_limit(NovaModel.LITE, Technique.DPO_LORA, "text", 32 * K + 1, 5)


@pytest.mark.parametrize(
    ("epochs", "expected"), [(1, 500_000), (2, 250_000), (3, 166_666), (5, 100_000), (10, 50_000)]
)
def test_recipes_limits_records_scale_with_five_over_epochs(epochs: int, expected: int) -> None:
    answer = lookup_limit(NovaModel.LITE, Technique.SFT_FULL, "text", 32 * K, epochs)
    assert answer.value == expected


def test_recipes_limits_unsupported_combinations() -> None:
    with pytest.raises(DataError, match="text only"):
        lookup_limit(NovaModel.MICRO, Technique.SFT_LORA, "multimodal", 8 * K, 1)
    with pytest.raises(DataError) as caught:
        lookup_limit(NovaModel.LITE_2, Technique.SFT_LORA, "text", 8 * K, 1)
    assert caught.value.code == "LIMITS_UNDOCUMENTED"
    with pytest.raises(DataError):
        lookup_limit(NovaModel.LITE, Technique.SFT_LORA, "text", 8 * K, 0)
