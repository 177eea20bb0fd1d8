"""Mix: blend the dataset with curated data per the run's mix plan → `runs/<run_id>/mix/`."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import StageInput
from forgeflow.pipeline.steps.mix import mix_data

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=StageInput)
    logger.set_correlation_id(payload.run.run_id)
    result = mix_data(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    logger.info("data mixed", extra=result.model_dump(mode="json"))
    metrics.add_metric(name="MixedRecords", unit=MetricUnit.Count, value=result.train_records)
    return result.model_dump(mode="json")
