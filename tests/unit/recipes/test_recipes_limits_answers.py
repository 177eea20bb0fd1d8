"""What `lookup_limit` says, word for word: the answer's text and JSON, and every refusal's message.

Mutation testing (docs/mutation.md) found these pinned only by their kind; `forgeflow recipe limits`
prints them as they are, so a changed word is a changed user-facing answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from forgeflow.errors import DataError
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes import limits
from forgeflow.recipes.limits import LimitRow, lookup_limit

K = 1024
QUOTE_32K = (
    "If you use a dataset where all records have 32k context length, and for example, run for 5 epochs, "
    "you can have up to 100k records."
)


def test_a_record_limit_at_fractional_epochs_describes_its_scaling() -> None:
    answer = lookup_limit(NovaModel.LITE, Technique.SFT_FULL, "text", 32 * K, 2.5)
    assert answer.value == 200_000  # floor(100,000 × 5 / 2.5)
    assert answer.describe() == (
        "up to 200000 records at 2.50 epochs (SFT dataset limits, 32k context, Nova lite, sft-full, text: "
        "100000 records at 5 epochs, scaled by 5/2.50)"
    )
    assert answer.to_dict() == {
        "kind": "records",
        "epochs": 2.5,
        "max_records": 200_000,
        "row": {
            "table": "SFT dataset limits",
            "context": 32 * K,
            "models": ["lite"],
            "techniques": ["sft-full"],
            "modality": "text",
            "kind": "records",
            "value": 100_000,
            "days": None,
            "quote": QUOTE_32K,
        },
    }


def test_one_epoch_is_singular_and_a_shared_row_names_every_model_and_technique() -> None:
    answer = lookup_limit(NovaModel.MICRO, Technique.SFT_LORA, "text", 32 * K, 1)
    assert answer.describe() == (
        "up to 500000 records at 1 epoch (SFT dataset limits, 32k context, Nova micro, sft-full and "
        "sft-lora, text: 100000 records at 5 epochs, scaled by 5/1)"
    )
    shared = lookup_limit(NovaModel.PRO, Technique.SFT_LORA, "text", 64 * K, 5)
    assert shared.row.title() == "SFT dataset limits, 64k context, Nova pro, sft-full and sft-lora, text"


def test_a_time_estimate_describes_samples_within_days() -> None:
    answer = lookup_limit(NovaModel.PRO, Technique.DPO_LORA, "multimodal", 16 * K, 1)
    assert answer.describe() == (
        "time estimate, not a record limit: about 100000 samples within 4 days at 1 epoch (DPO dataset "
        "limits, 16k context, Nova pro, dpo-lora, multimodal: 20000 samples within 4 days at 5 epochs)"
    )
    assert answer.to_dict()["samples_within_days"] == 100_000
    assert "max_records" not in answer.to_dict()
    assert answer.to_dict()["row"]["days"] == 4


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((NovaModel.LITE, Technique.SFT_FULL, "text", 0, 5), "LIMITS_UNSUPPORTED",
         "context must be a positive token count, got 0"),
        ((NovaModel.LITE, Technique.SFT_FULL, "text", 1, 0), "LIMITS_UNSUPPORTED",
         "epochs must be positive, got 0"),
        ((NovaModel.LITE, Technique.SFT_FULL, "text", 1, -1), "LIMITS_UNSUPPORTED",
         "epochs must be positive, got -1"),
        ((NovaModel.LITE, Technique.SFT_FULL, "text", 1, float("nan")), "LIMITS_UNSUPPORTED",
         "epochs must be positive, got nan"),
        ((NovaModel.MICRO, Technique.DPO_FULL, "multimodal", 1, 1), "LIMITS_UNSUPPORTED",
         "Nova micro is text only: no multimodal dataset limit (and no multimodal training)"),
        ((NovaModel.LITE_2, Technique.SFT_FULL, "text", 1, 1), "LIMITS_UNDOCUMENTED",
         "no documented dataset limit for Nova 2.0 Lite: the SageMaker dataset-limit tables cover "
         "Nova 1.0 Micro, Lite and Pro only"),
        ((NovaModel.LITE, Technique.SFT_LORA, "text", 64 * K, 1), "LIMITS_UNSUPPORTED",
         'SFT dataset limits, 64k context, Nova lite, sft-lora, text is not supported: '
         '"LoRA is not supported at 64k for Nova Lite."'),
        ((NovaModel.PRO, Technique.SFT_FULL, "text", 64 * K + 1, 5), "LIMITS_UNSUPPORTED",
         "context 65537 is above the largest documented SFT context (65536) for Nova pro sft-full text"),
    ],
)  # fmt: skip
def test_every_refusal_names_its_reason(args: tuple[Any, ...], code: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        lookup_limit(*args)
    assert (caught.value.code, str(caught.value)) == (code, message)


def test_the_smallest_context_and_exactly_a_rows_context_use_that_row() -> None:
    assert lookup_limit(NovaModel.PRO, Technique.SFT_FULL, "text", 1, 5).row.context == 32 * K
    assert lookup_limit(NovaModel.PRO, Technique.SFT_FULL, "text", 64 * K, 5).value == 17_000


def _row(**changes: object) -> LimitRow:
    base = {
        "method": "sft", "context": 32 * K, "models": ("lite",), "techniques": ("sft-full",),
        "modality": "text", "kind": "records", "value": 100, "days": None, "quote": "q",
    }  # fmt: skip
    return LimitRow(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "row",
    [_row(method="dpo"), _row(models=("pro",)), _row(techniques=("sft-lora",)), _row(modality="multimodal")],
    ids=["method", "model", "technique", "modality"],
)
def test_a_table_without_a_matching_row_says_which_query_has_none(
    monkeypatch: pytest.MonkeyPatch, row: LimitRow
) -> None:
    # Every real query has a row (a text-only model is refused first): a table edit must not change that
    # silently, and each of the four keys must match for a row to count.
    monkeypatch.setattr(limits, "limit_rows", lambda: [row])
    with pytest.raises(DataError) as caught:
        lookup_limit(NovaModel.LITE, Technique.SFT_FULL, "text", 1, 5)
    assert (caught.value.code, str(caught.value)) == (
        "LIMITS_UNSUPPORTED",
        "no documented dataset limit for SFT Nova lite sft-full text",
    )


def test_a_table_row_without_a_value_is_a_table_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "limit_rows", lambda: [_row(value=None)])
    with pytest.raises(
        ValueError, match=r"^limits.yaml: row SFT dataset limits, 32k context, .* has no value$"
    ):
        lookup_limit(NovaModel.LITE, Technique.SFT_FULL, "text", 1, 5)


def test_the_nearest_larger_row_wins_whatever_the_table_order(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [_row(context=64 * K, value=50), _row(context=16 * K, value=300), _row(context=32 * K, value=100)]
    monkeypatch.setattr(limits, "limit_rows", lambda: rows)
    assert lookup_limit(NovaModel.LITE, Technique.SFT_FULL, "text", 16 * K + 1, 5).value == 100
    with pytest.raises(DataError, match=r"above the largest documented SFT context \(65536\)"):
        lookup_limit(NovaModel.LITE, Technique.SFT_FULL, "text", 64 * K + 1, 5)


def test_a_row_shared_by_two_models_names_both() -> None:
    # No documented row covers two models today; the title must still name each if one ever does.
    assert (
        _row(models=("micro", "lite")).title()
        == "SFT dataset limits, 32k context, Nova micro/lite, sft-full, text"
    )
