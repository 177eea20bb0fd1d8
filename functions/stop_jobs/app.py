"""StopJobs: on the failure path, stop every training or evaluation job of the run still running."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import StopJobsInput
from forgeflow.pipeline.steps.outcome import stop_jobs

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=StopJobsInput)
    logger.set_correlation_id(payload.run.run_id)
    result = stop_jobs(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    logger.info("jobs stopped", extra=result.model_dump(mode="json"))
    metrics.add_metric(name="JobsStopped", unit=MetricUnit.Count, value=len(result.stopped))
    return result.model_dump(mode="json")
