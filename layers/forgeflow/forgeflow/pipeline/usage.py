"""What a finished run used, for the operators' dashboard: its jobs by stage and status, instance-hours, cost.

Read from SageMaker when the run ends (PublishResult, or the sweeper for an execution that could not
publish): each job the ledger lists is described once. Billed seconds are DescribeTrainingJob's
`BillableTimeInSeconds` × `ResourceConfig.InstanceCount` (SageMaker API reference, DescribeTrainingJob);
the price per instance-hour is the pre-flight's table (forgeflow/recipes/cost.py, prices.yaml), so the
actual cost is measured the way the estimate was priced. GPU instances are the ml.p* and ml.g* families
(Amazon SageMaker pricing page, accelerated computing).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from forgeflow.jobs.billing import job_cost
from forgeflow.pipeline.errors import JobFailed
from forgeflow.pipeline.events import RUN_FAILED, RUN_SUCCEEDED
from forgeflow.pipeline.state import RunEnd
from forgeflow.pipeline.steps.services import Services
from forgeflow.recipes.cost import PriceTable

_GPU_FAMILIES = ("ml.p", "ml.g")
# The Powertools environment (template.yaml Globals): the one metrics namespace and the service dimension.
NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
SERVICE = "POWERTOOLS_SERVICE_NAME"
# `forgeflow-<run_id>-<stage>-<attempt>` (forgeflow.jobs.requests.job_name); eval names suite and target.
_JOB_STAGE = re.compile(r"-(smoke|train|eval)(?:-[a-z]+-[a-z]+)?-\d+$")
_JOB_STAGES = {"smoke": "smoke", "train": "train", "eval": "evaluate"}


def job_stage(name: str) -> str:
    """smoke | train | evaluate from a job name; `other` for a name of another shape."""
    match = _JOB_STAGE.search(name)
    return _JOB_STAGES[match.group(1)] if match else "other"


@dataclass(frozen=True)
class MetricPoint:
    """One CloudWatch metric a handler emits (EMF via Powertools), with its own dimensions."""

    name: str
    value: float
    unit: str = "Count"
    dimensions: tuple[tuple[str, str], ...] = ()


def record_run_end(
    run_id: str, services: Services, detail_type: str, stage: str | None = None, verdict: str | None = None
) -> RunEnd:
    """Measure the jobs of the run not counted yet and add them to the ledger's run totals.

    A re-run's jobs continue the run's attempt names, so the ledger keeps the names already counted
    (`counted_jobs`): each job reaches the dashboard once, and `gpu_instance_hours` / `actual_cost_usd`
    on the row are the whole run's. A name claimed for an attempt never created is skipped.
    """
    row = services.ledger.get(run_id)
    extra = (row.model_extra or {}) if row else {}
    counted = set(extra.get("counted_jobs") or [])
    jobs: Counter[str] = Counter()
    gpu_hours, cost, priced = 0.0, 0.0, True
    prices = PriceTable.default()
    for name in sorted(set(row.job_names if row else []) - counted):
        try:
            job = services.jobs.describe(name)
        except JobFailed:
            continue
        counted.add(name)
        jobs[f"{job_stage(name)}/{job.status}"] += 1
        hours = (job.billable_seconds or 0) * (job.instance_count or 1) / 3600
        if job.instance_type and job.instance_type.startswith(_GPU_FAMILIES):
            gpu_hours += hours
        usd = job_cost(job, job_stage(name), prices, services.settings.region)["usd"]
        if usd is not None:
            cost += usd
        elif hours:
            priced = False  # an unpriced instance type: the cost is not known, not $0
    ended = RunEnd(
        detail_type=detail_type,
        stage=stage,
        verdict=verdict,
        jobs=dict(sorted(jobs.items())),
        gpu_instance_hours=round(gpu_hours, 4),
        actual_cost_usd=round(cost, 4) if priced else None,
    )
    if row is not None:
        _add_to_ledger(run_id, ended, extra, sorted(counted), services, row.actual_cost_usd)
    return ended


def _cost_so_far(extra: dict[str, object], row_cost: float | None) -> float | None:
    """The run's cost counted so far: 0 before any job, None once an unpriced job made it unknown."""
    if not extra.get("counted_jobs"):
        return 0.0
    return row_cost


def _add_to_ledger(
    run_id: str,
    ended: RunEnd,
    extra: dict[str, object],
    counted: list[str],
    services: Services,
    row_cost: float | None,
) -> None:
    totals: dict[str, object] = {
        "counted_jobs": counted,
        "gpu_instance_hours": round(_number(extra.get("gpu_instance_hours")) + ended.gpu_instance_hours, 4),
    }
    # The row's actual_cost_usd is the whole run's (every execution's jobs), kept here only: a total with an
    # unpriced job counted before stays unknown.
    before = _cost_so_far(extra, row_cost)
    if ended.actual_cost_usd is not None and before is not None:
        totals["actual_cost_usd"] = round(before + ended.actual_cost_usd, 4)
    services.ledger.update(run_id, **totals)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float | Decimal | str) else 0.0


def end_metrics(end: RunEnd) -> list[MetricPoint]:
    """The dashboard's run and job metrics for one ended run (docs/operations.md, "Dashboard")."""
    points = [MetricPoint("RunsSucceeded" if end.detail_type == RUN_SUCCEEDED else "RunsFailed", 1)]
    if end.detail_type == RUN_FAILED:
        points.append(MetricPoint("RunsFailed", 1, dimensions=(("stage", end.stage or "unknown"),)))
    if end.verdict == "regressed":
        points.append(MetricPoint("RunsRegressed", 1))
    for key, count in end.jobs.items():
        stage, _, status = key.partition("/")
        points.append(MetricPoint("JobsEnded", count, dimensions=(("stage", stage), ("status", status))))
    points.append(MetricPoint("GpuInstanceHours", end.gpu_instance_hours))
    if end.actual_cost_usd is not None:
        points.append(MetricPoint("ActualCostUsd", end.actual_cost_usd))
    return points


def emit(points: list[MetricPoint], namespace: str | None, service: str) -> None:
    """Each point as its own EMF line (Powertools `single_metric`), so points may carry different
    dimensions; `service` is the dimension Powertools' `Metrics` adds to every other ForgeFlow metric."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric  # deferred: the handlers' runtime

    for point in points:
        with single_metric(
            name=point.name,
            unit=MetricUnit(point.unit),
            value=point.value,
            namespace=namespace,
            default_dimensions={"service": service, **dict(point.dimensions)},
        ):
            pass
