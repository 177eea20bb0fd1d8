"""LaunchRun: a trigger event (S3 upload, `FineTune Requested`) → StartExecution named after the run.

Invoked asynchronously by DatasetUploadedRule and FineTuneRequestedRule; a duplicate delivery finds the
execution name taken and starts nothing (`forgeflow.pipeline.steps.launch`). Failures go to
LaunchDeadLetterQueue (rule delivery DLQ and the function's on-failure destination).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_executions, aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.steps.launch import launch_run

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = PipelineSettings.from_environ(os.environ)
    launch = launch_run(event, context.aws_request_id, aws_services(settings), aws_executions(settings))
    logger.set_correlation_id(launch.run_id)
    if launch.duplicate:
        logger.info("duplicate delivery: the execution exists", extra=launch.model_dump(mode="json"))
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
    else:
        logger.info("execution started", extra=launch.model_dump(mode="json"))
        metrics.add_metric(name="ExecutionsLaunched", unit=MetricUnit.Count, value=1)
    return launch.model_dump(mode="json")
