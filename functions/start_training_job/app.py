"""StartTrainingJob: create the smoke or the full training job; a retried start adopts the job."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import StartJobInput
from forgeflow.pipeline.steps.jobs import start_training_job

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=StartJobInput)
    logger.set_correlation_id(payload.run.run_id)
    result = start_training_job(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    logger.info("training job started", extra={"stage": payload.stage, **result.model_dump(mode="json")})
    metrics.add_dimension(name="stage", value=payload.stage)
    metrics.add_metric(name="TrainingJobsStarted", unit=MetricUnit.Count, value=len(result.job_names))
    metrics.add_metric(name="TrainingJobsAdopted", unit=MetricUnit.Count, value=len(result.adopted))
    return result.model_dump(mode="json")
