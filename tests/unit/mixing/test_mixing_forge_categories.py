"""Every Nova-managed category is confirmed by a public source (issue #12: confirm or drop each one)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from forgeflow.errors import DataError
from forgeflow.mixing.forge import forge_data_mixing, known_categories
from forgeflow.mixing.plan import parse_plan


def _table() -> dict[str, Any]:
    raw = resources.files("forgeflow.mixing").joinpath("forge_categories.json").read_text("utf-8")
    table: dict[str, Any] = json.loads(raw)
    return table


def test_forge_categories_each_cite_a_known_source() -> None:
    table = _table()
    legend = table["sources"]
    # Each legend entry names a repository path (owner/name …) or the AWS page (nova-forge-sft).
    assert all(("/" in text) or ("nova-forge-sft" in text) for text in legend.values())
    for modality in ("text", "multimodal"):
        for category, cited in table[modality].items():
            assert cited, f"{category}: no source"
            assert set(cited) <= set(legend), f"{category}: unknown source {set(cited) - set(legend)}"


@pytest.mark.parametrize(
    "category",
    [
        # aws/sagemaker-python-sdk docs/model_customization/nova_data_mixing.rst
        "code", "math", "chat", "planning", "instruction-following", "reasoning", "stem", "rag", "factuality",
        # AWS Nova user guide nova-forge-sft: (agents), (reasoning-instruction-following), (rai)
        "agents", "reasoning-instruction-following", "rai",
        # aws/nova-forge-sdk README.md: nova_general_percent
        "general",
    ],
)  # fmt: skip
def test_forge_categories_confirmed_by_a_source_are_known(category: str) -> None:
    assert category in known_categories()["text"]


def test_forge_category_long_context_is_dropped() -> None:
    # No source spells a `long-context` category: the user guide only says "long context" in prose.
    assert "long-context" not in known_categories()["text"]
    plan = parse_plan(
        {
            "seed": 1,
            "sources": [
                {"name": "customer", "role": "customer", "uri": "c.jsonl", "weight": 0.75},
                {"name": "long", "uri": "nova:long-context", "weight": 0.25},
            ],
        }
    )
    with pytest.raises(DataError, match="unknown Nova category 'nova:long-context'"):
        forge_data_mixing(plan)
