"""CheckTrainingJob: describe a stage's jobs → InProgress, Completed or Failed (the poll loop's check)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import CheckJobsInput
from forgeflow.pipeline.steps.jobs import check_jobs

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=CheckJobsInput)
    logger.set_correlation_id(payload.run.run_id)
    result = check_jobs(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    logger.info("jobs checked", extra={"status": result.status, "jobs": payload.job_names})
    metrics.add_metric(name="JobPolls", unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json")
