"""The pipeline's state machine (Step Functions StartExecution), for the launcher."""

from __future__ import annotations

from typing import Any

import orjson


class StepFunctionsExecutions:
    """`forgeflow.ports.Executions` on StartExecution: a taken name is reported, not raised."""

    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._machine = state_machine_arn

    def start(self, name: str, payload: dict[str, Any]) -> str | None:
        try:
            answer = self._client.start_execution(
                stateMachineArn=self._machine, name=name, input=orjson.dumps(payload).decode()
            )
        except self._client.exceptions.ExecutionAlreadyExists:
            # StartExecution API reference: a name in use (any status, 90 days) with another input.
            return None
        return str(answer["executionArn"])
