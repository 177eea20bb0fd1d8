"""Issue #15: the launcher names each execution after its run, so duplicate deliveries start nothing."""

from __future__ import annotations

from typing import Any

from fakes import FakeLedger, fake_services

from forgeflow.pipeline.request import parse_trigger
from forgeflow.pipeline.steps.launch import execution_name, execution_number, launch_run
from forgeflow.ports import LedgerRow

MACHINE = "arn:aws:states:us-east-1:123456789012:execution:pipeline"


class FakeExecutions:
    """Step Functions' name rule: a name is taken once, whatever the execution's status."""

    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        if name in self.started:
            return None
        self.started[name] = payload
        return f"{MACHINE}:{name}"


def _upload(version: str = "v1") -> dict[str, Any]:
    return {
        "id": "event-1",
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {
            "version": "0",
            "bucket": {"name": "b"},
            "object": {"key": "incoming/support.jsonl", "size": 10, "etag": "e1", "version-id": version},
            "request-id": "r",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }


def test_ten_deliveries_start_one_execution_named_after_the_run() -> None:
    executions, services = FakeExecutions(), fake_services(ledger=FakeLedger())
    launches = [launch_run(_upload(), f"delivery-{n}", services, executions) for n in range(10)]

    run_id = parse_trigger(_upload()).run_id
    assert list(executions.started) == [run_id]
    assert [launch.duplicate for launch in launches] == [False] + [True] * 9
    summary = executions.started[run_id]["run"]
    assert summary["dataset_uri"] == "s3://b/incoming/support.jsonl"
    assert (summary["dataset_version_id"], summary["model"], summary["technique"]) == (
        "v1",
        "lite",
        "sft-lora",
    )
    assert summary["outputs_prefix"] == f"s3://b/runs/{run_id}/"
    assert executions.started[run_id]["event"] == _upload()


def test_another_version_of_the_upload_is_another_run() -> None:
    executions, services = FakeExecutions(), fake_services(ledger=FakeLedger())
    launch_run(_upload("v1"), "d1", services, executions)
    launch_run(_upload("v2"), "d2", services, executions)
    assert len(executions.started) == 2


def _row(run_id: str, status: str, execution: str) -> LedgerRow:
    return LedgerRow(run_id=run_id, status=status, execution_arn=f"{MACHINE}:{execution}")


def test_a_failed_run_is_rerun_under_the_next_execution_name_and_its_duplicates_collapse() -> None:
    run_id = parse_trigger(_upload()).run_id
    ledger = FakeLedger({run_id: _row(run_id, "FAILED", run_id)})
    executions, services = FakeExecutions(), fake_services(ledger=ledger)
    first, again = (launch_run(_upload(), f"d{n}", services, executions) for n in range(2))
    assert (first.execution_name, first.duplicate) == (f"{run_id}-r2", False)
    assert again.duplicate
    assert execution_name(run_id, _row(run_id, "FAILED", f"{run_id}-r2")) == f"{run_id}-r3"


def test_a_running_or_succeeded_run_keeps_its_execution_name() -> None:
    for status in ("RUNNING", "SUCCEEDED"):
        assert execution_name("ds-1", _row("ds-1", status, "ds-1-r2")) == "ds-1-r2"
    assert execution_name("ds-1", None) == "ds-1"
    assert execution_number("ds-1", "ds-1") == 1
    assert execution_number("ds-1", "by-hand") == 1


def test_an_invalid_trigger_still_gets_one_execution_that_can_say_run_failed() -> None:
    executions, services = FakeExecutions(), fake_services(ledger=FakeLedger())
    bad = {"id": "ab:cd", "source": "forgeflow", "detail-type": "Something Else", "detail": {}}
    launches = [launch_run(bad, f"d{n}", services, executions) for n in range(2)]
    assert list(executions.started) == ["invalid-ab-cd"]
    assert [launch.duplicate for launch in launches] == [False, True]
