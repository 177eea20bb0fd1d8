"""Answering a run's approval task with Step Functions' SendTaskSuccess / SendTaskFailure (for the CLI).

The token comes from the run's ledger row (RequestApproval wrote it); this adapter only sends. Step
Functions refuses a token it does not know (`InvalidToken`), or whose task has ended — answered, timed out
or stopped (`TaskDoesNotExist`, `TaskTimedOut`; SendTaskSuccess API reference, "Errors").
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

# Step Functions' answers for a token that can no longer be used.
TOKEN_REFUSALS = frozenset({"InvalidToken", "TaskDoesNotExist", "TaskTimedOut"})


class TokenRefusedError(Exception):
    """Step Functions refused the token: its task was answered already, timed out or never existed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class TaskAnswers:
    """SendTaskSuccess / SendTaskFailure on a boto3 Step Functions client."""

    def __init__(self, stepfunctions: Any) -> None:
        self._sfn = stepfunctions

    def succeed(self, token: str, output: str) -> None:
        self._send(self._sfn.send_task_success, taskToken=token, output=output)

    def fail(self, token: str, error: str, cause: str) -> None:
        self._send(self._sfn.send_task_failure, taskToken=token, error=error, cause=cause)

    @staticmethod
    def _send(operation: Any, **request: str) -> None:
        try:
            operation(**request)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in TOKEN_REFUSALS:
                raise TokenRefusedError(
                    code, str(error.response.get("Error", {}).get("Message", ""))
                ) from error
            raise
