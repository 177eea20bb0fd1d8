"""Issue #15, approval before the full job, on the local runtime: the real template and ASL on moto, the
approval answered with the stored token as `forgeflow runs approve|reject` answers it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from forgeflow.aws.approvals import TaskAnswers, TokenRefusedError
from forgeflow.errors import InputError
from forgeflow_tools.approvals import answer
from forgeflow_tools.local.approval import LOCAL_APPROVER, REJECT_REASON, LocalApprover, _RuntimeRows
from forgeflow_tools.local.runtime import LocalRuntime, RunOutcome

APPROVAL = {"require_approval": True}


def _start(runtime: LocalRuntime, dataset: Path, sidecar: dict[str, Any] | None = None) -> str:
    before = len(runtime.executions())
    runtime.drop_dataset(dataset, sidecar=yaml.safe_dump(sidecar).encode() if sidecar else None)
    executions = runtime.wait_for_executions(before + 1)
    assert len(executions) == before + 1, "the S3 drop started no execution"
    return str(executions[-1]["executionArn"])


def _jobs(runtime: LocalRuntime, run_id: str) -> dict[str, list[str]]:
    jobs: dict[str, list[str]] = {}
    for job in runtime.emulator.jobs():
        if run_id in job.name:
            jobs.setdefault(job.stage, []).append(job.status)
    return jobs


def _states(runtime: LocalRuntime, execution_arn: str) -> list[str]:
    return [
        str(event["stateEnteredEventDetails"]["name"])
        for event in runtime.history(execution_arn)
        if event["type"].endswith("StateEntered")
    ]


def _run(runtime: LocalRuntime, dataset: Path, mode: str, sidecar: dict[str, Any] | None = None) -> Any:
    arn = _start(runtime, dataset, sidecar if sidecar is not None else APPROVAL)
    approver = LocalApprover(runtime, arn, mode)  # type: ignore[arg-type]
    return arn, approver, runtime.outcome(arn, on_tick=approver.poll)


def test_an_approved_run_waits_after_its_smoke_job_then_trains_and_succeeds(
    local_stack, example_data
) -> None:
    runtime = local_stack()
    arn, approver, outcome = _run(runtime, example_data["support"], "auto")
    assert outcome.status == "SUCCEEDED", outcome.execution
    assert outcome.detail_types() == ["Run Started", "Approval Requested", "Run Succeeded"]
    assert approver.answered is not None
    assert (approver.answered.decision, approver.answered.approver) == ("approved", LOCAL_APPROVER)
    states = _states(runtime, arn)
    assert states.index("SmokeJob") < states.index("AwaitApproval") < states.index("TrainingJob")
    requested = outcome.events[1]["detail"]
    assert requested["smoke"]["status"] == "Completed"
    assert requested["estimated_cost_usd"] == outcome.events[-1]["detail"]["estimated_cost_usd"]
    assert _jobs(runtime, outcome.run_id)["train"] == ["Completed"]
    # The stored token was used: Step Functions refuses it again, and the command refuses the ended run.
    assert outcome.ledger is not None
    with pytest.raises(TokenRefusedError):
        TaskAnswers(runtime.client("stepfunctions")).succeed(str(outcome.ledger["approval_token"]), "{}")
    with pytest.raises(InputError, match="waits for no approval") as refused:
        answer(
            outcome.run_id,
            _RuntimeRows(runtime),
            TaskAnswers(runtime.client("stepfunctions")),
            approve=True,
            approver="x",
            now=datetime.now(UTC),
        )
    assert refused.value.code == "NO_PENDING_APPROVAL"


def _assert_failed_at_approval_without_a_full_job(
    runtime: LocalRuntime, outcome: RunOutcome
) -> dict[str, Any]:
    assert outcome.status == "FAILED", outcome.execution
    assert outcome.detail_types() == ["Run Started", "Approval Requested", "Run Failed"]
    failed = outcome.events[-1]["detail"]
    assert failed["stage"] == "approval"
    assert "train" not in _jobs(runtime, outcome.run_id)  # the full job was never created
    assert _jobs(runtime, outcome.run_id)["smoke"] == ["Completed"]
    assert outcome.ledger is not None
    assert (outcome.ledger["status"], outcome.ledger["stage"]) == ("FAILED", "approval")
    return dict(failed)


def test_a_rejected_run_fails_at_approval_with_the_reason_and_no_full_job(local_stack, example_data) -> None:
    runtime = local_stack()
    arn, _, outcome = _run(runtime, example_data["support"], "reject")
    failed = _assert_failed_at_approval_without_a_full_job(runtime, outcome)
    assert failed["error_code"] == "ApprovalRejected"
    assert REJECT_REASON in failed["message"]
    assert "BuildTrainingJob" not in _states(runtime, arn)


def test_a_run_nobody_approves_times_out_at_approval_with_no_full_job(local_stack, example_data) -> None:
    # No run option: the stack's RequireApproval asks (a run's `require_approval: false` would not:
    # test_pipeline_approval.py), and nobody answers within ApprovalTimeoutSeconds.
    runtime = local_stack(parameter_overrides={"RequireApproval": "true", "ApprovalTimeoutSeconds": "1"})
    arn = _start(runtime, example_data["support"])
    outcome = runtime.outcome(arn)
    failed = _assert_failed_at_approval_without_a_full_job(runtime, outcome)
    assert failed["error_code"] == "States.Timeout"
    assert "nobody approved" in failed["message"]


def test_local_run_rejects_on_the_command_line_and_exits_1(example_data, tmp_path, capsys) -> None:
    import json

    from forgeflow_tools.cli.main import main

    argv = ["local", "run", str(example_data["support"]), "--require-approval", "--approve", "reject"]
    code = main([*argv, "--outputs-dir", str(tmp_path / "runs"), "--output", "json"])
    document = json.loads(capsys.readouterr().out)
    assert (code, document["status"]) == (1, "FAILED")
    kinds = [event["detail-type"] for event in document["events"]]
    assert kinds == ["Run Started", "Approval Requested", "Run Failed"]
    failed = document["events"][-1]["detail"]
    assert (failed["stage"], failed["error_code"]) == ("approval", "ApprovalRejected")
