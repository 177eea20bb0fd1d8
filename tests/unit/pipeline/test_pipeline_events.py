"""Results events: committed schemas match the models, every emitted event validates, round trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from forgeflow.errors import DataError
from forgeflow.pipeline import events

EVENTS_DIR = Path(__file__).resolve().parents[3] / "events"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def schema(detail_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (events.SCHEMA_DIR / events.schema_file_name(detail_type)).read_text()
    )
    return document


def delivered(entry: dict[str, Any]) -> dict[str, Any]:
    """What EventBridge delivers for a PutEvents entry (the fields consumers and rules see)."""
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2026-11-23T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": json.loads(entry["Detail"]),
    }


EXAMPLES: list[events.ResultDetail] = [
    events.RunStarted(
        run_id="support-sft-ba032b5a1afc",
        dataset_uri="s3://b/incoming/support_sft.jsonl",
        source="s3",
        model="lite",
        technique=None,
        started_at=NOW,
    ),
    events.RunSucceeded(
        run_id="support-sft-ba032b5a1afc",
        dataset_uri="s3://b/incoming/support_sft.jsonl",
        model="lite",
        technique="sft-lora",
        outputs_uri="s3://b/runs/support-sft-ba032b5a1afc/",
        mix_report_uri="s3://b/runs/x/mix/mix_report.json",
        recipe_uri="s3://b/runs/x/recipe/train/recipe.yaml",
        training_job_name="forgeflow-x-train-1",
        model_artifacts=None,
        evaluation_summary_uri=None,
        evaluation={"mmlu": events.SuiteResult(metric="accuracy", base=0.75, trained=0.74, delta=-0.01)},
        finished_at=NOW,
    ),
    events.RunSucceeded(
        run_id="support-sft-ba032b5a1afc",
        dataset_uri="s3://b/incoming/support_sft.jsonl",
        model="lite",
        technique="sft-lora",
        outputs_uri="s3://b/runs/support-sft-ba032b5a1afc/",
        mix_report_uri="s3://b/runs/x/mix/mix_report.json",
        recipe_uri="s3://b/runs/x/recipe/train/recipe.yaml",
        training_job_name="forgeflow-x-train-1",
        model_artifacts=None,
        evaluation_summary_uri="s3://b/runs/x/evaluation/summary.json",
        evaluation={
            "mmlu": events.SuiteResult(
                metric="accuracy", base=None, trained=None, delta=None, note="not measured: no data offline"
            ),
            "gen_qa": events.SuiteResult(
                metric="f1_score", base=0.0, trained=0.9, delta=0.9, note="emulated"
            ),
        },
        emulated=True,
        finished_at=NOW,
    ),
    events.RunSucceeded(  # smoke_only: stopped after the smoke job (issue #11)
        run_id="support-sft-ba032b5a1afc",
        dataset_uri="s3://b/incoming/support_sft.jsonl",
        model="micro",
        technique="sft-lora",
        outputs_uri="s3://b/runs/support-sft-ba032b5a1afc/",
        mix_report_uri="s3://b/runs/x/mix/mix_report.json",
        recipe_uri="s3://b/runs/x/recipe/train/recipe.yaml",
        training_job_name=None,
        smoke_only=True,
        smoke_job_name="forgeflow-x-smoke-1",
        model_artifacts=None,
        evaluation_summary_uri=None,
        finished_at=NOW,
    ),
    events.RunFailed(
        run_id=None,
        stage="register",
        error_code="RequestInvalid",
        message="FineTune Requested detail: dataset_uri: Field required",
        finished_at=NOW,
    ),
]


def test_committed_schemas_are_what_the_models_generate(tmp_path: Path) -> None:
    written = events.write_schemas(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in events.SCHEMA_DIR.glob("*.json"))
    for path in written:
        assert path.read_bytes() == (events.SCHEMA_DIR / path.name).read_bytes(), (
            f"{path.name} is stale: run `python -m forgeflow.pipeline.events` and bump schema_version "
            "if the change is not backwards compatible"
        )


@pytest.mark.parametrize("detail", EXAMPLES, ids=lambda d: type(d).__name__)
def test_every_emitted_event_validates_and_round_trips(detail: events.ResultDetail) -> None:
    entry = events.to_eventbridge_entry(detail, bus_name="forgeflow-results")
    event = delivered(entry)
    jsonschema.validate(event, schema(entry["DetailType"]))
    assert events.from_event(event) == detail
    assert event["detail"]["schema_version"] == "1"


def test_a_detail_missing_a_required_field_fails_its_schema() -> None:
    event = delivered(events.to_eventbridge_entry(EXAMPLES[-1], bus_name="b"))
    del event["detail"]["stage"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, schema("Run Failed"))
    with pytest.raises(DataError, match="invalid 'Run Failed' detail"):
        events.from_event(event)


def test_the_sample_fine_tune_request_matches_its_schema() -> None:
    event = json.loads((EVENTS_DIR / "trigger-fine-tune-requested.json").read_text())
    jsonschema.validate(event, schema("FineTune Requested"))
    request = events.from_event(event)
    assert request.request_id == "crm-ticket-model-2026-11-23"


def test_the_sample_approval_requested_event_matches_its_schema_and_round_trips() -> None:
    event = json.loads((EVENTS_DIR / "approval-requested.json").read_text())
    jsonschema.validate(event, schema("Approval Requested"))
    detail = events.from_event(event)
    assert isinstance(detail, events.ApprovalRequested)
    assert detail.smoke.status == "Completed"
    assert events.to_eventbridge_entry(detail, bus_name="b")["DetailType"] == events.APPROVAL_REQUESTED
    del event["detail"]["approvers"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event, schema("Approval Requested"))


def test_a_run_failed_at_approval_is_a_version_1_stage() -> None:
    detail = events.RunFailed(
        run_id="r1", stage="approval", error_code="ApprovalRejected", message="m", finished_at=NOW
    )
    jsonschema.validate(delivered(events.to_eventbridge_entry(detail, bus_name="b")), schema("Run Failed"))


def test_foreign_events_are_refused() -> None:
    with pytest.raises(DataError, match="not a ForgeFlow event"):
        events.from_event({"source": "aws.s3", "detail-type": "Object Created", "detail": {}})
    assert events.RUN_REGRESSED not in events.DETAIL_TYPES  # reserved for the evaluation gate


def test_a_run_succeeded_detail_without_the_optional_evaluation_fields_is_still_version_1() -> None:
    # Added within schema_version "1": `emulated` and each suite's `note` are optional.
    event = delivered(events.to_eventbridge_entry(EXAMPLES[1], bus_name="b"))
    del event["detail"]["emulated"]
    del event["detail"]["evaluation"]["mmlu"]["note"]
    jsonschema.validate(event, schema("Run Succeeded"))
    parsed = events.from_event(event)
    assert isinstance(parsed, events.RunSucceeded)
    assert parsed.emulated is False
    assert parsed.evaluation["mmlu"].note is None


def test_a_run_succeeded_detail_without_the_smoke_only_fields_is_still_version_1() -> None:
    # Added within schema_version "1": `smoke_only` and `smoke_job_name` are optional, and a consumer
    # of a full run still gets a training job name.
    event = delivered(events.to_eventbridge_entry(EXAMPLES[1], bus_name="b"))
    del event["detail"]["smoke_only"]
    del event["detail"]["smoke_job_name"]
    jsonschema.validate(event, schema("Run Succeeded"))
    parsed = events.from_event(event)
    assert isinstance(parsed, events.RunSucceeded)
    assert (parsed.smoke_only, parsed.smoke_job_name, parsed.training_job_name) == (
        False,
        None,
        "forgeflow-x-train-1",
    )
