"""Experiment tracking (issue #13): a run's outputs → params, metrics, tags, artifacts → one MLflow run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from forgeflow.errors import InputError
from forgeflow.evaluation.report import build_report
from forgeflow.storage import Storage
from forgeflow.tracking.mlflow_log import log_record
from forgeflow.tracking.record import read_record

SUMMARY: dict[str, Any] = {
    "run_id": "tickets-0123456789ab",
    "emulated": True,
    "domain_task": "classification",
    "suites": {
        "gen_qa": {"metric": "f1_score", "base": 0.2, "trained": 0.6, "delta": 0.4,
                   "base_metrics": {"f1_score": 0.2, "rougeL": 0.1}, "trained_metrics": {"f1_score": 0.6}},
        "mmlu": {"metric": "accuracy", "base": None, "trained": None, "delta": None,
                 "note": "not measured: offline", "base_metrics": {}, "trained_metrics": {}},
    },
    "gate": {"verdict": "promoted", "gates": [], "failed": [], "unmeasured": []},
}  # fmt: skip
MIX = {
    "seed": 42,
    "unit": "records",
    "sources": [{"name": "cust<omer>", "target_share": 0.75, "achieved_share": 0.74, "selected": 3}],
}


def _run_folder(root: Path, *, report: bool = True) -> str:
    prefix = root / "runs" / "tickets-0123456789ab"
    (prefix / "mix").mkdir(parents=True)
    (prefix / "recipe" / "train").mkdir(parents=True)
    request = {
        "run_id": "tickets-0123456789ab",
        "model": "lite",
        "technique": None,
        "method": "sft",
        "dataset_uri": "s3://b/incoming/tickets.jsonl",
        "dataset": {"version_id": "v7", "etag": "e"},
    }
    (prefix / "request.json").write_bytes(orjson.dumps(request))
    (prefix / "mix" / "mix_report.json").write_bytes(orjson.dumps(MIX))
    (prefix / "recipe" / "train" / "recipe.yaml").write_bytes(b"run: {}\n")
    if report:
        (prefix / "report").mkdir()
        document = build_report(SUMMARY, mix_report=MIX, recipe=b"run: {}\n", estimate_usd=3.5)
        (prefix / "report" / "report.json").write_bytes(orjson.dumps(document))
        (prefix / "report" / "report.html").write_bytes(b"<html></html>")
    return f"{prefix}/"


def test_the_record_holds_params_every_score_and_delta_tags_and_artifacts(tmp_path: Path) -> None:
    detail = {"technique": "sft-lora", "recipe_uri": "s3://b/runs/x/recipe/train/recipe.yaml"}
    record = read_record(Storage(), _run_folder(tmp_path), detail)
    assert record.run_name == "tickets-0123456789ab"
    assert record.params["model"] == "lite"
    assert record.params["technique"] == "sft-lora"
    assert record.params["seed"] == "42"
    assert record.params["plan"] == '{"cust<omer>":0.75}'
    assert record.params["recipe"] == detail["recipe_uri"]
    assert len(record.params["recipe_sha256"]) == 64
    assert record.metrics == {
        "gen_qa.f1_score.base": 0.2, "gen_qa.f1_score.trained": 0.6, "gen_qa.f1_score.delta": 0.4,
        "gen_qa.rougeL.base": 0.1, "gen_qa.delta": 0.4, "mix.cust_omer_.achieved_share": 0.74,
        "cost.estimate_usd": 3.5,
    }  # fmt: skip
    assert record.tags["forgeflow.run_id"] == "tickets-0123456789ab"
    assert record.tags["forgeflow.dataset_version"] == "v7"
    assert record.tags["forgeflow.verdict"] == "promoted"
    assert set(record.artifacts) == {"mix_report.json", "recipe.yaml", "report.json", "report.html"}


def test_a_run_without_a_report_is_tracked_with_what_it_has(tmp_path: Path) -> None:
    record = read_record(Storage(), _run_folder(tmp_path, report=False))
    assert record.metrics == {}
    assert "forgeflow.verdict" not in record.tags
    assert set(record.artifacts) == {"mix_report.json", "recipe.yaml"}


def test_a_folder_without_a_run_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no run"):
        read_record(Storage(), f"{tmp_path}/")


def test_logging_writes_one_mlflow_run_and_a_second_delivery_finds_it(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    record = read_record(Storage(), _run_folder(tmp_path), {"technique": "sft-lora"})
    store = (tmp_path / "mlruns").as_uri()
    first = log_record(record, store)
    assert log_record(record, store) == first
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("forgeflow")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert [run.info.run_id for run in runs] == [first]
    data = runs[0].data
    assert data.metrics["gen_qa.delta"] == 0.4
    assert data.params["technique"] == "sft-lora"
    assert data.tags["forgeflow.verdict"] == "promoted"
    assert {a.path for a in client.list_artifacts(first)} == set(record.artifacts)


def test_the_track_function_logs_the_event_s_run_from_s3_with_links_not_uploads(tmp_path: Path) -> None:
    import boto3
    from mlflow.tracking import MlflowClient
    from moto import mock_aws

    from forgeflow.aws.s3 import S3Objects
    from forgeflow.pipeline.settings import PipelineSettings
    from forgeflow.pipeline.steps.track import track_run

    folder = Path(_run_folder(tmp_path))
    store = (tmp_path / "mlruns").as_uri()
    settings = PipelineSettings(data_bucket="forgeflow-track", mlflow_tracking_arn=store)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="forgeflow-track")
        for path in folder.rglob("*"):
            if path.is_file():
                key = f"runs/tickets-0123456789ab/{path.relative_to(folder)}"
                s3.put_object(Bucket="forgeflow-track", Key=key, Body=path.read_bytes())
        event = {"detail": {"run_id": "tickets-0123456789ab", "technique": "sft-lora"}}
        result = track_run(event, settings, Storage(S3Objects(s3)))
    client = MlflowClient(tracking_uri=store)
    run = client.get_run(result["mlflow_run_id"])
    assert run.data.metrics["gen_qa.delta"] == 0.4
    assert run.data.tags["forgeflow.artifact.report.html"] == (
        "s3://forgeflow-track/runs/tickets-0123456789ab/report/report.html"
    )
    assert client.list_artifacts(result["mlflow_run_id"]) == []


@pytest.mark.parametrize("detail", [{}, {"run_id": "x' or '1'='1"}, {"run_id": None}])
def test_an_event_without_a_valid_run_id_is_refused(detail: dict[str, Any]) -> None:
    from forgeflow.pipeline.errors import RequestInvalid
    from forgeflow.pipeline.settings import PipelineSettings
    from forgeflow.pipeline.steps.track import track_run

    with pytest.raises(RequestInvalid, match="no valid run id"):
        track_run({"detail": detail}, PipelineSettings(data_bucket="b", mlflow_tracking_arn="arn"), Storage())


def test_tracking_off_is_refused_not_silently_skipped() -> None:
    from forgeflow.pipeline.errors import RequestInvalid
    from forgeflow.pipeline.settings import PipelineSettings
    from forgeflow.pipeline.steps.track import track_run

    with pytest.raises(RequestInvalid, match="tracking is off"):
        track_run({"detail": {"run_id": "r-1"}}, PipelineSettings(data_bucket="b"), Storage())
