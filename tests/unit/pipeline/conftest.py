"""Fixtures of the pipeline tests: the stack's resources in moto, handler loading, sample events."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"
BUCKET = "forgeflow-data-example"
TABLE = "forgeflow-runs"
BUS = "forgeflow-results"
ROLE_ARN = "arn:aws:iam::123456789012:role/forgeflow-sagemaker"

ENVIRONMENT = {
    "DATA_BUCKET": BUCKET,
    "LEDGER_TABLE": TABLE,
    "RESULTS_BUS_NAME": BUS,
    "SAGEMAKER_ROLE_ARN": ROLE_ARN,
    "INCOMING_PREFIX": "incoming/",
    "CURATED_DATA_PREFIX": "curated/",
    "DEFAULT_MODEL": "lite",
    "DEFAULT_TECHNIQUE": "sft-lora",
    "TRAINING_INSTANCE_TYPE": "ml.p5.48xlarge",
    "BUDGET_USD": "",
    "POLL_SECONDS": "60",
    "KMS_KEY_ARN": "",
    "MLFLOW_TRACKING_ARN": "",
}


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


@dataclass
class LambdaContext:
    function_name: str = "forgeflow-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:forgeflow-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/forgeflow-test"
    log_stream_name: str = "test"
    function_version: str = "$LATEST"


def load_handler(directory: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    path = ROOT / "functions" / directory / "app.py"
    spec = importlib.util.spec_from_file_location(f"forgeflow_test_handler_{directory}", path)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = module.handler
    return handler


@dataclass
class Stack:
    """The moto resources of the stack, and what tests read back from them."""

    s3: Any
    dynamodb: Any
    events: Any
    sqs: Any
    sagemaker: Any
    queue_url: str
    delivered: list[dict[str, Any]] = field(default_factory=list)
    bucket: str = BUCKET

    @staticmethod
    def tar_gz(files: dict[str, bytes]) -> bytes:
        return tar_gz(files)

    def put(self, key: str, body: bytes) -> dict[str, Any]:
        answer: dict[str, Any] = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return answer

    def get(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body

    def keys(self, prefix: str) -> list[str]:
        answer = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for item in answer.get("Contents", []))

    def ledger(self, run_id: str) -> dict[str, Any] | None:
        from boto3.dynamodb.types import TypeDeserializer

        item = self.dynamodb.get_item(TableName=TABLE, Key={"run_id": {"S": run_id}}).get("Item")
        if item is None:
            return None
        deserializer = TypeDeserializer()
        return {key: deserializer.deserialize(value) for key, value in item.items()}

    def results(self) -> list[dict[str, Any]]:
        """Every event put on the results bus so far, as EventBridge delivered it (via an SQS target)."""
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return self.delivered
            for message in messages:
                self.delivered.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "run_id", "AttributeType": "S"},
                {"AttributeName": "execution_arn", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "run_id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-execution",
                    "KeySchema": [{"AttributeName": "execution_arn", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        events = boto3.client("events", region_name="us-east-1")
        events.create_event_bus(Name=BUS)
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue_url = sqs.create_queue(QueueName="results")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="capture", EventBusName=BUS, EventPattern=json.dumps({"source": ["forgeflow"]}))
        events.put_targets(Rule="capture", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}])
        yield Stack(
            s3=s3,
            dynamodb=dynamodb,
            events=events,
            sqs=sqs,
            sagemaker=boto3.client("sagemaker", region_name="us-east-1"),
            queue_url=queue_url,
        )


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture
def invoke() -> Invoke:
    """Invoke a handler (`functions/<directory>/app.py`) like Lambda does: event and context."""

    def call(directory: str, event: dict[str, Any]) -> dict[str, Any]:
        return load_handler(directory)(event, LambdaContext(function_name=directory))

    return call


@pytest.fixture
def sample() -> Callable[[str], dict[str, Any]]:
    """A sample event from events/ (a fresh copy per call)."""
    return load_event
