"""Log a `TrackingRecord` as one MLflow run: a local file store, or a SageMaker managed MLflow server.

MLflow is imported here, inside `log_record`, and nowhere else in the package: only a process that tracks
pays for it (mlflow-skinny and the sagemaker-mlflow plugin, the `tracking` extra; about 70 MB installed).

- A SageMaker tracking server is named by its ARN as the tracking URI: the sagemaker-mlflow plugin signs
  the calls with the caller's AWS credentials (SageMaker developer guide, "Integrate MLflow with your
  environment").
- A `file:` URI is MLflow's file store. MLflow 3 refuses it unless MLFLOW_ALLOW_FILE_STORE=true ("in
  maintenance mode"; a database store needs SQLAlchemy, which mlflow-skinny leaves out), so this sets it
  for file stores only.

Logging is idempotent: a run whose `forgeflow.run_id` tag is already in the experiment is not logged twice
(an outcome event delivered again, a re-run of `forgeflow local run` logging the same saved run).

Artifacts go to the run's artifact URI through MLflow's artifact repository: a file store's folder, or on
a SageMaker server its S3 artifact store, which MLflow's S3 repository writes with boto3 (the caller's
credentials; `artifact_bucket` names the bucket the caller may write, checked before any run is created).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from forgeflow.errors import InputError
from forgeflow.tracking.record import TAG_PREFIX, TrackingRecord

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

DEFAULT_EXPERIMENT = "forgeflow"
_RUN_ID = re.compile(r"^[A-Za-z0-9._-]+$")
# MLflow's log_batch limits (REST API docs, LogBatch): 1000 metrics, 100 params, 100 tags per request.
_METRICS_PER_BATCH = 1000


def log_record(
    record: TrackingRecord,
    tracking_uri: str,
    experiment: str = DEFAULT_EXPERIMENT,
    *,
    artifact_bucket: str | None = None,
) -> str:
    """Create the MLflow run (or find the one already logged) and return its MLflow run id.

    `artifact_bucket`: the S3 bucket the tracking server keeps this experiment's artifacts in; an
    experiment whose artifact location lies elsewhere is refused before a run is created (the caller
    could not write its artifacts)."""
    if tracking_uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    with _signing_for(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri)
        experiment_id = _experiment_id(client, experiment, artifact_bucket)
        run_id = record.tags.get(TAG_PREFIX + "run_id", "")
        if _RUN_ID.match(run_id):  # a run id is quoted into the filter only when it cannot break out
            existing = client.search_runs(
                [experiment_id], filter_string=f"tags.`{TAG_PREFIX}run_id` = '{run_id}'", max_results=1
            )
            if existing:
                return str(existing[0].info.run_id)
        run = client.create_run(experiment_id, tags=record.tags, run_name=record.run_name)
        mlflow_run_id = str(run.info.run_id)
        stamp = int(time.time() * 1000)
        metrics = [Metric(name, value, stamp, 0) for name, value in sorted(record.metrics.items())]
        params = [Param(name, value) for name, value in sorted(record.params.items())]
        client.log_batch(mlflow_run_id, metrics=metrics[:_METRICS_PER_BATCH], params=params)
        for start in range(_METRICS_PER_BATCH, len(metrics), _METRICS_PER_BATCH):
            client.log_batch(mlflow_run_id, metrics=metrics[start : start + _METRICS_PER_BATCH])
        with tempfile.TemporaryDirectory(prefix="forgeflow-track-") as folder:
            for name, data in record.artifacts.items():
                (Path(folder) / name).write_bytes(data)
                client.log_artifact(mlflow_run_id, str(Path(folder) / name))
        client.set_terminated(mlflow_run_id)
    return mlflow_run_id


@contextlib.contextmanager
def _signing_for(tracking_uri: str) -> Iterator[None]:
    """sagemaker-mlflow 0.5.0 signs each call for the ARN of MLflow's *global* tracking URI, not the
    client's (sagemaker_mlflow/auth_provider.py, `get_auth`: `set_arn(get_tracking_uri())`), so an ARN is
    made the global URI for the duration of the calls; a file store needs no signing."""
    if tracking_uri.startswith("file:"):
        yield
        return
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def _experiment_id(client: MlflowClient, name: str, artifact_bucket: str | None) -> str:
    """The experiment's id (created when missing), refused when its artifacts live outside the bucket."""
    found = client.get_experiment_by_name(name)
    if found is None:
        created = str(client.create_experiment(name))
        if artifact_bucket is None:
            return created
        found = client.get_experiment(created)
    if artifact_bucket is not None:
        location = str(found.artifact_location)
        if not location.startswith(f"s3://{artifact_bucket}/"):
            raise InputError(
                f"the tracking server keeps experiment {name!r}'s artifacts at {location}, not in the "
                f"bucket {artifact_bucket}",
                code="BAD_SETTINGS",
                hint="set the stack parameter MlflowArtifactBucket to the tracking server's artifact store "
                "bucket (DescribeMlflowTrackingServer ArtifactStoreUri), or leave it empty to log links",
            )
    return str(found.experiment_id)
