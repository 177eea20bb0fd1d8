"""StartEvaluation: one evaluation job per suite × target (base model, trained checkpoint)."""

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
from forgeflow.pipeline.steps.evaluation import start_evaluation

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=EvaluationInput)
    logger.set_correlation_id(payload.run.run_id)
    result = start_evaluation(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    logger.info("evaluation jobs started", extra=result.model_dump(mode="json"))
    metrics.add_metric(name="EvaluationJobsStarted", unit=MetricUnit.Count, value=len(result.job_names))
    return result.model_dump(mode="json")
