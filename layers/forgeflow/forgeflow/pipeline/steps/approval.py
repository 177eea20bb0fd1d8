"""RequestApproval: after the smoke job, hold the run for a person before its full (p5) job.

The state AwaitApproval invokes this function with `lambda:invoke.waitForTaskToken` and passes the task
token (`$$.Task.Token`): the execution then waits until someone sends SendTaskSuccess / SendTaskFailure
with that token, or its TimeoutSeconds (the stack's ApprovalTimeoutSeconds) pass ("Wait for a Callback
with Task Token", Step Functions developer guide). Here the token is stored in the run's ledger row —
the only place `forgeflow runs approve` / `reject` read it from — and `Approval Requested` goes on the
results bus with what the approver needs: the smoke job, the cost estimate, who may approve and how.
"""

from __future__ import annotations

from datetime import timedelta

from forgeflow.pipeline import events
from forgeflow.pipeline.errors import InputMissing
from forgeflow.pipeline.state import ApprovalInput, ApprovalPending
from forgeflow.pipeline.steps.services import Services


def approve_command(run_id: str, stack_name: str) -> str:
    """The command an approver runs (the event says it; the CLI documents the same)."""
    where = f"--stack {stack_name}" if stack_name else "--stack <stack>"
    return f"forgeflow runs approve {run_id} {where}"


def request_approval(payload: ApprovalInput, services: Services) -> ApprovalPending:
    """Store the task token in the run's row (conditional on this execution owning it), then publish."""
    run_id = payload.run.require_id()
    job = payload.smoke.job
    if job is None:
        raise InputMissing("RequestApproval needs $.smoke.job: the completed smoke job the approver judges")
    # Token first: an approver who reacts to the event at once must find it.
    if not services.ledger.hold_for_approval(run_id, payload.execution_arn, payload.task_token):
        raise InputMissing(
            f"run {run_id} is not RUNNING under execution {payload.execution_arn}: its approval cannot wait",
            hint="the run ended or another execution owns it (forgeflow runs show)",
        )
    settings = services.settings
    now = services.clock()
    prefix = settings.run_prefix(run_id)
    detail = events.ApprovalRequested(
        run_id=run_id,
        execution_arn=payload.execution_arn,
        request_id=payload.run.request_id,
        dataset_uri=payload.run.dataset_uri or "",
        smoke=events.SmokeResult(
            job_name=job.job_name,
            status=job.status,
            model_artifacts=job.model_artifacts,
            outputs_uri=f"{prefix}jobs/",
        ),
        estimated_cost_usd=payload.recipe.estimate_usd,
        preflight_uri=payload.recipe.preflight_uri,
        approvers=[arn.strip() for arn in settings.approver_arns.split(",") if arn.strip()],
        approve_command=approve_command(run_id, settings.stack_name),
        timeout_seconds=settings.approval_timeout_seconds,
        expires_at=now + timedelta(seconds=settings.approval_timeout_seconds),
        requested_at=now,
    )
    event_id = services.bus.put(events.to_eventbridge_entry(detail, bus_name=settings.results_bus_name))
    return ApprovalPending(run_id=run_id, event_id=event_id, expires_at=detail.expires_at.isoformat())
