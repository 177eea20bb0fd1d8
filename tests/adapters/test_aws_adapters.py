"""The AWS adapters: ledger (DynamoDB) and results bus on moto, SageMaker jobs against botocore's Stubber.

SageMaker error codes (ResourceInUse, ThrottlingException, ResourceLimitExceeded) are what the state
machine's Retry/Catch depend on; the Stubber answers with exactly those codes, offline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from forgeflow.aws.bus import EventBridgeBus
from forgeflow.aws.ledger import DynamoLedger
from forgeflow.aws.sagemaker import SageMakerTrainingJobs
from forgeflow.errors import ForgeFlowError
from forgeflow.pipeline.errors import CapacityUnavailable, JobFailed, TrainingJobThrottled
from forgeflow.ports import LedgerRow

REQUEST = {
    "TrainingJobName": "forgeflow-run-1-smoke-1",
    "RoleArn": "arn:aws:iam::123456789012:role/forgeflow-sagemaker",
    "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
    "OutputDataConfig": {"S3OutputPath": "s3://b/runs/run-1/jobs/"},
    "ResourceConfig": {"InstanceType": "ml.p5.48xlarge", "InstanceCount": 4, "VolumeSizeInGB": 30},
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
}
CREATED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def describe_answer(name: str, status: str = "InProgress") -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TrainingJobStatus": status,
        "SecondaryStatus": "Training",
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://b/runs/run-1/jobs/{name}/output/model.tar.gz"},
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.p5.48xlarge", "InstanceCount": 4, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "OutputDataConfig": {"S3OutputPath": "s3://b/runs/run-1/jobs/"},
        "CreationTime": CREATED,
    }


@pytest.fixture
def sagemaker() -> Any:
    return boto3.client("sagemaker", region_name="us-east-1")


@pytest.mark.parametrize(
    ("code", "raised"),
    [
        ("ThrottlingException", TrainingJobThrottled),
        ("ResourceLimitExceeded", CapacityUnavailable),
        ("ValidationException", JobFailed),
    ],
)
def test_sagemaker_errors_become_the_state_machine_s_error_names(
    sagemaker: Any, code: str, raised: type[Exception]
) -> None:
    with Stubber(sagemaker) as stub:
        stub.add_client_error("describe_training_job", code, "no")
        with pytest.raises(raised) as error:
            SageMakerTrainingJobs(sagemaker).describe(REQUEST["TrainingJobName"])
    assert type(error.value).__name__ == raised.__name__


def test_describe_stop_and_list(sagemaker: Any) -> None:
    name = REQUEST["TrainingJobName"]
    jobs = SageMakerTrainingJobs(sagemaker)
    with Stubber(sagemaker) as stub:
        stub.add_response("describe_training_job", describe_answer(name, "Failed") | {"FailureReason": "OOM"})
        stub.add_response("stop_training_job", {}, {"TrainingJobName": name})
        stub.add_client_error("stop_training_job", "ValidationException", "already completed")
        summary = {"TrainingJobName": name, "TrainingJobArn": "arn:x", "CreationTime": CREATED}
        page = {"TrainingJobSummaries": [summary | {"TrainingJobStatus": "InProgress"}], "NextToken": "t"}
        stub.add_response("list_training_jobs", page, {"NameContains": "run-1", "StatusEquals": "InProgress"})
        stub.add_response(
            "list_training_jobs",
            {"TrainingJobSummaries": []},
            {"NameContains": "run-1", "StatusEquals": "InProgress", "NextToken": "t"},
        )
        stub.add_response(
            "list_training_jobs",
            {"TrainingJobSummaries": [summary | {"TrainingJobStatus": "Stopping"}]},
            {"NameContains": "run-1", "StatusEquals": "Stopping"},
        )
        serverless = {
            "BaseModelArn": "arn:aws:sagemaker:us-east-1:aws:hub-content/x",
            "JobType": "Evaluation",
        }
        stub.add_response(
            "describe_training_job", describe_answer(name) | {"ServerlessJobConfig": serverless}
        )
        state = jobs.describe(name)
        assert (state.status, state.failure_reason, state.created_at) == ("Failed", "OOM", CREATED)
        assert state.output_uri == "s3://b/runs/run-1/jobs/"
        assert state.serverless is False
        assert jobs.stop(name) is True
        assert jobs.stop(name) is False
        assert jobs.list_active("run-1") == [name]
        assert jobs.describe(name).serverless is True  # #16: its results are not archived


@pytest.fixture
def ledger() -> Any:
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="runs",
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
        yield DynamoLedger(client, "runs")


def test_register_is_a_conditional_write(ledger: DynamoLedger) -> None:
    row = LedgerRow(run_id="r1", status="RUNNING", execution_arn="arn:e1", dataset_etag=None)
    assert ledger.register(row) is True
    assert ledger.register(row.model_copy(update={"execution_arn": "arn:e2"})) is False
    stored = ledger.get("r1")
    assert stored is not None
    assert stored.execution_arn == "arn:e1"
    raw = ledger._client.get_item(TableName="runs", Key={"run_id": {"S": "r1"}})["Item"]
    assert "dataset_etag" not in raw  # None is not written
    assert ledger.get("r2") is None


def test_update_add_job_and_find_by_execution(ledger: DynamoLedger) -> None:
    ledger.register(LedgerRow(run_id="r1", status="RUNNING", execution_arn="arn:e1"))
    ledger.update("r1", stage="smoke", estimate=1.5)
    ledger.add_job("r1", "forgeflow-r1-smoke-1")
    ledger.add_job("r1", "forgeflow-r1-smoke-1")  # a retried start records nothing new
    ledger.add_job("r1", "forgeflow-r1-train-1")
    row = ledger.find_by_execution("arn:e1")
    assert row is not None
    assert row.stage == "smoke"
    assert row.job_names == ["forgeflow-r1-smoke-1", "forgeflow-r1-train-1"]
    assert row.model_extra == {"estimate": 1.5}  # attributes the model does not name are kept
    assert ledger.find_by_execution("arn:other") is None
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        ledger.update("unknown", stage="x")


def test_the_bus_puts_events_and_refuses_silently_dropped_ones() -> None:
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("events", region_name="us-east-1")
        client.create_event_bus(Name="results")
        entry = {
            "Source": "forgeflow",
            "DetailType": "Run Started",
            "Detail": json.dumps({}),
            "EventBusName": "results",
        }
        assert EventBridgeBus(client).put(entry)
    client = boto3.client("events", region_name="us-east-1")
    with Stubber(client) as stub:
        failed = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}
        stub.add_response("put_events", failed)
        with pytest.raises(ForgeFlowError, match="refused the 'Run Started' event"):
            EventBridgeBus(client).put(entry)


# --- issue #9: MaxConcurrentRuns, a cap on RUNNING runs kept in the same transaction as each status -----
def _running(run_id: str) -> LedgerRow:
    return LedgerRow(run_id=run_id, status="RUNNING", execution_arn=f"arn:{run_id}")


def test_register_refuses_a_run_above_max_running_and_counts_only_running_rows(ledger: DynamoLedger) -> None:
    from forgeflow.pipeline.errors import RunsAtCapacity

    assert ledger.register(_running("r1"), max_running=2) is True
    assert ledger.register(_running("r2"), max_running=2) is True
    with pytest.raises(RunsAtCapacity, match="MaxConcurrentRuns = 2"):
        ledger.register(_running("r3"), max_running=2)
    assert ledger.get("r3") is None  # refused: nothing written
    assert ledger.register(_running("r1"), max_running=2) is False  # a duplicate is a duplicate, not "full"
    ledger.update("r1", stage="publish", status="SUCCEEDED")
    ledger.update("r1", status="FAILED")  # a second terminal write frees no second slot
    assert ledger.register(_running("r3"), max_running=2) is True
    with pytest.raises(RunsAtCapacity):
        ledger.register(_running("r4"), max_running=2)
    ledger.update("r2", stage="smoke")  # not a status change
    with pytest.raises(RunsAtCapacity):
        ledger.register(_running("r4"), max_running=2)
    ledger.update("r2", status="FAILED", error_code="JobFailed")
    assert ledger.register(_running("r4"), max_running=2) is True


def test_the_run_counter_is_not_a_run(ledger: DynamoLedger) -> None:
    from forgeflow.pipeline.errors import RunsAtCapacity

    ledger.register(_running("r1"), max_running=1)
    assert ledger.find_by_execution("arn:r1") == ledger.get("r1")
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        ledger.update("unknown", status="FAILED")  # an unknown run is still refused, and frees nothing
    with pytest.raises(RunsAtCapacity, match="MaxConcurrentRuns = 1"):
        ledger.register(_running("r2"), max_running=1)


# --- issue #15: the approval token -------------------------------------------------------------------------
def test_only_the_owning_execution_of_a_running_run_stores_an_approval_token(ledger: DynamoLedger) -> None:
    ledger.register(LedgerRow(run_id="r1", status="RUNNING", execution_arn="arn:e1"))
    assert ledger.hold_for_approval("r1", "arn:e2", "token-of-e2") is False  # another execution
    assert ledger.hold_for_approval("unknown", "arn:e1", "t") is False
    assert ledger.hold_for_approval("r1", "arn:e1", "token-1") is True
    row = ledger.get("r1")
    assert row is not None
    assert (row.approval_token, row.stage) == ("token-1", "approval")
    assert row.approval_requested_at
    ledger.update("r1", status="FAILED")
    assert ledger.hold_for_approval("r1", "arn:e1", "token-2") is False  # the run ended
    assert ledger.get("r1").approval_token == "token-1"  # type: ignore[union-attr]
    # A re-run starts without the old run's token.
    assert ledger.reclaim("r1", "arn:e3") is True
    assert ledger.get("r1").approval_token is None  # type: ignore[union-attr]
