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
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

from forgeflow.tracking.record import TAG_PREFIX, TrackingRecord

DEFAULT_EXPERIMENT = "forgeflow"
_RUN_ID = re.compile(r"^[A-Za-z0-9._-]+$")
# MLflow's log_batch limits (REST API docs, LogBatch): 1000 metrics, 100 params, 100 tags per request.
_METRICS_PER_BATCH = 1000


def log_record(record: TrackingRecord, tracking_uri: str, experiment: str = DEFAULT_EXPERIMENT) -> str:
    """Create the MLflow run (or find the one already logged) and return its MLflow run id."""
    if tracking_uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    run_id = record.tags.get(TAG_PREFIX + "run_id", "")
    if _RUN_ID.match(run_id):  # a run id is quoted into the filter only when it cannot break out of it
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
        if record.artifacts:
            client.log_artifacts(mlflow_run_id, folder)
    client.set_terminated(mlflow_run_id)
    return mlflow_run_id
