"""The forgetting gate: trained against base per suite, and the verdict `promoted` or `regressed`.

Each gate bounds one suite's headline delta in points (a score in [0, 1] × 100): `max_drop` fails when
the score fell by more than the threshold, `min_gain` when it rose by less. Defaults (issue #13):
MMLU accuracy drop ≤ 2.0 points, general-suite F1 drop ≤ 2.0 points, domain macro-F1 gain ≥ 0.0 points;
a run config overrides them with `gates: {mmlu_max_drop, general_max_drop, domain_min_gain}`.

A gate whose suite was not measured (MMLU offline, a suite the run does not have) neither passes nor
fails: it is listed with status `not_measured` and the reason, and the verdict says so in `unmeasured`.
The verdict is `regressed` when any measured gate failed, else `promoted`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Rule = Literal["max_drop", "min_gain"]
POINTS = 100.0


@dataclass(frozen=True)
class Gate:
    """One bound: `name` is the run-config key that sets `threshold` (points)."""

    name: str
    suite: str
    rule: Rule
    threshold: float


DEFAULT_GATES = (
    Gate("mmlu_max_drop", "mmlu", "max_drop", 2.0),
    Gate("general_max_drop", "general", "max_drop", 2.0),
    Gate("domain_min_gain", "classification", "min_gain", 0.0),
)


def gates_for(overrides: dict[str, float] | None, defaults: dict[str, float] | None = None) -> list[Gate]:
    """The gates with the stack's thresholds (`defaults`, the GateThresholds parameters) and the run
    config's over them; an unknown key is a ValueError naming it."""
    overrides = {**(defaults or {}), **(overrides or {})}
    known = {gate.name: gate for gate in DEFAULT_GATES}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(f"unknown gate {', '.join(unknown)}: expected some of {', '.join(known)}")
    return [
        Gate(gate.name, gate.suite, gate.rule, float(overrides.get(gate.name, gate.threshold)))
        for gate in DEFAULT_GATES
    ]


def _check(gate: Gate, headline: dict[str, Any] | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "gate": gate.name,
        "suite": gate.suite,
        "rule": gate.rule,
        "threshold": gate.threshold,
    }
    delta = headline.get("delta") if headline else None
    if delta is None:
        reason = (headline or {}).get("note") or f"the run has no {gate.suite} suite"
        return {**row, "metric": (headline or {}).get("metric"), "value": None, "status": "not_measured",
                "reason": reason}  # fmt: skip
    value = round(delta * POINTS, 6)
    if gate.rule == "max_drop":
        value = round(-value, 6)  # the drop, in points (negative: the score rose)
        passed = value <= gate.threshold
    else:
        passed = value >= gate.threshold
    return {**row, "metric": headline.get("metric") if headline else None, "value": value,
            "status": "passed" if passed else "failed"}  # fmt: skip


def verdict(headlines: dict[str, dict[str, Any]], gates: list[Gate]) -> dict[str, Any]:
    """Every gate's value and status, the failed ones, the unmeasured ones, and the verdict."""
    rows = [_check(gate, headlines.get(gate.suite)) for gate in gates]
    failed = [row for row in rows if row["status"] == "failed"]
    return {
        "verdict": "regressed" if failed else "promoted",
        "gates": rows,
        "failed": [f"{row['gate']}: {row['value']} points (threshold {row['threshold']})" for row in failed],
        "unmeasured": [f"{row['gate']}: {row['reason']}" for row in rows if row["status"] == "not_measured"],
    }
