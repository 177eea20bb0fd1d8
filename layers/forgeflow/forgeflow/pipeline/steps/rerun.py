"""Re-running a failed run: re-sending its request (or re-delivering its upload) starts it again.

The run id is derived from the request (or the object version), so a re-sent request lands on the same
ledger row. A FAILED row is handed to the new execution; a RUNNING or SUCCEEDED one stays a duplicate.
The row keeps its job names, so the new execution's attempts continue their numbering and never reuse a
SageMaker job name (`steps.jobs.next_attempt_number`).
"""

from __future__ import annotations

from forgeflow.pipeline.steps.services import Services


def claims_existing_run(run_id: str, execution_arn: str | None, services: Services) -> bool:
    """Whether this execution owns the run whose ledger row already exists."""
    existing = services.ledger.get(run_id)
    if existing is None or not execution_arn:
        return False
    # The same execution retrying RegisterRun owns the row.
    if existing.execution_arn == execution_arn:
        return True
    # A FAILED run started again takes a place under MaxConcurrentRuns again (RunsAtCapacity when full).
    return existing.status == "FAILED" and services.ledger.reclaim(
        run_id, execution_arn, max_running=services.settings.max_concurrent_runs
    )
