"""NextJobAttempt: after a job failed, a new attempt (retryable reason, attempts left) or the failure."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import NextAttemptInput
from forgeflow.pipeline.steps.jobs import next_attempt

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=NextAttemptInput)
    logger.set_correlation_id(payload.run.run_id)
    result = next_attempt(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    logger.info("new job attempt", extra={"job_name": result.job_name, "retries_used": result.retries_used})
    metrics.add_dimension(name="stage", value=result.stage)
    metrics.add_metric(name="JobAttemptsRetried", unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json")
