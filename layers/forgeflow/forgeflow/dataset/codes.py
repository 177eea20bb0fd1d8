"""The stable validation codes: one per rule of the Converse format, each with its fix.

The table is data (`codes.yaml`, shipped with the package): codes are part of ForgeFlow's interface
(reports, tests, docs), so never rename one; add new ones. `category` maps a code to the public Nova
validator's error category, for users coming from that tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

import yaml


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"  # reported; fails the file only under --strict


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    category: str
    rule: str
    fix: str
    severity: Severity = Severity.ERROR


def _load() -> dict[str, Rule]:
    text = resources.files("forgeflow.dataset").joinpath("codes.yaml").read_text(encoding="utf-8")
    table = yaml.safe_load(text)
    return {
        code: Rule(
            code=code,
            category=entry["category"],
            rule=entry["rule"],
            fix=entry["fix"],
            severity=Severity(entry.get("severity", "error")),
        )
        for code, entry in table.items()
    }


RULES: dict[str, Rule] = _load()


def fix_for(code: str) -> str:
    return RULES[code].fix


def is_warning(code: str) -> bool:
    return RULES[code].severity is Severity.WARNING
