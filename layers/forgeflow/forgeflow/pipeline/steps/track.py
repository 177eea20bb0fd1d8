"""TrackRun: a run's outcome event → one MLflow run on the stack's SageMaker MLflow tracking server.

The Track function exists only when the stack parameter MlflowTrackingArn is set (template.yaml,
Condition HasMlflowTracking); it runs on the results bus' `Run Succeeded` (and `Run Regressed`) events,
reads the run's outputs under `runs/<run_id>/` and logs them with forgeflow.tracking (docs/tracking.md).
MLflow itself comes from the function's own TrackingLayer, never from ForgeFlowLayer.

The tracking server's artifact store is a bucket this stack does not own. With the stack parameter
MlflowArtifactBucket (that bucket) the function may put objects there and uploads the artifacts under the
run's artifact path; without it, it is granted no write there and each artifact's S3 URI is a tag instead
(`forgeflow.artifact.<name>`), readable by whoever may read the run's outputs.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from forgeflow.pipeline.errors import RequestInvalid
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.storage import Storage
from forgeflow.tracking.mlflow_log import log_record
from forgeflow.tracking.record import ARTIFACTS, TAG_PREFIX, read_record

# Run ids are derived by RegisterRun from the dataset name and a hash: letters, digits, dots, dashes.
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def track_run(event: dict[str, Any], settings: PipelineSettings, storage: Storage) -> dict[str, str]:
    """Log the run the event names; {run_id, mlflow_run_id}. RequestInvalid for an event naming no run."""
    detail = event.get("detail")
    run_id = detail.get("run_id") if isinstance(detail, dict) else None
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise RequestInvalid(f"the outcome event names no valid run id: {run_id!r}")
    if not settings.mlflow_tracking_arn:
        raise RequestInvalid(
            "tracking is off: MLFLOW_TRACKING_ARN is empty (stack parameter MlflowTrackingArn)"
        )
    prefix = settings.run_prefix(run_id)
    record = read_record(storage, prefix, detail if isinstance(detail, dict) else None)
    bucket = settings.mlflow_artifact_bucket
    if not bucket:
        links = {f"{TAG_PREFIX}artifact.{name}": prefix + ARTIFACTS[name] for name in record.artifacts}
        record = replace(record, tags={**record.tags, **links}, artifacts={})
    logged = log_record(record, settings.mlflow_tracking_arn, artifact_bucket=bucket or None)
    return {"run_id": run_id, "mlflow_run_id": logged}
