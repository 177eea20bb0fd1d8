"""Nova evaluation job outputs → metrics, and the trained-vs-base comparison of a run.

An evaluation job on SageMaker training jobs writes `<output>/<job>/output/output.tar.gz`; inside,
`<run_name>/eval_results/results_<timestamp>.json` (or `eval_results/…`, `eval-result/…`) holds
`{"results": {...}}`. Standard benchmarks put their metrics under `results["all"]`; bring-your-own
`gen_qa` under a task key such as `"custom|gen_qa_gen_qa|0"`. Like the SageMaker SDK we take
`results["all"]` first, otherwise the first non-empty mapping (reference nova-recipes.md §4).

A results file may instead say that nothing was measured: `{"results": {}, "not_measured": "<why>"}`
(the local emulator, for benchmarks it has no data or model for). That suite's numbers are then null,
with the reason as its `note`. A file with `"emulated": true` marks the summary `emulated`.
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
HEADLINE_METRICS = {
    "mmlu": "accuracy",
    "gen_qa": "f1_score",
    "general": "f1_score",
    "classification": "macro_f1",
}
# The classification numbers a suite comparison carries (the per-label rows stay in the summary).
CLASSIFICATION_SCORES = ("macro_f1", "micro_f1", "weighted_f1", "accuracy")


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


@dataclass(frozen=True)
class EvalResults:
    """What one eval job's results file says: its metrics, or why there are none.

    `not_measured` is the reason a job wrote no metrics (the local emulator cannot run a benchmark);
    `emulated` is true when the file says it came from an emulated job, whose numbers (if any) are not a
    Nova model's.
    """

    metrics: dict[str, float]
    emulated: bool = False
    not_measured: str | None = None


def read_results(archive: bytes, source: str = "output.tar.gz") -> EvalResults:
    """The newest `results_*.json` of an eval job's output archive."""
    with _members(archive, source) as tar:
        candidates = sorted(
            (member for member in tar.getmembers() if member.isfile() and _RESULTS_NAME.search(member.name)),
            key=lambda member: member.name.rsplit("/", 1)[-1],
        )
        if not candidates:
            raise DataError(f"{source} holds no results_*.json", hint="is this an evaluation job's output?")
        document = _read_member(tar, candidates[-1], source)
    return _results_of(document, f"{source}: {candidates[-1].name}")


def read_results_document(data: bytes, source: str) -> EvalResults:
    """One `results_*.json` file's metrics (a serverless evaluation writes it uncompressed)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise DataError(f"{source} is not valid JSON: {error}") from error
    return _results_of(document, source)


def _results_of(document: Any, source: str) -> EvalResults:
    """The metrics a results document holds: `results["all"]`, else the first non-empty mapping."""
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, dict):
        raise DataError(f"{source} has no 'results' mapping")
    emulated = document.get("emulated") is True
    reason = document.get("not_measured")
    chosen = results.get("all")
    if not isinstance(chosen, dict) or not chosen:
        chosen = next((value for value in results.values() if isinstance(value, dict) and value), None)
    if chosen is None:
        if isinstance(reason, str) and reason:
            return EvalResults(metrics={}, emulated=emulated, not_measured=reason)
        raise DataError(f"{source} holds no metrics")
    metrics = {
        str(name): float(value)
        for name, value in chosen.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    return EvalResults(metrics=metrics, emulated=emulated)


def read_inference(archive: bytes, source: str = "output.tar.gz") -> bytes:
    """The per-record outputs (`inference_output.jsonl`) of a gen_qa job's output archive."""
    with _members(archive, source) as tar:
        member = next(
            (m for m in tar.getmembers() if m.isfile() and m.name.endswith("inference_output.jsonl")), None
        )
        handle = tar.extractfile(member) if member is not None else None
        if handle is None:
            raise DataError(
                f"{source} holds no inference_output.jsonl",
                hint="classification metrics need the gen_qa job's per-record outputs",
            )
        return handle.read()


def parse_results(archive: bytes, source: str = "output.tar.gz") -> dict[str, float]:
    """The numeric metrics of the newest `results_*.json` in an eval job's output archive ({} when the
    file says they were not measured)."""
    return read_results(archive, source).metrics


EMULATED_SCORES = (
    "emulated: the scores of a local stand-in model, not of a Nova model (see the results files)"
)


@dataclass(frozen=True)
class SuiteComparison:
    """One suite's metrics for the base and the trained model, and the headline difference.

    `not_measured` maps a target (base, trained) to the reason its job wrote no metrics.
    """

    suite: str
    metric: str
    base: dict[str, float]
    trained: dict[str, float]
    not_measured: dict[str, str] = field(default_factory=dict)
    emulated: bool = False

    @property
    def delta(self) -> float | None:
        if self.metric in self.base and self.metric in self.trained:
            return round(self.trained[self.metric] - self.base[self.metric], 6)
        return None

    @property
    def note(self) -> str | None:
        """Why a number is missing, or that the numbers are emulated; None for a real, complete suite."""
        reasons = sorted(set(self.not_measured.values()))
        if len(reasons) == 1 and len(self.not_measured) == 2:
            return f"not measured: {reasons[0]}"
        if self.not_measured:
            return "; ".join(
                f"{target} not measured: {why}" for target, why in sorted(self.not_measured.items())
            )
        return EMULATED_SCORES if self.emulated else None

    def headline(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "base": self.base.get(self.metric),
            "trained": self.trained.get(self.metric),
            "delta": self.delta,
            "note": self.note,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.headline(),
            "emulated": self.emulated,
            "base_metrics": self.base,
            "trained_metrics": self.trained,
            "not_measured": self.not_measured,
        }


def compare(
    suite: str,
    base: dict[str, float] | EvalResults,
    trained: dict[str, float] | EvalResults,
) -> SuiteComparison:
    """Trained against base for one suite; plain metric mappings or whole `EvalResults` (which may say
    the metrics were not measured, or were emulated)."""
    targets = {
        name: value if isinstance(value, EvalResults) else EvalResults(metrics=value)
        for name, value in (("base", base), ("trained", trained))
    }
    base_metrics, trained_metrics = targets["base"].metrics, targets["trained"].metrics
    metric = HEADLINE_METRICS.get(suite)
    if metric is None or (metric not in base_metrics and metric not in trained_metrics):
        # An unknown suite or metric: judge by the first metric both runs report, alphabetically.
        shared = sorted(set(base_metrics) & set(trained_metrics))
        metric = shared[0] if shared else (metric or "")
    return SuiteComparison(
        suite=suite,
        metric=metric,
        base=base_metrics,
        trained=trained_metrics,
        not_measured={
            name: result.not_measured for name, result in targets.items() if result.not_measured is not None
        },
        emulated=any(result.emulated for result in targets.values()),
    )


@dataclass
class EvaluationSummary:
    """`runs/<run_id>/evaluation/summary.json`."""

    run_id: str
    suites: list[SuiteComparison] = field(default_factory=list)
    jobs: dict[str, dict[str, str]] = field(default_factory=dict)
    domain_task: str = "free_text"
    # base/trained → `classification_metrics` of the gen_qa answers, for a classification task.
    classification: dict[str, dict[str, Any]] = field(default_factory=dict)
    # forgeflow.evaluation.gate.verdict of the headlines.
    gate: dict[str, Any] = field(default_factory=dict)
    # suite → {cached, job_name, entry}: the base job behind its scores (forgeflow.evaluation.baseline).
    baseline: dict[str, dict[str, Any]] = field(default_factory=dict)
    # {estimate_usd, actual_usd, jobs: [...]} (forgeflow.jobs.cost), once known.
    cost: dict[str, Any] | None = None
    # What names the evaluated model: its training job and (serverless) its model package ARN.
    trained_model: dict[str, str | None] = field(default_factory=dict)

    @property
    def emulated(self) -> bool:
        """True when any results file came from an emulated job (the local runtime)."""
        return any(comparison.emulated for comparison in self.suites)

    def headlines(self) -> dict[str, dict[str, Any]]:
        return {comparison.suite: comparison.headline() for comparison in self.suites}

    def to_dict(self) -> dict[str, Any]:
        named = {"trained_model": self.trained_model} if self.trained_model else {}
        return {
            **named,
            "run_id": self.run_id,
            "emulated": self.emulated,
            "domain_task": self.domain_task,
            "suites": {comparison.suite: comparison.to_dict() for comparison in self.suites},
            "classification": self.classification,
            "gate": self.gate,
            "jobs": self.jobs,
            "baseline": self.baseline,
            "cost": self.cost,
        }
