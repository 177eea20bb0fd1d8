"""StopOrphanedJobs: an execution ended ABORTED, TIMED_OUT or FAILED → stop its run's running jobs.

Triggered by `ExecutionEndedRule` (the `Step Functions Execution Status Change` event), not by the state
machine: it catches what the state machine's own failure path cannot, such as an aborted execution.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.steps.outcome import stop_orphaned_jobs
from forgeflow.pipeline.usage import NAMESPACE, SERVICE, emit, end_metrics

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(event=event, model=EventBridgeModel)
    result = stop_orphaned_jobs(
        {"detail-type": parsed.detail_type, "detail": parsed.detail},
        aws_services(PipelineSettings.from_environ(os.environ)),
    )
    logger.set_correlation_id(result.run_id)
    logger.info("orphaned jobs stopped", extra=result.model_dump(mode="json"))
    metrics.add_metric(name="OrphanedJobsStopped", unit=MetricUnit.Count, value=len(result.stopped))
    if result.ended is not None:  # this sweep published the run's Run Failed
        emit(end_metrics(result.ended), os.environ.get(NAMESPACE), os.environ.get(SERVICE, "forgeflow"))
    return result.model_dump(mode="json")
