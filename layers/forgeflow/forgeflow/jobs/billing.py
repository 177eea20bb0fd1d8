"""A run's actual cost: every job's billable seconds × the stack's price table, next to the estimate.

SageMaker bills a training job for `BillableTimeInSeconds` (DescribeTrainingJob; "the billable time in
seconds", per instance, so the cost is seconds × InstanceCount × hourly price / 3600 — AWS SageMaker API
Reference, DescribeTrainingJob). Prices are the stack's (`forgeflow/recipes/data/prices.yaml`, the
table the pre-flight estimate uses), so estimate and actual are comparable. Every attempt counts: a failed
attempt was billed too. A job without billable time (never started) or without a known price has
`usd: null` and is listed in `unpriced`; `actual_usd` is the sum of the priced jobs.
"""

from __future__ import annotations

from typing import Any

from forgeflow.ports import JobState
from forgeflow.recipes.cost import PriceTable

SECONDS_PER_HOUR = 3600.0


def job_cost(state: JobState, stage: str, prices: PriceTable, region: str) -> dict[str, Any]:
    """One job's row of `cost.jobs`: name, stage, instance type and count, billable seconds, USD."""
    count = state.instance_count or 1
    price = prices.lookup(state.instance_type, region)[0] if state.instance_type else None
    usd = None
    if price is not None and state.billable_seconds is not None:
        usd = round(state.billable_seconds * count * price.usd_per_hour / SECONDS_PER_HOUR, 4)
    return {
        "name": state.name,
        "stage": stage,
        "instance_type": state.instance_type,
        "instance_count": count,
        "billable_seconds": state.billable_seconds,
        "usd": usd,
    }


def run_cost(jobs: list[dict[str, Any]], estimate_usd: float | None) -> dict[str, Any]:
    """summary.json's `cost`: the pre-flight estimate, the actual total and every job's row."""
    priced = [job["usd"] for job in jobs if job["usd"] is not None]
    return {
        "estimate_usd": estimate_usd,
        "actual_usd": round(sum(priced), 4) if priced else None,
        "jobs": jobs,
        "unpriced": [job["name"] for job in jobs if job["usd"] is None],
    }
