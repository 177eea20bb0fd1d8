"""Issue #15, approval before the full job: the run option, RequestApproval and the failure's message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakes import NOW, FakeBus, FakeLedger, fake_services

from forgeflow.pipeline import events
from forgeflow.pipeline.errors import InputMissing
from forgeflow.pipeline.request import approval_required, parse_options, parse_trigger, resolve_run
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import ApprovalInput, Failure
from forgeflow.pipeline.steps.approval import request_approval
from forgeflow.pipeline.steps.outcome import failure_message

EVENTS = Path(__file__).resolve().parents[3] / "events"
SAMPLE: dict[str, Any] = json.loads((EVENTS / "request_approval.json").read_text())
RUN_ID = SAMPLE["run"]["run_id"]
EXECUTION = SAMPLE["execution_arn"]


@pytest.mark.parametrize(
    ("option", "stack", "expected"),
    [(None, False, False), (None, True, True), (True, False, True), (False, True, False)],
)
def test_the_run_option_overrides_the_stack_default(option: bool | None, stack: bool, expected: bool) -> None:
    settings = PipelineSettings(data_bucket="b", require_approval=stack)
    assert approval_required(option, settings) is expected
    trigger = parse_trigger(json.loads((EVENTS / "trigger-s3-object-created.json").read_text()))
    sidecar = (
        None if option is None else parse_options(f"require_approval: {str(option).lower()}\n".encode(), "x")
    )
    assert resolve_run(trigger, sidecar, settings).require_approval is expected


def test_a_sidecar_with_a_wrong_require_approval_is_refused_with_the_key() -> None:
    with pytest.raises(Exception, match="require_approval"):
        parse_options(b"require_approval: maybe\n", "incoming/x.forgeflow.yaml")


def _services(settings: PipelineSettings | None = None) -> tuple[Any, FakeLedger, FakeBus]:
    ledger = FakeLedger.of({"run_id": RUN_ID, "status": "RUNNING", "execution_arn": EXECUTION})
    bus = FakeBus()
    services = fake_services(ledger=ledger, bus=bus, settings=settings)
    return services, ledger, bus


def test_request_approval_stores_the_token_then_asks_with_the_smoke_results_and_the_estimate() -> None:
    settings = PipelineSettings(
        data_bucket="b",
        results_bus_name="results",
        approval_timeout_seconds=600,
        approver_arns="arn:aws:iam::1:role/lead, arn:aws:iam::1:user/ops",
        stack_name="forgeflow",
    )
    services, ledger, bus = _services(settings)
    pending = request_approval(ApprovalInput.model_validate(SAMPLE), services)
    assert ledger.rows[RUN_ID].approval_token == SAMPLE["task_token"]
    assert ledger.rows[RUN_ID].stage == "approval"
    (entry,) = bus.entries
    assert (entry["DetailType"], entry["EventBusName"]) == (events.APPROVAL_REQUESTED, "results")
    detail = events.ApprovalRequested.model_validate_json(entry["Detail"])
    assert detail.smoke.job_name == SAMPLE["smoke"]["job"]["job_name"]
    assert detail.smoke.outputs_uri == f"s3://b/runs/{RUN_ID}/jobs/"
    assert detail.estimated_cost_usd == SAMPLE["recipe"]["estimate_usd"]
    assert detail.approvers == ["arn:aws:iam::1:role/lead", "arn:aws:iam::1:user/ops"]
    assert detail.approve_command == f"forgeflow runs approve {RUN_ID} --stack forgeflow"
    assert (detail.timeout_seconds, detail.requested_at) == (600, NOW)
    assert (detail.expires_at - detail.requested_at).total_seconds() == 600
    assert pending.expires_at == detail.expires_at.isoformat()
    assert SAMPLE["task_token"] not in entry["Detail"]


def test_a_run_owned_by_another_execution_gets_no_token_and_no_event() -> None:
    services, ledger, bus = _services()
    payload = ApprovalInput.model_validate({**SAMPLE, "execution_arn": EXECUTION + "-other"})
    with pytest.raises(InputMissing, match="not RUNNING under execution"):
        request_approval(payload, services)
    assert ledger.rows[RUN_ID].approval_token is None
    assert bus.entries == []


def test_an_approval_without_a_completed_smoke_job_is_refused() -> None:
    services, ledger, bus = _services()
    smoke = {key: value for key, value in SAMPLE["smoke"].items() if key != "job"}
    with pytest.raises(InputMissing, match=r"\$\.smoke\.job"):
        request_approval(ApprovalInput.model_validate({**SAMPLE, "smoke": smoke}), services)
    assert ledger.rows[RUN_ID].approval_token is None
    assert bus.entries == []


def test_an_empty_task_token_is_refused() -> None:
    with pytest.raises(ValueError, match="task_token"):
        ApprovalInput.model_validate({**SAMPLE, "task_token": ""})


@pytest.mark.parametrize(
    ("caught", "expected"),
    [
        (
            {"Error": "ApprovalRejected", "Cause": "loss curve looks wrong"},
            "rejected: loss curve looks wrong",
        ),
        ({"Error": "ApprovalRejected"}, "rejected: no reason given"),
        ({"Error": "States.Timeout"}, "nobody approved the full job in time"),
        (
            {"Error": "InputMissing", "Cause": json.dumps({"errorMessage": "run r1 is not RUNNING"})},
            "run r1 is not RUNNING",
        ),
    ],
)
def test_an_approval_failure_says_what_happened(caught: dict[str, str], expected: str) -> None:
    failure = Failure(stage="approval", error=caught["Error"], cause=json.dumps(caught))
    assert expected in failure_message(failure)
