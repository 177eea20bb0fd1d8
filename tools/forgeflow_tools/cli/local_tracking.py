"""MLflow tracking of `forgeflow local run`: each saved run logged as an MLflow run (docs/tracking.md).

By default a run is logged to the file store `.forgeflow/mlruns` (view it with
`MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri .forgeflow/mlruns`); `--tracking-uri` names
another store (a `file:` URI, a folder, or a SageMaker MLflow tracking server ARN), `--no-tracking` or
`FORGEFLOW_TRACKING_URI=off` turns it off. The record is read from the saved copy of the run's S3 outputs
(`<outputs-dir>/<run_id>/s3/runs/<run_id>/`), with the code the deployed Track function uses.

Tracking never changes the run's exit code: a store that cannot be written, or MLflow not installed (the
`tracking` extra), is one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from forgeflow.errors import ForgeFlowError

DEFAULT_STORE = Path(".forgeflow") / "mlruns"
ENV = "FORGEFLOW_TRACKING_URI"
OFF = "off"


def add_tracking_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--tracking-uri",
        default=os.environ.get(ENV) or None,
        help=f"MLflow tracking store: a folder, file: URI or SageMaker MLflow ARN (default {DEFAULT_STORE}; "
        f"${ENV} sets the default, `{OFF}` disables)",
    )
    run.add_argument("--no-tracking", action="store_true", help="do not log the run to MLflow")


def tracking_uri(args: argparse.Namespace) -> str | None:
    """The store to log to, as MLflow takes it (a folder becomes a file: URI); None when tracking is off."""
    chosen = args.tracking_uri
    if args.no_tracking or chosen == OFF:
        return None
    if chosen is None or ("://" not in chosen and not chosen.startswith(("arn:", "file:"))):
        return Path(chosen or DEFAULT_STORE).resolve().as_uri()
    return str(chosen)


def _outcome_detail(events: list[dict[str, Any]]) -> dict[str, Any]:
    final = events[-1] if events else {}
    detail = final.get("detail") if isinstance(final, dict) else None
    return detail if isinstance(detail, dict) else {}


def track_saved_run(
    args: argparse.Namespace, outputs: Path, run_id: str, events: list[dict[str, Any]]
) -> str | None:
    """Log the saved run; its MLflow run id, or None (off, not installed, or failed: said on stderr)."""
    uri = tracking_uri(args)
    if uri is None:
        return None
    from forgeflow.storage import Storage
    from forgeflow.tracking.record import read_record

    try:
        from forgeflow.tracking.mlflow_log import log_record

        record = read_record(Storage(), f"{outputs / 's3' / 'runs' / run_id}/", _outcome_detail(events))
        mlflow_run = log_record(record, uri)
    except ImportError:
        sys.stderr.write("forgeflow local: MLflow tracking skipped: install the `tracking` extra\n")
        return None
    except (ForgeFlowError, OSError) as error:
        sys.stderr.write(f"forgeflow local: MLflow tracking to {uri} failed: {error}\n")
        return None
    if args.output == "text":
        sys.stderr.write(f"  MLflow run {mlflow_run} logged to {uri} (experiment forgeflow)\n")
    return mlflow_run
