"""Issue #15: answering an approval with the token stored for that run only, and the CLI's refusals."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from forgeflow.aws.approvals import TaskAnswers, TokenRefusedError
from forgeflow.errors import InputError
from forgeflow_tools.approvals import answer, pending_token
from forgeflow_tools.cli import local as local_cli
from forgeflow_tools.cli.main import main

# moto's Step Functions interpreter (the one the local runtime uses) knows task tokens.
PARSER: Any = {"stepfunctions": {"execute_state_machine": True}}
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WAITING = {"run_id": "a", "status": "RUNNING", "stage": "approval", "approval_token": "token-of-a"}


@dataclass
class Rows:
    rows: dict[str, dict[str, Any]]

    def ledger_row(self, run_id: str) -> dict[str, Any] | None:
        return self.rows.get(run_id)


@dataclass
class Answers:
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    refuse: str | None = None

    def succeed(self, token: str, output: str) -> None:
        self._send("success", token, output)

    def fail(self, token: str, error: str, cause: str) -> None:
        self._send("failure", token, f"{error}: {cause}")

    def _send(self, kind: str, token: str, body: str) -> None:
        if self.refuse:
            raise TokenRefusedError(self.refuse, "the task was closed")
        self.sent.append((kind, token, body))


def test_each_run_is_answered_with_its_own_stored_token_only() -> None:
    rows = Rows({"a": WAITING, "b": {**WAITING, "run_id": "b", "approval_token": "token-of-b"}})
    answers = Answers()
    answered = answer("b", rows, answers, approve=True, approver="arn:aws:iam::1:user/lead", now=NOW)
    answer("a", rows, answers, approve=False, approver="lead", now=NOW, reason="loss diverged")
    (kind, token, output), rejected = answers.sent
    assert (kind, token) == ("success", "token-of-b")
    assert json.loads(output) == {
        "approved": True,
        "approver": "arn:aws:iam::1:user/lead",
        "decided_at": NOW.isoformat(),
    }
    assert rejected == ("failure", "token-of-a", "ApprovalRejected: loss diverged")
    assert (answered.run_id, answered.decision) == ("b", "approved")


@pytest.mark.parametrize(
    ("row", "code", "message"),
    [
        (None, "NOT_FOUND", "no run 'a'"),
        ({**WAITING, "status": "FAILED"}, "NO_PENDING_APPROVAL", "is FAILED"),
        ({**WAITING, "status": "SUCCEEDED", "stage": "publish"}, "NO_PENDING_APPROVAL", "is SUCCEEDED"),
        ({"run_id": "a", "status": "RUNNING", "stage": "smoke"}, "NO_PENDING_APPROVAL", "not waiting"),
        ({**WAITING, "stage": "train"}, "TOKEN_USED", "answered already"),
    ],
)
def test_a_run_that_waits_for_no_answer_is_refused_and_nothing_is_sent(
    row: dict[str, Any] | None, code: str, message: str
) -> None:
    answers = Answers()
    with pytest.raises(InputError, match=message) as refused:
        answer("a", Rows({"a": row} if row else {}), answers, approve=True, approver="x", now=NOW)
    assert (refused.value.code, refused.value.exit_code) == (code, 2)
    assert answers.sent == []


def test_a_token_step_functions_refuses_is_reported_as_used() -> None:
    with pytest.raises(InputError, match="answered already, timed out") as refused:
        answer("a", Rows({"a": WAITING}), Answers(refuse="TaskTimedOut"), approve=True, approver="x", now=NOW)
    assert refused.value.code == "TOKEN_USED"


def test_a_rejection_needs_a_reason() -> None:
    with pytest.raises(InputError, match="needs a reason"):
        answer("a", Rows({"a": WAITING}), Answers(), approve=False, approver="x", now=NOW, reason="  ")
    assert pending_token("a", WAITING) == "token-of-a"


def test_the_adapter_turns_step_functions_refusals_into_token_refused() -> None:
    from moto import mock_aws

    with mock_aws(config=PARSER):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        with pytest.raises(TokenRefusedError) as refused:
            TaskAnswers(sfn).succeed("no-such-token", "{}")
        assert refused.value.code == "InvalidToken"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--output", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_approve_against_a_stack_with_a_used_token_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws(config=PARSER):
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="runs",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "run_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
        )
        item = {key: {"S": value} for key, value in WAITING.items()}
        dynamodb.put_item(TableName="runs", Item=item)
        where = (
            "--state-machine-arn",
            "arn:aws:states:us-east-1:123456789012:stateMachine:p",
            "--table",
            "runs",
        )
        code, document = _cli(capsys, "runs", "approve", "a", *where)
        assert (code, document["error"]["code"]) == (2, "TOKEN_USED")
        code, document = _cli(capsys, "runs", "reject", "unknown", "--reason", "no", *where)
        assert (code, document["error"]["code"]) == (2, "NOT_FOUND")


def test_approve_needs_a_stack_and_local_runs_wait_for_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, document = _cli(capsys, "runs", "approve", "a", "--region", "us-east-1")
    assert (code, document["error"]["code"]) == (2, "USAGE")
    code, document = _cli(capsys, "runs", "approve", "a", "--local", "--runs-dir", str(tmp_path))
    assert (code, document["error"]["code"]) == (2, "NOT_FOUND")
    code, document = _cli(capsys, "runs", "reject", "a", "--local", "--stack", "s", "--reason", "r")
    assert (code, document["error"]["code"]) == (2, "USAGE")


def test_local_run_refuses_a_prompt_without_a_terminal_and_an_approve_nothing_asks_for(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = tmp_path / "d.jsonl"
    dataset.write_text("{}\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a TTY
    code, document = _cli(capsys, "local", "run", str(dataset), "--require-approval", "--approve", "prompt")
    assert (code, document["error"]["code"]) == (2, "USAGE")
    assert "not a terminal" in document["error"]["message"]
    code, document = _cli(capsys, "local", "run", str(dataset), "--require-approval")  # prompt by default
    assert (code, document["error"]["code"]) == (2, "USAGE")
    code, document = _cli(capsys, "local", "run", str(dataset), "--approve", "auto")
    assert (code, document["error"]["code"]) == (2, "USAGE")
    assert "asks for no approval" in document["error"]["message"]


@pytest.mark.parametrize(
    ("reply", "approved"), [("y\n", True), ("YES\n", True), ("\n", False), ("n\n", False)]
)
def test_the_prompt_shows_the_smoke_job_and_the_estimate_and_defaults_to_no(
    reply: str, approved: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(reply))
    detail = {
        "run_id": "a",
        "smoke": {"job_name": "forgeflow-a-smoke-1", "status": "Completed"},
        "estimated_cost_usd": 412.5,
    }
    assert local_cli._ask_on_terminal(detail) is approved
    shown = capsys.readouterr()
    assert "forgeflow-a-smoke-1 Completed" in shown.err
    assert "412.50 USD" in shown.err
