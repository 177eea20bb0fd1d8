"""TrackRun: `Run Succeeded` / `Run Regressed` on the results bus → the run as an MLflow run.

Deployed only with the stack parameter MlflowTrackingArn (Condition HasMlflowTracking); MLflow comes from
TrackingLayer and is imported only when a run is logged (forgeflow.tracking.mlflow_log).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import default_storage
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.steps.track import track_run

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(event=event, model=EventBridgeModel)
    settings = PipelineSettings.from_environ(os.environ)
    result = track_run({"detail": parsed.detail}, settings, default_storage(settings.region))
    logger.set_correlation_id(result["run_id"])
    logger.info("run tracked", extra=result)
    return result
