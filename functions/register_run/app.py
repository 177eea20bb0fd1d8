"""RegisterRun: the execution input (an S3 or FineTune Requested event) → a registered run.

Derives the run id from the dataset object's version (or the upstream request id) and claims it with a
conditional write in the ledger: a second delivery of the same object or request returns `duplicate: true`
and the state machine ends it without doing any work.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from forgeflow.composition import aws_services
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import RegisterInput
from forgeflow.pipeline.steps.register import register_run

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    payload = parse(event=event, model=RegisterInput)
    run = register_run(payload, aws_services(PipelineSettings.from_environ(os.environ)))
    logger.set_correlation_id(run.run_id)
    if run.duplicate:
        logger.info("duplicate delivery: the run already exists", extra={"run_id": run.run_id})
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
    else:
        logger.info("run registered", extra={"run_id": run.run_id, "dataset_uri": run.dataset_uri})
        metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)
    return run.model_dump(mode="json")
