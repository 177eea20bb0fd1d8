"""BuildTrainingJob: the smoke or full job's CreateTrainingJob request, run by `createTrainingJob.sync`."""

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
from forgeflow.pipeline.steps.jobs import build_training_job

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=StartJobInput)
    logger.set_correlation_id(payload.run.run_id)
    result = build_training_job(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    logger.info("training job request built", extra={"stage": payload.stage, "job_name": result.job_name})
    metrics.add_dimension(name="stage", value=payload.stage)
    metrics.add_metric(name="TrainingJobRequestsBuilt", unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json")
