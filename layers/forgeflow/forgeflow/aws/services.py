"""Build the pipeline's services (S3 storage, ledger, results bus, SageMaker jobs) from the settings.

Called by each handler on each invocation: clients are created for the settings' region inside the call,
so that the same process can serve many functions with different environments (the local runtime does).
"""

from __future__ import annotations

from forgeflow.aws.bus import EventBridgeBus
from forgeflow.aws.ledger import DynamoLedger
from forgeflow.aws.s3 import S3Objects
from forgeflow.aws.sagemaker import SageMakerTrainingJobs
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.steps import Services
from forgeflow.storage import Storage


def aws_services(settings: PipelineSettings) -> Services:
    import boto3  # deferred: importing boto3 costs ~0.3 s, paid only by code that talks to AWS

    session = boto3.session.Session(region_name=settings.region)
    return Services(
        settings=settings,
        storage=Storage(S3Objects(session.client("s3"))),
        ledger=DynamoLedger(session.client("dynamodb"), settings.ledger_table),
        bus=EventBridgeBus(session.client("events")),
        jobs=SageMakerTrainingJobs(session.client("sagemaker")),
    )
