"""BuildEvaluationJobs: one evaluation job request per suite × target, run in parallel by a Map state."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import EvaluationInput
from forgeflow.pipeline.steps.evaluation import build_evaluation_jobs

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=EvaluationInput)
    logger.set_correlation_id(payload.run.run_id)
    result = build_evaluation_jobs(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    logger.info("evaluation job requests built", extra={"jobs": [job.job_name for job in result.jobs]})
    metrics.add_metric(name="EvaluationJobRequestsBuilt", unit=MetricUnit.Count, value=len(result.jobs))
    return result.model_dump(mode="json")
