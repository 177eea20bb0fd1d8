"""Experiment tracking (issue #13): a run's outputs → params, metrics, tags, artifacts → one MLflow run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from fakes.mlflow_server import FakeTrackingServer, serve

from forgeflow.errors import InputError
from forgeflow.evaluation.report import build_report
from forgeflow.pipeline.settings import PipelineSettings
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


# --- on AWS: a SageMaker MLflow tracking server, offline ---------------------------------------------------
# The real sagemaker-mlflow plugin and MLflow REST store talk to a localhost stand-in of the server
# (tests/fakes/mlflow_server.py); the S3 artifact store is moto's S3, in-process.
ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/forgeflow"
DATA_BUCKET = "forgeflow-data"
ARTIFACT_BUCKET = "mlflow-artifact-store"
RUN = "tickets-0123456789ab"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTrackingServer]:
    fake = FakeTrackingServer(artifact_root=f"s3://{ARTIFACT_BUCKET}/forgeflow")
    http, url = serve(fake)
    # The plugin's own override of the server URL; no retries against a stand-in that answers at once.
    monkeypatch.setenv("SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    yield fake
    http.shutdown()


def test_an_arn_tracking_uri_is_signed_for_that_server(server: FakeTrackingServer, tmp_path: Path) -> None:
    # sagemaker-mlflow signs for MLflow's global tracking URI: given only to the client, the ARN never
    # reached the signer (IndexError in set_arn) and TrackRun could not log a single run on AWS.
    record = read_record(Storage(), _run_folder(tmp_path), {"technique": "sft-lora"})
    run_id = log_record(replace(record, artifacts={}), ARN)  # artifacts: the tests below, on moto's S3
    assert server.runs[run_id]["info"]["run_name"] == RUN
    assert {call.path.rsplit("/", 2)[-2] + "/" + call.path.rsplit("/", 1)[-1] for call in server.calls} >= {
        "experiments/get-by-name",
        "experiments/create",
        "runs/create",
        "runs/log-batch",
        "runs/update",
    }
    for call in server.calls:  # SigV4 for the sagemaker-mlflow service in the ARN's region
        assert call.authorization.startswith("AWS4-HMAC-SHA256 Credential=testing/")
        assert "/us-east-1/sagemaker-mlflow/aws4_request" in call.authorization
    import mlflow

    assert mlflow.get_tracking_uri() != ARN  # the global URI is given back


def _stack(tmp_path: Path) -> tuple[object, dict[str, bytes]]:
    """The data bucket with one run's outputs, and the artifact store bucket (moto, in-process)."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=DATA_BUCKET)
    s3.create_bucket(Bucket=ARTIFACT_BUCKET)
    folder = Path(_run_folder(tmp_path))
    outputs = {}
    for path in folder.rglob("*"):
        if path.is_file():
            outputs[path.name] = path.read_bytes()
            key = f"runs/{RUN}/{path.relative_to(folder)}"
            s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=path.read_bytes())
    return s3, outputs


def _track(settings: PipelineSettings, s3: object) -> dict[str, str]:
    from forgeflow.aws.s3 import S3Objects
    from forgeflow.pipeline.steps.track import track_run

    event = {"detail": {"run_id": RUN, "technique": "sft-lora"}}
    return track_run(event, settings, Storage(S3Objects(s3)))


def test_with_the_artifact_bucket_the_artifacts_land_under_the_run_s_artifact_path(
    server: FakeTrackingServer, tmp_path: Path
) -> None:
    from moto import mock_aws

    settings = PipelineSettings(
        data_bucket=DATA_BUCKET, mlflow_tracking_arn=ARN, mlflow_artifact_bucket=ARTIFACT_BUCKET
    )
    with mock_aws():
        s3, outputs = _stack(tmp_path)
        result = _track(settings, s3)
        info = server.runs[result["mlflow_run_id"]]["info"]
        bucket, _, prefix = info["artifact_uri"].removeprefix("s3://").partition("/")
        assert bucket == ARTIFACT_BUCKET
        listed = s3.list_objects_v2(Bucket=ARTIFACT_BUCKET)["Contents"]  # type: ignore[attr-defined]
        keys = sorted(item["Key"] for item in listed)
        assert keys == sorted(f"{prefix}/{name}" for name in outputs if name != "request.json")
        for key in keys:  # byte-identical to runs/<run_id>/…
            body = s3.get_object(Bucket=ARTIFACT_BUCKET, Key=key)["Body"].read()  # type: ignore[attr-defined]
            assert body == outputs[key.rsplit("/", 1)[1]]
    tags = {tag["key"] for tag in server.runs[result["mlflow_run_id"]]["data"]["tags"]}
    assert not [tag for tag in tags if tag.startswith("forgeflow.artifact.")]


def test_without_the_artifact_bucket_the_artifacts_are_links_and_nothing_is_uploaded(
    server: FakeTrackingServer, tmp_path: Path
) -> None:
    from moto import mock_aws

    settings = PipelineSettings(data_bucket=DATA_BUCKET, mlflow_tracking_arn=ARN)
    with mock_aws():
        s3, _ = _stack(tmp_path)
        result = _track(settings, s3)
        assert "Contents" not in s3.list_objects_v2(Bucket=ARTIFACT_BUCKET)  # type: ignore[attr-defined]
    tags = {tag["key"]: tag["value"] for tag in server.runs[result["mlflow_run_id"]]["data"]["tags"]}
    assert tags["forgeflow.artifact.report.html"] == f"s3://{DATA_BUCKET}/runs/{RUN}/report/report.html"


def test_an_artifact_bucket_that_is_not_the_server_s_store_is_refused_before_any_run(
    server: FakeTrackingServer, tmp_path: Path
) -> None:
    from moto import mock_aws

    settings = PipelineSettings(
        data_bucket=DATA_BUCKET, mlflow_tracking_arn=ARN, mlflow_artifact_bucket="some-other-bucket"
    )
    with mock_aws():
        s3, _ = _stack(tmp_path)
        with pytest.raises(InputError, match="not in the bucket some-other-bucket") as refused:
            _track(settings, s3)
    assert "MlflowArtifactBucket" in str(refused.value.hint)
    assert server.runs == {}
