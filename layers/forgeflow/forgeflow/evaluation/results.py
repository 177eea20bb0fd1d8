"""Nova evaluation job outputs → metrics, and the trained-vs-base comparison of a run.

An evaluation job on SageMaker training jobs writes `<output>/<job>/output/output.tar.gz`; inside,
`<run_name>/eval_results/results_<timestamp>.json` (or `eval_results/…`, `eval-result/…`) holds
`{"results": {...}}`. Standard benchmarks put their metrics under `results["all"]`; bring-your-own
`gen_qa` under a task key such as `"custom|gen_qa_gen_qa|0"`. Like the SageMaker SDK we take
`results["all"]` first, otherwise the first non-empty mapping (reference nova-recipes.md §4).
"""

from __future__ import annotations

import io
import re
import tarfile
from dataclasses import dataclass, field
from typing import Any

import orjson

from forgeflow.errors import DataError

_RESULTS_NAME = re.compile(r"(^|/)results_[^/]*\.json$")
# The metric each suite is judged by; the others are kept in the summary for people.
HEADLINE_METRICS = {"mmlu": "accuracy", "gen_qa": "f1_score"}


def _members(archive: bytes, source: str) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=io.BytesIO(archive), mode="r:*")
    except tarfile.TarError as error:
        raise DataError(f"{source} is not a readable tar archive: {error}") from error


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo, source: str) -> Any:
    handle = tar.extractfile(member)
    if handle is None:
        raise DataError(f"{source}: {member.name} is not a regular file")
    try:
        return orjson.loads(handle.read())
    except orjson.JSONDecodeError as error:
        raise DataError(f"{source}: {member.name} is not valid JSON: {error}") from error


def parse_results(archive: bytes, source: str = "output.tar.gz") -> dict[str, float]:
    """The numeric metrics of the newest `results_*.json` in an eval job's output archive."""
    with _members(archive, source) as tar:
        candidates = sorted(
            (member for member in tar.getmembers() if member.isfile() and _RESULTS_NAME.search(member.name)),
            key=lambda member: member.name.rsplit("/", 1)[-1],
        )
        if not candidates:
            raise DataError(f"{source} holds no results_*.json", hint="is this an evaluation job's output?")
        document = _read_member(tar, candidates[-1], source)
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, dict):
        raise DataError(f"{source}: {candidates[-1].name} has no 'results' mapping")
    chosen = results.get("all")
    if not isinstance(chosen, dict) or not chosen:
        chosen = next((value for value in results.values() if isinstance(value, dict) and value), None)
    if chosen is None:
        raise DataError(f"{source}: {candidates[-1].name} holds no metrics")
    return {
        str(name): float(value)
        for name, value in chosen.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


@dataclass(frozen=True)
class SuiteComparison:
    """One suite's metrics for the base and the trained model, and the headline difference."""

    suite: str
    metric: str
    base: dict[str, float]
    trained: dict[str, float]

    @property
    def delta(self) -> float | None:
        if self.metric in self.base and self.metric in self.trained:
            return round(self.trained[self.metric] - self.base[self.metric], 6)
        return None

    def headline(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "base": self.base.get(self.metric),
            "trained": self.trained.get(self.metric),
            "delta": self.delta,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.headline(), "base_metrics": self.base, "trained_metrics": self.trained}


def compare(suite: str, base: dict[str, float], trained: dict[str, float]) -> SuiteComparison:
    metric = HEADLINE_METRICS.get(suite)
    if metric is None or (metric not in base and metric not in trained):
        # An unknown suite or metric: judge by the first metric both runs report, alphabetically.
        shared = sorted(set(base) & set(trained))
        metric = shared[0] if shared else (metric or "")
    return SuiteComparison(suite=suite, metric=metric, base=base, trained=trained)


@dataclass
class EvaluationSummary:
    """`runs/<run_id>/evaluation/summary.json`."""

    run_id: str
    suites: list[SuiteComparison] = field(default_factory=list)
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)

    def headlines(self) -> dict[str, dict[str, Any]]:
        return {comparison.suite: comparison.headline() for comparison in self.suites}

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "suites": {comparison.suite: comparison.to_dict() for comparison in self.suites},
            "jobs": self.jobs,
        }
