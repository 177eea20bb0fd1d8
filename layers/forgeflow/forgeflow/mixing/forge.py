"""Nova Forge data mixing: Nova-managed categories (`nova:<category>`) rendered, never mixed physically.

Nova-curated data is only reachable through Nova Forge (a subscription) on SageMaker HyperPod or
serverless training; serverful training jobs such as this pipeline's ml.p5.48xlarge jobs cannot read it,
so there the engine blends curated JSONL itself and a plan naming Nova categories is refused.

Forge sees the uploaded training file as "customer data". A plan's weights are shares of the final mix,
so the physically mixed sources together become `customer_data_percent`, and each category's weight is
rendered relative to the Nova share (`nova_<category>_percent`, summing to exactly 100), as the SageMaker
SDK's `DataMixingConfig` requires.
"""

from __future__ import annotations

import json
from enum import StrEnum
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

from forgeflow.errors import DataError
from forgeflow.mixing.apportion import largest_remainder, seeded_order
from forgeflow.mixing.plan import MixPlan
from forgeflow.nova import Method, NovaModel

# Percentages are rendered in hundredths of a percent: Forge checks that the category values sum to 100.
_BASIS_POINTS = 10_000
# Where the serverless restrictions are documented: "supported for Nova 2 Lite text-only SFT, with both
# LoRA and full-rank fine-tuning".
FORGE_SMTJ_PAGE = "Nova 2 user guide, 'Data mixing on SageMaker Training Jobs' (nova-forge-sft-datamix-smtj)"


class Compute(StrEnum):
    """Where the training job runs; decides whether Nova-managed categories are available."""

    SERVERFUL = "serverful"
    SERVERLESS = "serverless"
    HYPERPOD = "hyperpod"


@cache
def known_categories() -> dict[str, tuple[str, ...]]:
    """The Nova-managed categories by modality, from the packaged data table."""
    raw = resources.files("forgeflow.mixing").joinpath("forge_categories.json").read_text("utf-8")
    table = json.loads(raw)
    return {modality: tuple(table[modality]) for modality in ("text", "multimodal")}


def _number(basis_points: int) -> int | float:
    """Whole percentages as ints (as the SDK writes them), others with two decimals."""
    return basis_points // 100 if basis_points % 100 == 0 else basis_points / 100


def forge_data_mixing(plan: MixPlan) -> dict[str, Any] | None:
    """The Forge data-mixing configuration for the plan's `nova:` sources, or None when it names none."""
    nova = plan.nova
    if not nova:
        return None
    allowed = known_categories()
    every = allowed["text"] + allowed["multimodal"]
    for source in nova:
        if source.category not in every:
            raise DataError(
                f"source {source.name!r}: unknown Nova category {source.uri!r}",
                code="UNKNOWN_NOVA_CATEGORY",
                hint=f"use one of: {', '.join(every)} (forgeflow/mixing/forge_categories.json)",
            )
    total = sum(s.exact_weight for s in plan.sources)
    nova_weight = sum(s.exact_weight for s in nova)
    customer_bp = round((total - nova_weight) / total * _BASIS_POINTS)
    if not 0 < customer_bp < _BASIS_POINTS:
        side = "physically mixed sources" if customer_bp <= 0 else "Nova categories"
        raise DataError(
            f"the {side} would get 0 % of the mix after rounding to 0.01 %",
            code="FORGE_SHARE_ROUNDS_TO_ZERO",
            hint="raise the smaller weights or remove those sources",
        )
    names = [s.category for s in nova]
    category_bp = largest_remainder(
        _BASIS_POINTS, [s.exact_weight for s in nova], seeded_order(names, plan.seed, "forge")
    )
    percentages = {name: _number(bp) for name, bp in zip(names, category_bp, strict=True)}
    customer_percent = _number(customer_bp)
    hyperparameters = {"customer_data_percent": str(customer_percent)} | {
        f"nova_{name}_percent": str(value) for name, value in percentages.items()
    }
    return {
        "customer_data_percent": customer_percent,
        "nova_data_percentages": percentages,
        # Serverless jobs take these as training-job hyperparameters (SDK `to_hyperparameters`).
        "hyperparameters": hyperparameters,
        # HyperPod recipes carry them under training_config (SDK `to_recipe_config`); Forge sets every
        # category not listed here to 0.
        "recipe": {
            "training_config": {
                "data_mixing": {
                    "sources": {"customer_data": {"percent": customer_percent}, "nova_data": percentages}
                }
            }
        },
        # Both parts of the mix and who blends each (nova-forge-sft-datamix-smtj, smhp).
        "parts": _parts(plan, total),
        "mixed_by": "ForgeFlow blends the physically mixed sources into the uploaded train.jsonl "
        f"({customer_percent} % of the training mix, Forge's customer data); Amazon mixes the Nova share "
        "(nova_<category>_percent) into it at training time",
        "modality": "multimodal" if any(n in allowed["multimodal"] for n in names) else "text",
    }


def _parts(plan: MixPlan, total: Fraction | int) -> dict[str, list[dict[str, Any]]]:
    """Each source's share of the whole training mix, split by who mixes it: ForgeFlow (in train.jsonl)
    or Amazon (at training time, from the `nova_<category>_percent` hyperparameters)."""
    blended, by_amazon = [], []
    for source in plan.sources:
        share = round(float(source.exact_weight / total), 6)
        if not source.is_nova:
            blended.append({"source": source.name, "share": share})
        else:
            hyperparameter = f"nova_{source.category}_percent"
            by_amazon.append({"source": source.name, "share": share, "hyperparameter": hyperparameter})
    return {"blended_by_forgeflow": blended, "mixed_by_amazon_at_training_time": by_amazon}


def check_compute(plan: MixPlan, compute: Compute, *, method: Method, model: NovaModel) -> None:
    """Refuse a plan whose Nova-managed categories the chosen compute, method or model cannot use."""
    nova = plan.nova
    if not nova:
        return
    named = ", ".join(s.uri for s in nova)
    if compute is Compute.SERVERFUL:
        raise DataError(
            f"the plan names Nova-managed categories ({named}); only Nova Forge data mixing can add them, "
            "and it runs on SageMaker HyperPod or serverless training, not on serverful training jobs "
            "(the ml.p5.48xlarge jobs this pipeline launches cannot read Nova-curated data)",
            code="FORGE_NOT_AVAILABLE",
            hint="replace them with curated JSONL sources (uri: s3://…) that ForgeFlow mixes itself, or "
            "train with --compute hyperpod or --compute serverless under a Nova Forge subscription",
        )
    if method is Method.DPO:
        raise DataError(
            f"the plan names Nova-managed categories ({named}) for a DPO dataset; Forge data mixing "
            "supports SFT (LoRA or full-rank) only",
            code="FORGE_METHOD_UNSUPPORTED",
            hint="remove the nova: sources or blend curated DPO JSONL sources instead "
            f"(source: {FORGE_SMTJ_PAGE})",
        )
    if compute is Compute.SERVERLESS:
        if model is not NovaModel.LITE_2:
            raise DataError(
                f"serverless Forge data mixing is available for Nova 2 Lite only (model is {model.value})",
                code="FORGE_MODEL_UNSUPPORTED",
                hint=f"use --model lite-2, or --compute hyperpod (source: {FORGE_SMTJ_PAGE})",
            )
        multimodal = [s.uri for s in nova if s.category in known_categories()["multimodal"]]
        if multimodal:
            raise DataError(
                f"serverless Forge data mixing is text-only; {', '.join(multimodal)} are multimodal",
                code="FORGE_MODALITY_UNSUPPORTED",
                hint="use --compute hyperpod or remove the multimodal categories "
                f"(source: {FORGE_SMTJ_PAGE})",
            )
