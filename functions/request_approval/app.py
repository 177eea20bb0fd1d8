"""RequestApproval: store the run's approval task token in the ledger and put `Approval Requested`."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import ApprovalInput
from forgeflow.pipeline.steps.approval import request_approval

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=ApprovalInput)
    logger.set_correlation_id(payload.run.run_id)
    result = request_approval(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    # Never log the token: with it, anyone allowed SendTaskSuccess could approve the run.
    logger.info("approval requested", extra={"event_id": result.event_id, "expires_at": result.expires_at})
    metrics.add_metric(name="ApprovalsRequested", unit=MetricUnit.Count, value=1)
    return result.model_dump(mode="json")
