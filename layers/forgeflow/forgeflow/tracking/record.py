"""What one pipeline run is as an MLflow run: params, metrics, tags and artifacts, read from its outputs.

Pure: no MLflow here (forgeflow.tracking.mlflow_log logs a record). The record comes from the documents
the pipeline wrote under the run's prefix (`s3://<bucket>/runs/<run_id>/` on AWS, the saved copy of it
locally), read through `Storage`, so one function serves both:

- params: plan (the declared mix shares), recipe (URI and SHA-256), model, technique, method, seed, unit,
  domain task, dataset URI;
- metrics: every metric of every suite for base and trained and its delta (`<suite>.<metric>.base`, …),
  each suite's headline delta, the classification scores, the achieved mix shares, and the cost
  (estimate and actual) when known — a value the report does not hold is not logged;
- tags: run id, dataset version, verdict, emulated, and the URIs of the run's outputs;
- artifacts: mix_report.json, recipe.yaml, report.json, report.html (those that exist).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from forgeflow.errors import InputError
from forgeflow.storage import Storage

# Artifact name → its path under the run prefix.
ARTIFACTS = {
    "mix_report.json": "mix/mix_report.json",
    "recipe.yaml": "recipe/train/recipe.yaml",
    "report.json": "report/report.json",
    "report.html": "report/report.html",
}
TAG_PREFIX = "forgeflow."
# MLflow metric and param names: alphanumerics, underscores, dashes, periods, spaces, slashes.
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")
# MLflow's param value limit (mlflow/utils/validation.py MAX_PARAM_VAL_LENGTH, 6000 since MLflow 2.x).
MAX_PARAM_CHARS = 6000


@dataclass(frozen=True)
class TrackingRecord:
    """One run, as MLflow stores it."""

    run_name: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)


def metric_name(*parts: str) -> str:
    return ".".join(_UNSAFE_NAME.sub("_", part) for part in parts)


def _json(storage: Storage, uri: str) -> dict[str, Any]:
    try:
        document = orjson.loads(storage.read_bytes(uri))
    except (InputError, orjson.JSONDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _suite_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for suite in report.get("suites") or []:
        name = str(suite.get("suite"))
        for row in suite.get("metrics") or []:
            for side in ("base", "trained", "delta"):
                value = _number(row.get(side))
                if value is not None:
                    metrics[metric_name(name, str(row.get("name")), side)] = value
        delta = _number(suite.get("delta"))
        if delta is not None:
            metrics[metric_name(name, "delta")] = delta
    return metrics


def _other_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for target, entry in (report.get("classification") or {}).items():
        for score, value in (entry.get("scores") or {}).items():
            if _number(value) is not None:
                metrics[metric_name("classification", str(target), str(score))] = float(value)
    for source in (report.get("mix") or {}).get("sources") or []:
        share = _number(source.get("achieved_share"))
        if share is not None:
            metrics[metric_name("mix", str(source.get("name")), "achieved_share")] = share
    cost = report.get("cost") or {}
    for key in ("estimate_usd", "actual_usd"):
        value = _number(cost.get(key))
        if value is not None:
            metrics[metric_name("cost", key)] = value
    return metrics


def _params(
    request: Mapping[str, Any], report: Mapping[str, Any], detail: Mapping[str, Any]
) -> dict[str, str]:
    mix = report.get("mix") or {}
    plan = {str(s.get("name")): s.get("declared_share") for s in mix.get("sources") or []}
    values = {
        "plan": orjson.dumps(plan).decode() if plan else None,
        "recipe": detail.get("recipe_uri"),
        "recipe_sha256": (report.get("recipe") or {}).get("sha256"),
        "model": detail.get("model") or request.get("model"),
        "technique": detail.get("technique") or request.get("technique"),
        "method": request.get("method"),
        "seed": mix.get("seed"),
        "unit": mix.get("unit"),
        "domain_task": report.get("domain_task"),
        "dataset_uri": request.get("dataset_uri") or detail.get("dataset_uri"),
    }
    return {key: str(value)[:MAX_PARAM_CHARS] for key, value in values.items() if value is not None}


def _tags(run_id: str, request: Mapping[str, Any], report: Mapping[str, Any], prefix: str) -> dict[str, str]:
    dataset = request.get("dataset") or {}
    verdict = (report.get("verdict") or {}).get("verdict")
    values = {
        "run_id": run_id,
        "dataset_version": dataset.get("version_id") or dataset.get("etag"),
        "verdict": verdict,
        "emulated": str(report.get("emulated") is True).lower() if report else None,
        "outputs": prefix,
    }
    return {TAG_PREFIX + key: str(value) for key, value in values.items() if value is not None}


def read_record(storage: Storage, run_prefix: str, detail: Mapping[str, Any] | None = None) -> TrackingRecord:
    """The tracking record of the run whose outputs are under `run_prefix` (ending in `/`).

    `detail` is the run's outcome event detail (`Run Succeeded`, `Run Regressed`), when there is one: it
    names the technique and recipe the run used.
    """
    detail = detail or {}
    request = _json(storage, run_prefix + "request.json")
    report = _json(storage, run_prefix + ARTIFACTS["report.json"])
    run_id = str(request.get("run_id") or report.get("run_id") or detail.get("run_id") or "")
    if not run_id:
        raise InputError(f"{run_prefix} holds no run (no request.json naming a run id)", code="NO_RUN")
    artifacts = {}
    for name, path in ARTIFACTS.items():
        try:
            artifacts[name] = storage.read_bytes(run_prefix + path)
        except InputError:
            continue  # a run that stopped early has fewer outputs: log what there is
    return TrackingRecord(
        run_name=run_id,
        params=_params(request, report, detail),
        metrics={**_suite_metrics(report), **_other_metrics(report)},
        tags=_tags(run_id, request, report, run_prefix),
        artifacts=artifacts,
    )
