"""The stage timeline of `forgeflow runs show`: each stage's start, duration, outcome, jobs and cost.

A stage is a group of states of `statemachine/pipeline.asl.json` (`stage_of`); its start is when its first
state was entered and its duration runs to when its last state was left (or the execution ended). Jobs
are matched to a stage by their name, `forgeflow-<run_id>-<stage>-<attempt>` (forgeflow.jobs.requests).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from forgeflow.pipeline.usage import job_stage

# Ordered: the first rule whose word is in the state's name wins ("PublishFailure" is the failure path,
# not publish). A state no rule names belongs to the stage before it.
_STAGE_RULES = (
    ("StopJobs", "failure"),
    ("PublishFailure", "failure"),
    ("Failed", "failure"),
    ("Approval", "approval"),
    ("Smoke", "smoke"),
    ("Train", "train"),
    ("Evaluat", "evaluate"),
    ("Validat", "validate"),
    ("Dataset", "validate"),
    ("Mix", "mix"),
    ("Recipe", "recipe"),
    ("Register", "register"),
    ("Duplicate", "register"),
    ("Start", "register"),
    ("Publish", "publish"),
    ("Regressed", "publish"),
    ("Succeeded", "publish"),
)
_FAILED = {"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
_FAILURE_KEYS = ("taskFailedEventDetails", "lambdaFunctionFailedEventDetails", "executionFailedEventDetails")


def stage_of(state: str, previous: str = "register") -> str:
    for word, stage in _STAGE_RULES:
        if word in state:
            return stage
    return previous


@dataclass
class StageSpan:
    """One stage of a run: when it started, how long it took, how it ended, its jobs."""

    stage: str
    start: str
    duration_s: float
    outcome: str
    jobs: list[dict[str, Any]] = field(default_factory=list)
    _began: dt.datetime | None = field(default=None, repr=False)
    _ended: dt.datetime | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "start": self.start,
            "duration_s": self.duration_s,
            "outcome": self.outcome,
            "jobs": self.jobs,
        }


def _time(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def _spans(events: Sequence[Mapping[str, Any]]) -> dict[str, StageSpan]:
    spans: dict[str, StageSpan] = {}
    current = "register"
    for event in events:
        kind, stamp = str(event["type"]), _time(event["timestamp"])
        if kind.endswith("StateEntered"):
            current = stage_of(str(event["stateEnteredEventDetails"]["name"]), current)
            span = spans.setdefault(
                current, StageSpan(current, stamp.isoformat(timespec="seconds"), 0.0, "running", _began=stamp)
            )
            if span.outcome != "failed":  # a failed attempt stays failed until one succeeds
                span.outcome = "running"
        elif kind.endswith("StateExited") and current in spans:
            spans[current]._ended = stamp
            if spans[current].outcome == "running":
                spans[current].outcome = "ok"
        elif any(key in event for key in _FAILURE_KEYS) and current in spans:
            spans[current].outcome = "failed"
        elif kind.endswith("Succeeded") and current in spans:
            spans[current].outcome = "ok"
        if kind in _FAILED:
            for span in spans.values():
                if span.outcome == "running":
                    span.outcome, span._ended = kind.removeprefix("Execution").lower(), stamp
    return spans


def stage_timeline(events: Sequence[Mapping[str, Any]], jobs: Sequence[Mapping[str, Any]]) -> list[StageSpan]:
    """The run's stages in the order they started, each with its jobs (name, status, start)."""
    spans = _spans(events)
    for job in jobs:
        stage = job_stage(str(job["name"]))
        if stage in spans:
            spans[stage].jobs.append(
                {"name": job["name"], "status": job["status"], "start": _iso(job.get("start"))}
            )
    for span in spans.values():
        if span._began is not None and span._ended is not None:
            span.duration_s = round((span._ended - span._began).total_seconds(), 3)
    return list(spans.values())


def _iso(value: Any) -> str | None:
    return None if value is None else _time(value).isoformat(timespec="seconds")


def run_cost(ledger: Mapping[str, Any] | None, outcome: Mapping[str, Any] | None) -> dict[str, float | None]:
    """Estimated (pre-flight) and actual cost in USD, from the ledger row or the run's outcome event."""
    found: dict[str, float | None] = {}
    for key in ("estimated_cost_usd", "actual_cost_usd"):
        value = (ledger or {}).get(key, (outcome or {}).get(key))
        found[key] = None if value is None else float(value)
    return found


def render_timeline(spans: Sequence[StageSpan], cost: Mapping[str, float | None]) -> str:
    """The timeline as text: one line per stage, its jobs indented under it, then the cost."""
    lines = [f"{'STAGE':<10} {'START':<25} {'DURATION':>9}  OUTCOME"]
    for span in spans:
        lines.append(f"{span.stage:<10} {span.start:<25} {span.duration_s:>8.1f}s  {span.outcome}")
        lines.extend(f"  job {job['name']}  {job['status']}" for job in span.jobs)
    estimated, actual = cost.get("estimated_cost_usd"), cost.get("actual_cost_usd")
    lines.append(
        "cost       "
        + (f"estimated ${estimated:,.2f} (pre-flight)" if estimated is not None else "estimate not known")
        + (f", actual ${actual:,.2f}" if actual is not None else ", actual not known")
    )
    return "\n".join(lines)
