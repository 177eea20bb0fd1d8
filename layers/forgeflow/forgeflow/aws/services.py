"""Build the pipeline's services (S3 storage, ledger, results bus, SageMaker jobs) from the settings.

Called by each handler on each invocation, so that one process can serve many functions with different
environments (the local runtime does). Clients come from boto3's default session (its service models are
loaded once per process) and are created only when a step first uses them: a poll that only describes a
training job never builds the S3, DynamoDB or EventBridge clients.
"""

from __future__ import annotations

from typing import Any

from forgeflow.aws.bus import EventBridgeBus
from forgeflow.aws.ledger import DynamoLedger
from forgeflow.aws.s3 import S3Objects
from forgeflow.aws.sagemaker import SageMakerTrainingJobs
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.steps import Services
from forgeflow.storage import Storage


class LazyClient:
    """A boto3 client built on first use."""

    def __init__(self, service: str, region: str) -> None:
        self._service = service
        self._region = region
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            import boto3  # deferred: importing boto3 costs ~0.3 s, paid only by code that talks to AWS

            self._client = boto3.client(self._service, region_name=self._region)
        return getattr(self._client, name)


def aws_services(settings: PipelineSettings) -> Services:
    region = settings.region
    return Services(
        settings=settings,
        storage=Storage(S3Objects(LazyClient("s3", region))),
        ledger=DynamoLedger(LazyClient("dynamodb", region), settings.ledger_table),
        bus=EventBridgeBus(LazyClient("events", region)),
        jobs=SageMakerTrainingJobs(LazyClient("sagemaker", region)),
    )
