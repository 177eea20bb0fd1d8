"""PublishResult: `Run Succeeded` or `Run Failed` on the results bus, and the ledger's final status."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import PublishInput
from forgeflow.pipeline.steps.outcome import publish_result
from forgeflow.pipeline.usage import NAMESPACE, SERVICE, emit, end_metrics

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=PublishInput)
    logger.set_correlation_id(payload.run.run_id)
    result = publish_result(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    logger.info("result published", extra=result.model_dump(mode="json"))
    if result.ended is not None:  # not on a retry that found the event already published
        emit(end_metrics(result.ended), os.environ.get(NAMESPACE), os.environ.get(SERVICE, "forgeflow"))
    return result.model_dump(mode="json")
