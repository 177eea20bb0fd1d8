"""Answering a local run's approval while `forgeflow local run` follows it (an emulation of the approver).

moto's interpreter runs AwaitApproval itself — `lambda:invoke.waitForTaskToken` with its TimeoutSeconds,
SendTaskSuccess / SendTaskFailure (shim 7 keeps the failure's cause) — so nothing here fakes Step
Functions: `LocalApprover.poll` (called while the CLI waits for the execution) sees the run's ledger row
hold a token at stage `approval`, reads the run's `Approval Requested`, decides as `--approve` says, and
answers with the same function `forgeflow runs approve|reject` uses against a stack.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from forgeflow.aws.approvals import TaskAnswers
from forgeflow.pipeline.events import APPROVAL_REQUESTED
from forgeflow_tools.approvals import Answered, answer
from forgeflow_tools.local.runtime import LocalRuntime

ApproveMode = Literal["auto", "reject", "prompt"]
LOCAL_APPROVER = "local (emulated approver)"
REJECT_REASON = "rejected by forgeflow local run --approve reject"


class _RuntimeRows:
    """The emulated ledger's rows by run id."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self._runtime = runtime

    def ledger_row(self, run_id: str) -> dict[str, Any] | None:
        return next((row for row in self._runtime.ledger_rows() if row.get("run_id") == run_id), None)


class LocalApprover:
    """Answers the approval of one execution once, as `mode` says (`prompt` asks `ask`)."""

    def __init__(
        self,
        runtime: LocalRuntime,
        execution_arn: str,
        mode: ApproveMode,
        ask: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        if mode == "prompt" and ask is None:
            raise ValueError("mode prompt needs `ask`")
        self._runtime = runtime
        self._execution_arn = execution_arn
        self._mode = mode
        self._ask = ask
        self.answered: Answered | None = None

    def poll(self) -> None:
        """Answer when the run waits at AwaitApproval (its row holds a token at stage approval)."""
        if self.answered is not None:
            return
        row = self._runtime.ledger_row_for(self._execution_arn)
        if not row or row.get("stage") != "approval" or not row.get("approval_token"):
            return
        run_id = str(row["run_id"])
        requested = self._requested(run_id)
        if requested is None:
            return  # the token is stored before the event is put: wait for the event
        approve = self._mode == "auto" or (
            self._mode == "prompt" and self._ask is not None and self._ask(requested)
        )
        self.answered = answer(
            run_id,
            _RuntimeRows(self._runtime),
            TaskAnswers(self._runtime.client("stepfunctions")),
            approve=approve,
            approver=LOCAL_APPROVER,
            now=datetime.now(UTC),
            reason=None if approve else REJECT_REASON,
        )

    def _requested(self, run_id: str) -> dict[str, Any] | None:
        for event in self._runtime.results_events():
            detail = event.get("detail", {})
            asked = event.get("detail-type") == APPROVAL_REQUESTED and detail.get("run_id") == run_id
            if asked and detail.get("execution_arn") == self._execution_arn:
                return dict(detail)
        return None
