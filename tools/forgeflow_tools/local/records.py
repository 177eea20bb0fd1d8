"""`run.json`: the record `forgeflow local run` saves of one execution, and `forgeflow runs --local` reads.

moto's state lives only as long as the `forgeflow local run` process, so this file is all that is left of a
local run afterwards. One model serves the writer (`LocalRuntime.save_run`) and the reader
(`forgeflow_tools.cli.runs.LocalRuns`), so the two cannot drift apart. The JSON is the same as it has
always been: these keys, in this order; AWS timestamps as ISO-8601 strings, DynamoDB numbers as strings.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, field_validator

from forgeflow_tools.local.sagemaker import EMULATED_NOTE, EmulatedJob

RUN_RECORD_FILE = "run.json"
RECORD_NOTE = "recorded by the ForgeFlow local runtime (AWS emulated in-process by moto)"
# What the reader needs of DescribeExecution (the rest is kept as AWS answered it).
_EXECUTION_KEYS = ("executionArn", "name", "status", "startDate")


class TrainingJobRecord(BaseModel):
    """One emulated training job of the run, with its status transitions."""

    model_config = ConfigDict(frozen=True)

    name: str
    stage: str
    status: str
    secondary_status: str
    failure_reason: str | None
    transitions: list[dict[str, Any]]
    note: str = EMULATED_NOTE

    @classmethod
    def of(cls, job: EmulatedJob) -> TrainingJobRecord:
        return cls(
            name=job.name,
            stage=job.stage,
            status=job.status,
            secondary_status=job.secondary,
            failure_reason=job.failure_reason,
            transitions=job.transitions,
        )


class RunRecord(BaseModel):
    """One saved local run: the execution, its history, ledger row, results events and training jobs.

    `execution`, `history`, `ledger` and `events` stay the AWS answers (DescribeExecution,
    GetExecutionHistory events, the DynamoDB row, EventBridge envelopes) so `forgeflow runs` reads them
    the same way whether they come from this file or from a deployed stack.
    """

    model_config = ConfigDict(frozen=True)

    emulated: Literal[True] = True
    note: str = RECORD_NOTE
    run_id: str
    stack: str
    state_machine_arn: str
    execution: dict[str, Any]
    history: list[dict[str, Any]]
    ledger: dict[str, Any] | None
    events: list[dict[str, Any]]
    training_jobs: list[TrainingJobRecord]

    @field_validator("execution")
    @classmethod
    def _describes_an_execution(cls, execution: dict[str, Any]) -> dict[str, Any]:
        missing = [key for key in _EXECUTION_KEYS if key not in execution]
        if missing:
            raise ValueError(f"the execution has no {', '.join(missing)}")
        return execution

    @property
    def execution_arn(self) -> str:
        return str(self.execution["executionArn"])

    @property
    def execution_name(self) -> str:
        return str(self.execution["name"])

    def to_json(self) -> bytes:
        """The file's bytes: datetimes as ISO-8601, what orjson cannot write (Decimal) as str."""
        return orjson.dumps(
            self.model_dump(), option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
        )

    @classmethod
    def from_json(cls, data: bytes) -> RunRecord:
        """Parse a saved record; a ValueError (orjson's or pydantic's) says why it is not one."""
        return cls.model_validate(orjson.loads(data))
