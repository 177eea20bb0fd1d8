"""Approve or reject a run waiting at AwaitApproval, with the token stored in that run's ledger row only.

`forgeflow runs approve|reject` (a deployed stack) and `forgeflow local run --approve` (the emulation) share
this: find the run's row, check that it waits for an answer, send SendTaskSuccess (the `ApprovalDecision`
the state machine keeps under `$.approval`) or SendTaskFailure with the error `ApprovalRejected` and the
reason as its cause. A token is never taken from anywhere else (an event, the command line): whoever may
read the ledger and answer the state machine's tasks (the stack's ApproverPolicy) decides for that run only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from forgeflow.errors import InputError
from forgeflow.pipeline.errors import ApprovalRejected
from forgeflow.pipeline.state import ApprovalDecision

MAX_REASON_CHARS = 32768  # SendTaskFailure's cause is at most 32,768 characters (API reference)


class TaskAnswers(Protocol):
    def succeed(self, token: str, output: str) -> None: ...

    def fail(self, token: str, error: str, cause: str) -> None: ...


class RunRows(Protocol):
    def ledger_row(self, run_id: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Answered:
    """What the command reports: which run, approved or rejected, by whom, when."""

    run_id: str
    decision: Literal["approved", "rejected"]
    approver: str
    decided_at: str
    reason: str | None = None


def pending_token(run_id: str, row: dict[str, Any] | None) -> str:
    """The token the run's approval waits on; an `InputError` (exit 2) saying why there is none."""
    if row is None:
        raise InputError(
            f"no run {run_id!r} in the run ledger",
            code="NOT_FOUND",
            hint="forgeflow runs list shows the runs",
        )
    status, stage, token = row.get("status"), row.get("stage"), row.get("approval_token")
    if status != "RUNNING":
        raise InputError(
            f"run {run_id} is {status} (stage {stage}): it waits for no approval", code="NO_PENDING_APPROVAL"
        )
    if not token:
        raise InputError(
            f"run {run_id} is not waiting for approval (stage {stage})",
            code="NO_PENDING_APPROVAL",
            hint="a run waits after its smoke job when require_approval is on (run option, RequireApproval)",
        )
    if stage != "approval":
        raise InputError(
            f"run {run_id}'s approval was answered already: it is at stage {stage}", code="TOKEN_USED"
        )
    return str(token)


def answer(
    run_id: str,
    rows: RunRows,
    answers: TaskAnswers,
    *,
    approve: bool,
    approver: str,
    now: datetime,
    reason: str | None = None,
) -> Answered:
    """Send the run's approval or rejection with its stored token."""
    from forgeflow.aws.approvals import TokenRefusedError  # deferred: botocore loads only to answer

    if not approve and not (reason or "").strip():
        raise InputError("a rejection needs a reason", code="USAGE", hint='--reason "what is wrong"')
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise InputError(f"--reason is longer than {MAX_REASON_CHARS} characters", code="USAGE")
    token = pending_token(run_id, rows.ledger_row(run_id))
    decided_at = now.isoformat(timespec="seconds")
    try:
        if approve:
            decision = ApprovalDecision(approver=approver, decided_at=decided_at)
            answers.succeed(token, decision.model_dump_json())
        else:
            answers.fail(token, ApprovalRejected.default_code, str(reason))
    except TokenRefusedError as refused:
        raise InputError(
            f"run {run_id}'s approval token was refused ({refused.code}): it was answered already, timed "
            "out, or the execution stopped",
            code="TOKEN_USED",
            hint=f"forgeflow runs show {run_id}",
        ) from refused
    return Answered(run_id, "approved" if approve else "rejected", approver, decided_at, reason)
