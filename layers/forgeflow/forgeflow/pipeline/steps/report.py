"""The run's report: `runs/<run_id>/report/report.json` and `report.html`, written with the summary.

CollectEvaluation calls `write_report` right after it wrote `evaluation/summary.json`, so every run whose
evaluation was collected has a report, promoted or regressed. The mix report and the recipe are read
best effort: a report that cannot name the mix shares says "unknown" rather than failing the run.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from forgeflow.errors import InputError
from forgeflow.evaluation.report import REPORT_HTML, REPORT_JSON, build_report
from forgeflow.evaluation.report_html import render_html
from forgeflow.pipeline.state import StageInput
from forgeflow.pipeline.steps.common import json_document
from forgeflow.pipeline.steps.services import Services

REPORT_FOLDER = "report/"


def report_prefix(run_id: str, services: Services) -> str:
    return services.settings.run_prefix(run_id) + REPORT_FOLDER


def _read(uri: str | None, services: Services) -> bytes | None:
    if uri is None:
        return None
    with contextlib.suppress(InputError):
        return services.storage.read_bytes(uri)
    return None


def _mix_report(uri: str | None, services: Services) -> dict[str, Any] | None:
    data = _read(uri, services)
    with contextlib.suppress(orjson.JSONDecodeError):
        document = orjson.loads(data) if data is not None else None
        return document if isinstance(document, dict) else None
    return None


def write_report(summary: dict[str, Any], summary_uri: str, payload: StageInput, services: Services) -> str:
    """Build report.json and report.html for the run's summary; returns the report folder's URI."""
    run_id = payload.run.require_id()
    mix_uri = payload.mix.report_uri if payload.mix else None
    recipe_uri = payload.recipe.recipe_uri + "recipe.yaml" if payload.recipe else None
    report = build_report(
        summary,
        mix_report=_mix_report(mix_uri, services),
        recipe=_read(recipe_uri, services),
        estimate_usd=payload.recipe.estimate_usd if payload.recipe else None,
        sources={"summary": summary_uri, "mix_report": mix_uri, "recipe": recipe_uri},
    )
    prefix = report_prefix(run_id, services)
    services.storage.write_bytes(prefix + REPORT_JSON, json_document(report))
    services.storage.write_bytes(prefix + REPORT_HTML, render_html(report).encode("utf-8"))
    return prefix
