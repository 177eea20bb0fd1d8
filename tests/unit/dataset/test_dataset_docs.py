"""docs/dataset.md lists every validation code with its rule and fix, as codes.yaml defines them."""

from __future__ import annotations

from pathlib import Path

from forgeflow.dataset.codes import RULES

DOCS = Path(__file__).parents[3] / "docs" / "dataset.md"


def test_every_code_is_documented_with_its_rule_and_fix() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for rule in RULES.values():
        row = f"| `{rule.code}` | {rule.severity.value} | {rule.rule.replace('|', chr(92) + '|')} |"
        assert row in text, rule.code
