"""The local runtime on a miniature stack: every moto shim exercised through a real ASL execution."""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

import orjson
import pytest

from forgeflow_tools.local.runtime import LocalRuntime
from forgeflow_tools.local.sagemaker import FailureInjection

MINI = Path(__file__).parent / "mini_stack" / "template.yaml"
DATASET = b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}\n'


def _only_execution(runtime: LocalRuntime) -> dict:
    executions = runtime.wait_for_executions(1)
    assert len(executions) == 1
    return runtime.wait(executions[0]["executionArn"], timeout=60)


def _results(runtime: LocalRuntime) -> list[dict]:
    return [event for event in runtime.results_events() if event["source"] == "forgeflow"]


def test_s3_drop_runs_the_real_asl_with_in_process_handlers() -> None:
    with LocalRuntime(MINI) as runtime:
        runtime.put_object("incoming/data.jsonl", DATASET)
        described = _only_execution(runtime)

        assert described["status"] == "SUCCEEDED"
        started = orjson.loads(described["input"])
        assert started["detail-type"] == "Object Created"
        assert started["detail"]["object"]["key"] == "incoming/data.jsonl"
        (job,) = runtime.emulator.jobs()
        assert job.status == "Completed"
        assert [t["Status"] for t in job.transitions] == [
            "Starting",
            "Downloading",
            "Training",
            "Uploading",
            "Completed",
        ]
        (event,) = _results(runtime)
        assert set(event) == {
            "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"
        }  # fmt: skip
        assert event["detail-type"] == "Run Succeeded"
        assert event["time"].endswith("Z")
        # The model artifact is where SageMaker writes it and says it is emulated.
        run_id = runtime.ledger_rows()[0]["run_id"]
        body = runtime.read(f"runs/{run_id}/jobs/{job.name}/output/model.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(body)) as archive:
            manifest = orjson.loads(archive.extractfile("manifest.json").read())
        assert manifest["emulated"] is True
        assert manifest["checkpoint_s3_bucket"].startswith("s3://customer-escrow-123456789012-smtj-")
        # Handler output went to the function's log, not to stdout.
        assert f"starting run {run_id}" in runtime.registry.logs("forgeflow-local-StartJobFunction")


def test_objects_outside_the_rule_pattern_start_nothing() -> None:
    with LocalRuntime(MINI) as runtime:
        runtime.put_object("incoming/notes.txt", b"x")
        runtime.put_object("elsewhere/data.jsonl", DATASET)
        assert runtime.wait_for_executions(1, timeout=0.3) == []


def test_failed_job_takes_the_failure_path_and_fires_the_status_change_rule() -> None:
    with LocalRuntime(MINI, failures=FailureInjection(fail_stages=frozenset({"smoke"}))) as runtime:
        runtime.put_object("incoming/data.jsonl", DATASET)
        described = _only_execution(runtime)

        assert described["status"] == "FAILED"
        assert described["error"] == "RunFailed"
        (job,) = runtime.emulator.jobs()
        assert job.status == "Failed"
        assert job.failure_reason is not None
        assert job.failure_reason.startswith("AlgorithmError:")
        assert [event["detail-type"] for event in _results(runtime)] == ["Run Failed"]
        # ExecutionEndedRule → StopOrphansFunction ran (asynchronously) with the status-change event.
        log = runtime.registry.logs("forgeflow-local-StopOrphansFunction")
        assert "START RequestId" in log
        assert runtime.deliveries.errors == []


def test_handler_exception_is_a_lambda_function_error_the_asl_can_catch() -> None:
    with LocalRuntime(MINI) as runtime:
        # A FineTune request for a dataset that does not exist: CreateTrainingJob still succeeds (SageMaker
        # checks inputs when downloading), so break the request instead: no dataset_key in the detail.
        runtime.request_fine_tune({"unexpected": True})
        described = _only_execution(runtime)

        assert described["status"] == "FAILED"
        (failed,) = _results(runtime)
        cause = orjson.loads(failed["detail"]["failure"]["Cause"])
        assert failed["detail"]["failure"]["Error"] == "KeyError"
        assert cause["errorType"] == "KeyError"
        assert "dataset_key" in cause["errorMessage"]


def test_fine_tune_requested_event_starts_the_state_machine() -> None:
    with LocalRuntime(MINI) as runtime:
        runtime.put_object("datasets/set.jsonl", DATASET)
        runtime.request_fine_tune({"dataset_key": "datasets/set.jsonl"})
        described = _only_execution(runtime)

        assert described["status"] == "SUCCEEDED"
        started = orjson.loads(described["input"])
        assert (started["source"], started["detail-type"]) == ("forgeflow", "FineTune Requested")


@pytest.mark.filterwarnings(r"ignore:Exception\(ThrottlingException\)")
def test_throttled_create_is_retried_by_the_asl() -> None:
    failures = FailureInjection(throttle_creates=2)
    with LocalRuntime(MINI, failures=failures, parameter_overrides={"RetrySeconds": "1"}) as runtime:
        runtime.put_object("incoming/data.jsonl", DATASET)
        described = _only_execution(runtime)

        assert described["status"] == "SUCCEEDED"
        assert runtime.emulator.create_calls == 3
        assert len(runtime.emulator.rejected_creates) == 2
        history = runtime.history(described["executionArn"])
        failed = [e for e in history if e["type"] == "TaskFailed"]
        assert [e["taskFailedEventDetails"]["error"] for e in failed] == ["JobThrottled", "JobThrottled"]


def test_missing_input_channel_fails_the_job_with_a_client_error() -> None:
    with LocalRuntime(MINI) as runtime:
        runtime.request_fine_tune({"dataset_key": "datasets/missing.jsonl"})
        described = _only_execution(runtime)

        assert described["status"] == "FAILED"
        (job,) = runtime.emulator.jobs()
        assert job.failure_reason is not None
        assert job.failure_reason.startswith("ClientError: Data download failed")
        assert "datasets/missing.jsonl" in job.failure_reason


def test_aborted_execution_stops_its_running_job() -> None:
    overrides = {"PollSeconds": "1"}  # the mini stack keeps a poll loop of its own
    with LocalRuntime(MINI, parameter_overrides=overrides, seconds_per_status=60) as runtime:
        runtime.put_object("incoming/data.jsonl", DATASET)
        (execution,) = runtime.wait_for_executions(1)
        for _ in range(500):
            if runtime.emulator.jobs():
                break
            time.sleep(0.01)
        assert [job.status for job in runtime.emulator.jobs()] == ["InProgress"]

        runtime.stop_execution(execution["executionArn"])
        described = runtime.wait(execution["executionArn"], timeout=30)

        assert described["status"] == "ABORTED"
        (job,) = runtime.emulator.jobs()
        assert job.status == "Stopping"
        # The next describe (as a poller would) shows it Stopped.
        answer = runtime.client("sagemaker").describe_training_job(TrainingJobName=job.name)
        assert (answer["TrainingJobStatus"], answer["SecondaryStatus"]) == ("Stopped", "Stopped")


def test_the_same_event_delivered_again_reaches_the_rule_again() -> None:
    with LocalRuntime(MINI) as runtime:
        runtime.put_object("incoming/data.jsonl", DATASET)
        (first,) = runtime.wait_for_executions(1)
        runtime.wait(first["executionArn"])
        envelope = orjson.loads(
            runtime.client("stepfunctions").describe_execution(executionArn=first["executionArn"])["input"]
        )
        runtime.deliver_event(envelope)
        executions = runtime.wait_for_executions(2)
        second = runtime.wait(executions[1]["executionArn"])
        assert orjson.loads(second["input"]) == envelope


def test_unknown_parameter_override_is_a_usage_error() -> None:
    from forgeflow.errors import InputError

    with pytest.raises(InputError, match="NoSuchParameter"):
        LocalRuntime(MINI, parameter_overrides={"NoSuchParameter": "1"})


def test_the_users_aws_profile_is_ignored_and_outputs_resolve(monkeypatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with LocalRuntime(MINI, parameter_overrides={"UseAlarm": "yes"}) as runtime:
        assert runtime.stack.outputs() == {
            "StateMachineArn": runtime.state_machine_arn,
            "LedgerTableName": runtime.ledger_table,
        }
        assert runtime.stack.not_emulated == ["FailedAlarm (AWS::CloudWatch::Alarm)"]

    assert os.environ["AWS_PROFILE"] == "no-such-profile"


def test_a_failing_event_target_is_retried_then_recorded() -> None:
    with LocalRuntime(MINI) as runtime:
        # A status-change event for an execution the ledger does not know: the handler fails (KeyError on
        # the missing detail) on every attempt.
        envelope = {
            "version": "0", "id": "e-1", "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states", "account": "123456789012", "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1", "resources": [],
            "detail": {"status": "FAILED", "stateMachineArn": runtime.state_machine_arn},
        }  # fmt: skip
        runtime.deliver_event(envelope)

        log = runtime.registry.logs("forgeflow-local-StopOrphansFunction")
        assert log.count("START RequestId") == 3
        (error,) = runtime.deliveries.errors
        assert "KeyError" in error


def test_a_target_that_cannot_start_is_recorded_not_raised() -> None:
    with LocalRuntime(MINI) as runtime:
        events = runtime.client("events")
        missing = "arn:aws:states:us-east-1:123456789012:stateMachine:missing"
        events.put_rule(Name="to-missing", EventPattern='{"source": ["tests"]}')
        events.put_targets(Rule="to-missing", Targets=[{"Id": "m", "Arn": missing}])
        answer = events.put_events(Entries=[{"Source": "tests", "DetailType": "x", "Detail": "{}"}])

        assert answer["FailedEntryCount"] == 0
        (error,) = runtime.deliveries.errors
        assert error.startswith(f"{missing}: delivery failed")


def test_input_transformer_and_input_path_shape_what_a_target_receives() -> None:
    with LocalRuntime(MINI) as runtime:
        sqs, events = runtime.client("sqs"), runtime.client("events")
        url = sqs.create_queue(QueueName="shaped")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="shape", EventPattern='{"source": ["tests"]}')
        transformer = {"InputPathsMap": {"k": "$.detail.key"}, "InputTemplate": '{"key": "<k>"}'}
        events.put_targets(
            Rule="shape",
            Targets=[
                {"Id": "t", "Arn": arn, "InputTransformer": transformer},
                {"Id": "p", "Arn": arn, "InputPath": "$.detail"},
            ],
        )
        events.put_events(Entries=[{"Source": "tests", "DetailType": "x", "Detail": '{"key": "v"}'}])

        bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
        assert sorted(orjson.loads(body)["key"] for body in bodies) == ["v", "v"]
        assert len(bodies) == 2


def test_teardown_waits_out_a_stop_that_races_the_executions_start(monkeypatch) -> None:
    # moto raises AttributeError ('NoneType' ... 'set_stop') for a StopExecution that comes before the
    # execution's worker has its environment; teardown must retry it and must not raise.
    runtime = LocalRuntime(MINI).__enter__()
    client = runtime.client("stepfunctions")
    real_stop = client.stop_execution
    calls: list[str] = []

    def racing_stop(**kwargs: str) -> dict:
        calls.append(kwargs["executionArn"])
        if len(calls) <= 2:
            raise AttributeError("'NoneType' object has no attribute 'set_stop'")
        return real_stop(**kwargs)

    runtime.put_object("incoming/data.jsonl", DATASET)
    arn = runtime.wait_for_executions(1)[0]["executionArn"]
    monkeypatch.setattr(client, "stop_execution", racing_stop)
    monkeypatch.setattr(runtime, "executions", lambda: [{"executionArn": arn, "status": "RUNNING"}])
    runtime.__exit__(None, None, None)
    assert calls == [arn, arn, arn]
