"""`run.json`: the RunRecord the local runtime writes is the file it always wrote, and reads back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from forgeflow.errors import InputError
from forgeflow_tools.cli.runs import LocalRuns
from forgeflow_tools.local.records import RECORD_NOTE, RunRecord, TrainingJobRecord
from forgeflow_tools.local.sagemaker import EMULATED_NOTE

START = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
ARN = "arn:aws:states:us-east-1:123456789012:execution:sm:exec-1"


def _fields() -> dict[str, Any]:
    """What save_run records, with the Python types boto3 and the DynamoDB deserializer give it."""
    return {
        "run_id": "r-1",
        "stack": "forgeflow-local",
        "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:sm",
        "execution": {"executionArn": ARN, "name": "exec-1", "status": "SUCCEEDED", "startDate": START},
        "history": [{"type": "ExecutionStarted", "timestamp": START, "id": 1}],
        "ledger": {"run_id": "r-1", "execution_arn": ARN, "cost": Decimal("12.5")},
        "events": [{"detail-type": "Run Succeeded", "detail": {"run_id": "r-1"}}],
    }


def _job() -> dict[str, Any]:
    transitions = [{"Status": "Starting", "StartTime": START, "StatusMessage": "m", "EndTime": START}]
    return {
        "name": "forgeflow-r-1-smoke-1",
        "stage": "smoke",
        "status": "Completed",
        "secondary_status": "Completed",
        "failure_reason": None,
        "transitions": transitions,
    }


def test_the_json_is_the_dictionary_the_runtime_always_wrote() -> None:
    record = RunRecord(**_fields(), training_jobs=[TrainingJobRecord(**_job())])
    legacy = {
        "emulated": True,
        "note": RECORD_NOTE,
        **_fields(),
        "training_jobs": [{**_job(), "note": EMULATED_NOTE}],
    }
    option = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
    assert record.to_json() == orjson.dumps(legacy, option=option, default=str)


def test_a_saved_record_reads_back() -> None:
    saved = RunRecord(**_fields(), training_jobs=[TrainingJobRecord(**_job())]).to_json()
    record = RunRecord.from_json(saved)
    assert record.execution_arn == ARN
    assert record.execution_name == "exec-1"
    assert record.execution["startDate"] == START.isoformat()
    assert record.ledger == {"run_id": "r-1", "execution_arn": ARN, "cost": "12.5"}
    assert record.training_jobs[0].stage == "smoke"
    assert record.to_json() == saved


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        orjson.dumps({**_fields(), "execution": {"name": "x"}, "training_jobs": []}, default=str),
    ],
)
def test_a_file_that_is_not_a_run_record_is_a_bad_run_record(body: bytes, tmp_path: Path) -> None:
    (tmp_path / "r-1").mkdir()
    (tmp_path / "r-1" / "run.json").write_bytes(body)
    with pytest.raises(InputError) as caught:
        LocalRuns(tmp_path)
    assert caught.value.code == "BAD_RUN_RECORD"
    assert "is not a saved run" in str(caught.value)
