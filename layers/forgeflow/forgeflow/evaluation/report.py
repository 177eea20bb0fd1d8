"""A run's report: `runs/<run_id>/report/report.json`, everything a person needs to judge the run.

`build_report` reads the evaluation summary (`evaluation/summary.json`) generically: every suite it holds,
every metric of each suite, the gate and its verdict, the cost, and any top-level key this module does not
know yet (kept under `other`, so a new summary key shows up in the report without a change here). To that
it adds the mix shares, declared against achieved (from `mix/mix_report.json`), and the recipe's SHA-256.

Nothing is invented: a number the summary does not hold is `None` in report.json (the HTML says "not
measured" for a score, "unknown" for a cost or verdict), and the summary's own reason is kept as `note`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

REPORT_VERSION = 1
REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
# The summary keys this module renders itself; any other top-level key goes to `other` as it is.
_KNOWN_SUMMARY_KEYS = frozenset(
    {"run_id", "emulated", "domain_task", "suites", "classification", "gate", "jobs", "cost"}
)
# Per-label F1 histogram: ten bins of width 0.1, the last one closed ([0.9, 1.0]).
F1_BINS = 10
CLASSIFICATION_SCORES = ("macro_f1", "micro_f1", "weighted_f1", "accuracy")


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _delta(base: float | None, trained: float | None) -> float | None:
    return None if base is None or trained is None else round(trained - base, 6)


def _metric_rows(base: dict[str, Any], trained: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric either target reports, alphabetically, with its delta (None if one side lacks it)."""
    rows = []
    for name in sorted(set(base) | set(trained)):
        b, t = _number(base.get(name)), _number(trained.get(name))
        rows.append({"name": name, "base": b, "trained": t, "delta": _delta(b, t)})
    return rows


def suite_entry(name: str, document: Any) -> dict[str, Any]:
    """One summary suite as the report shows it: the headline, every metric, why anything is missing."""
    suite = _mapping(document)
    base, trained = _number(suite.get("base")), _number(suite.get("trained"))
    delta = _number(suite.get("delta"))
    if delta is None:
        delta = _delta(base, trained)
    return {
        "suite": name,
        "metric": suite.get("metric") or None,
        "base": base,
        "trained": trained,
        "delta": delta,
        "delta_points": None if delta is None else round(delta * 100, 4),
        "note": suite.get("note"),
        "emulated": suite.get("emulated") is True,
        "not_measured": _mapping(suite.get("not_measured")),
        "metrics": _metric_rows(_mapping(suite.get("base_metrics")), _mapping(suite.get("trained_metrics"))),
    }


def verdict_entry(gate: Any) -> dict[str, Any]:
    """The gate's verdict and rows as the summary holds them; verdict None when there was no gate."""
    document = _mapping(gate)
    verdict = document.get("verdict")
    return {
        "verdict": verdict if isinstance(verdict, str) else None,
        "failed": [str(item) for item in document.get("failed") or []],
        "unmeasured": [str(item) for item in document.get("unmeasured") or []],
        "gates": [_mapping(row) for row in document.get("gates") or []],
    }


def f1_histogram(f1_scores: list[float]) -> list[int]:
    """How many labels have an F1 in each tenth of [0, 1] (1.0 falls in the last bin)."""
    counts = [0] * F1_BINS
    for f1 in f1_scores:
        counts[min(max(int(f1 * F1_BINS), 0), F1_BINS - 1)] += 1
    return counts


def _classification_target(metrics: Any) -> dict[str, Any]:
    document = _mapping(metrics)
    per_label = _mapping(document.get("per_label"))
    f1 = {
        str(label): score
        for label, row in sorted(per_label.items())
        if (score := _number(_mapping(row).get("f1"))) is not None
    }
    return {
        "scores": {key: _number(document.get(key)) for key in CLASSIFICATION_SCORES},
        "labels": document.get("labels", len(per_label)),
        "records": document.get("records"),
        "out_of_set_predictions": document.get("out_of_set_predictions"),
        "per_label_f1": f1,
        "f1_histogram": f1_histogram(list(f1.values())),
        "top_confusions": [_mapping(row) for row in document.get("top_confusions") or []],
    }


def classification_entry(classification: Any) -> dict[str, Any]:
    """base/trained → scores, per-label F1 and its histogram, top confusions ({} for a free-text task)."""
    return {str(target): _classification_target(m) for target, m in _mapping(classification).items()}


def cost_entry(cost: Any, estimate_usd: float | None) -> dict[str, Any]:
    """The summary's cost when it has one; otherwise the pre-flight estimate and an unknown actual cost."""
    document = _mapping(cost)
    estimate = _number(document.get("estimate_usd"))
    return {
        **document,
        "estimate_usd": estimate if estimate is not None else estimate_usd,
        "actual_usd": _number(document.get("actual_usd")),
        "jobs": [_mapping(job) for job in document.get("jobs") or []],
    }


def mix_entry(mix_report: Any) -> dict[str, Any] | None:
    """Each source's declared share of train.jsonl (the plan's weights) against the achieved one, in the
    plan's unit (records or tokens); None without a readable mix report."""
    document = _mapping(mix_report)
    if not isinstance(document.get("sources"), list):
        return None
    sources = []
    for source in document["sources"]:
        entry = _mapping(source)
        sources.append(
            {
                "name": str(entry.get("name", "")),
                "role": entry.get("role"),
                "declared_share": _number(entry.get("target_share")),
                "achieved_share": _number(entry.get("achieved_share")),
                "mix_share": _number(entry.get("mix_share")),
                "selected": entry.get("selected"),
            }
        )
    train = _mapping(document.get("train"))
    return {
        "unit": document.get("unit"),
        "seed": document.get("seed"),
        "train_records": train.get("records"),
        "sources": sources,
    }


def build_report(
    summary: Mapping[str, Any],
    *,
    mix_report: Mapping[str, Any] | None = None,
    recipe: bytes | None = None,
    estimate_usd: float | None = None,
    sources: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """report.json from the evaluation summary, the mix report and the recipe's bytes (each may be missing).

    `sources` names where each input came from (URIs), kept in the report for provenance.
    """
    document = dict(summary)
    return {
        "report_version": REPORT_VERSION,
        "run_id": document.get("run_id"),
        "emulated": document.get("emulated") is True,
        "domain_task": document.get("domain_task"),
        "verdict": verdict_entry(document.get("gate")),
        "suites": [suite_entry(str(name), suite) for name, suite in _mapping(document.get("suites")).items()],
        "classification": classification_entry(document.get("classification")),
        "cost": cost_entry(document.get("cost"), estimate_usd),
        "mix": mix_entry(mix_report),
        "recipe": {"sha256": hashlib.sha256(recipe).hexdigest() if recipe is not None else None},
        "jobs": _mapping(document.get("jobs")),
        "sources": dict(sources or {}),
        "other": {key: value for key, value in document.items() if key not in _KNOWN_SUMMARY_KEYS},
    }
