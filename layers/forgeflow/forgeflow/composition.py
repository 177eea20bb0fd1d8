"""The composition root: the one place that wires the boto3 adapters (`forgeflow.aws`) to the domain.

Handlers call `aws_services(settings)` on each invocation, so that one process can serve many functions with
different environments (the local runtime does). Clients come from boto3's default session (its service
models are loaded once per process) and are created only when a step first uses them.
"""

from __future__ import annotations

from forgeflow.aws.bus import EventBridgeBus
from forgeflow.aws.clients import LazyClient
from forgeflow.aws.executions import StepFunctionsExecutions
from forgeflow.aws.ledger import DynamoLedger
from forgeflow.aws.s3 import S3Objects
from forgeflow.aws.sagemaker import SageMakerTrainingJobs
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.steps import Services
from forgeflow.ports import Executions
from forgeflow.storage import Storage


def default_storage(region: str | None = None) -> Storage:
    """Storage over local disk and S3 with the ambient credentials (the CLI's and the benchmarks')."""
    return Storage(S3Objects(LazyClient("s3", region)))


def aws_services(settings: PipelineSettings) -> Services:
    region = settings.region
    return Services(
        settings=settings,
        storage=default_storage(region),
        ledger=DynamoLedger(LazyClient("dynamodb", region), settings.ledger_table),
        bus=EventBridgeBus(LazyClient("events", region)),
        jobs=SageMakerTrainingJobs(LazyClient("sagemaker", region)),
    )


def aws_executions(settings: PipelineSettings) -> Executions:
    """The pipeline's state machine, for the launcher (STATE_MACHINE_ARN)."""
    settings.require("state_machine_arn")
    return StepFunctionsExecutions(LazyClient("stepfunctions", settings.region), settings.state_machine_arn)
