"""A deployed stack's runs, for operators: executions from Step Functions, rows from the run ledger."""

from __future__ import annotations

from typing import Any

from forgeflow.aws.ledger import DynamoLedger
from forgeflow.errors import InputError

# The stack outputs (template.yaml `Outputs`) that name the state machine and the ledger table.
STACK_OUTPUT_STATE_MACHINE = "PipelineStateMachineArn"
STACK_OUTPUT_TABLE = "RunLedgerTableName"


class DeployedRuns:
    """The runs of one deployed pipeline: its state machine's executions and the ledger's rows."""

    def __init__(self, stepfunctions: Any, ledger: DynamoLedger, state_machine_arn: str) -> None:
        self._sfn = stepfunctions
        self._ledger = ledger
        self._machine = state_machine_arn

    def executions(self, limit: int) -> list[dict[str, Any]]:
        answer = self._sfn.list_executions(stateMachineArn=self._machine, maxResults=min(max(limit, 1), 1000))
        return list(answer["executions"])

    def describe(self, execution_arn: str) -> dict[str, Any]:
        if ":execution:" not in execution_arn:  # an execution name: complete it from the machine's ARN
            execution_arn = self._machine.replace(":stateMachine:", ":execution:") + ":" + execution_arn
        answer: dict[str, Any] = self._sfn.describe_execution(executionArn=execution_arn)
        return answer

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for page in self._sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    # Rows leave as plain attributes: the CLI shows local and deployed runs through one table.
    def ledger_for(self, execution_arn: str) -> dict[str, Any] | None:
        row = self._ledger.find_by_execution(execution_arn)
        return row.to_item() if row else None

    def ledger_row(self, run_id: str) -> dict[str, Any] | None:
        row = self._ledger.get(run_id)
        return row.to_item() if row else None


def connect(
    *,
    profile: str | None,
    region: str | None,
    state_machine_arn: str | None,
    table: str | None,
) -> DeployedRuns:
    """The runs of a deployed pipeline, named by its state machine and ledger table (the CLI reads them
    from the stack's outputs, `STACK_OUTPUT_*`, when given `--stack`)."""
    import boto3  # deferred: the CLI's other commands must not pay for it

    session = boto3.session.Session(profile_name=profile, region_name=region)
    if not state_machine_arn or not table:
        raise InputError(
            "which stack? the state machine and the ledger table are unknown",
            code="USAGE",
            hint="pass --stack NAME, or --state-machine-arn and --table, or --local",
        )
    ledger = DynamoLedger(session.client("dynamodb"), table)
    return DeployedRuns(session.client("stepfunctions"), ledger, state_machine_arn)
