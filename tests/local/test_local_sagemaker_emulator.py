"""The SageMaker training-job emulator: checks, lifecycle, stop, failure injection and outputs."""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from forgeflow_tools.local.sagemaker import (
    EmulatedApiError,
    FailureInjection,
    TrainingJobEmulator,
    job_stage,
    lifecycle,
)
from forgeflow_tools.local.sagemaker.evaluation import StandInEvaluation

BUCKET = "data"
TRAIN = orjson.dumps(
    {
        "messages": [
            {"role": "user", "content": [{"text": "q"}]},
            {"role": "assistant", "content": [{"text": "a"}]},
        ]
    }
)
RECIPE = b"""run:
  model_type: amazon.nova-lite-v1:0:300k
  model_name_or_path: nova-lite/prod
  replicas: 4
training_config:
  max_steps: 5
"""
EVAL_RECIPE = b"""run:
  name: ev
  model_type: amazon.nova-lite-v1:0:300k
  model_name_or_path: s3://escrow/x
  replicas: 1
evaluation: {task: mmlu, strategy: zs_cot, metric: accuracy}
"""


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="d/train.jsonl", Body=TRAIN)
        client.put_object(Bucket=BUCKET, Key="r/recipe.yaml", Body=RECIPE)
        client.put_object(Bucket=BUCKET, Key="e/recipe.yaml", Body=EVAL_RECIPE)
        yield client


def _request(name: str = "forgeflow-run1-smoke-1", recipe: str = "r/", train: str | None = "d/train.jsonl",
             count: int = 4) -> dict[str, Any]:  # fmt: skip
    channels = [
        {"ChannelName": "recipe", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                  "S3Uri": f"s3://{BUCKET}/{recipe}"}}},
    ]  # fmt: skip
    if train is not None:
        channels.append(
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "Converse",
                                                                     "S3Uri": f"s3://{BUCKET}/{train}"}}}
        )  # fmt: skip
    return {
        "TrainingJobName": name,
        "RoleArn": "arn:aws:iam::123456789012:role/sm",
        "AlgorithmSpecification": {"TrainingImage": "img:latest", "TrainingInputMode": "File"},
        "HyperParameters": {"sagemaker_recipe_local_path": "/opt/ml/input/data/recipe/recipe.yaml"},
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out/"},
        "ResourceConfig": {"InstanceType": "ml.p5.48xlarge", "InstanceCount": count, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def _run_to_end(emulator: TrainingJobEmulator, name: str) -> dict[str, Any]:
    for _ in range(10):
        answer = emulator.describe_training_job(name)
        if answer["TrainingJobStatus"] not in {"InProgress", "Stopping"}:
            return answer
    raise AssertionError("the job never ended")


def _untar(body: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers()}


def _emulator(s3: Any, **failures: Any) -> TrainingJobEmulator:
    return TrainingJobEmulator(
        s3, account_id="123456789012", region="us-east-1", failures=FailureInjection(**failures)
    )


def test_a_job_walks_the_secondary_statuses_and_writes_emulated_outputs(s3: Any) -> None:
    emulator = _emulator(s3)
    arn = emulator.create_training_job(_request())["TrainingJobArn"]
    assert arn.endswith(":training-job/forgeflow-run1-smoke-1")
    seen = [emulator.describe_training_job("forgeflow-run1-smoke-1")["SecondaryStatus"] for _ in range(5)]
    assert seen == ["Downloading", "Training", "Uploading", "Completed", "Completed"]
    final = emulator.describe_training_job("forgeflow-run1-smoke-1")
    assert final["TrainingJobStatus"] == "Completed"
    assert [t["Status"] for t in final["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"
    ]  # fmt: skip
    model = final["ModelArtifacts"]["S3ModelArtifacts"]
    assert model == f"s3://{BUCKET}/out/forgeflow-run1-smoke-1/output/model.tar.gz"
    output = s3.get_object(Bucket=BUCKET, Key="out/forgeflow-run1-smoke-1/output/output.tar.gz")[
        "Body"
    ].read()
    manifest = orjson.loads(_untar(output)["manifest.json"])
    assert manifest["emulated"] is True
    assert manifest["checkpoint_s3_bucket"] == (
        "s3://customer-escrow-123456789012-smtj-emulated/forgeflow-run1-smoke-1/outputs/checkpoints"
    )


def test_time_based_lifecycle_waits_between_statuses(s3: Any) -> None:
    emulator = TrainingJobEmulator(s3, account_id="1", region="us-east-1", seconds_per_status=3600)
    emulator.create_training_job(_request())
    assert emulator.describe_training_job("forgeflow-run1-smoke-1")["SecondaryStatus"] == "Starting"


def test_requests_are_checked_against_the_botocore_model(s3: Any) -> None:
    emulator = _emulator(s3)
    broken = _request()
    del broken["RoleArn"]
    broken["ResourceConfig"]["InstanceCount"] = "four"
    with pytest.raises(EmulatedApiError) as raised:
        emulator.create_training_job(broken)
    assert raised.value.code == "ValidationException"
    assert "RoleArn" in raised.value.message
    assert "InstanceCount" in raised.value.message
    with pytest.raises(EmulatedApiError, match="regular expression"):
        emulator.create_training_job(_request(name="bad_name!"))


MLFLOW = {
    "MlflowResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/forgeflow",
    "MlflowExperimentName": "forgeflow",
    "MlflowRunName": "forgeflow-run1-smoke-1",
}


@pytest.mark.parametrize(
    ("config", "refusal"),
    [
        ({k: v for k, v in MLFLOW.items() if k != "MlflowResourceArn"}, "MlflowResourceArn"),  # required
        ({**MLFLOW, "MlflowResourceArn": "arn:aws:s3:::bucket"}, "does not match the pattern"),
        ({**MLFLOW, "MlflowRunName": "r" * 257}, "at most 256 allowed"),
        ({**MLFLOW, "MlflowExperimentName": ""}, "MlflowExperimentName"),  # botocore: at least 1
    ],
)
def test_mlflow_config_is_checked_as_sagemaker_would(s3: Any, config: dict[str, str], refusal: str) -> None:
    with pytest.raises(EmulatedApiError, match=refusal) as refused:
        _emulator(s3).create_training_job({**_request(), "MlflowConfig": config})
    assert refused.value.code == "ValidationException"


def test_a_tracked_job_is_accepted_and_described_with_its_mlflow_config(s3: Any) -> None:
    emulator = _emulator(s3)
    emulator.create_training_job({**_request(), "MlflowConfig": MLFLOW})
    assert emulator.describe_training_job("forgeflow-run1-smoke-1")["MlflowConfig"] == MLFLOW


def test_names_are_never_reused(s3: Any) -> None:
    emulator = _emulator(s3)
    emulator.create_training_job(_request())
    with pytest.raises(EmulatedApiError) as raised:
        emulator.create_training_job(_request())
    assert raised.value.code == "ResourceInUse"


@pytest.mark.parametrize(
    ("request_changes", "reason"),
    [
        ({"train": "d/missing.jsonl"}, "no S3 objects found under s3://data/d/missing.jsonl"),
        ({"recipe": "nothing/"}, "no S3 objects found under s3://data/nothing/"),
        ({"count": 8}, "run.replicas=4 but ResourceConfig.InstanceCount=8"),
        ({"train": None}, "needs a 'train' input channel"),
    ],
)
def test_input_problems_fail_the_job_while_downloading(s3: Any, request_changes: dict, reason: str) -> None:
    emulator = _emulator(s3)
    emulator.create_training_job(_request(**request_changes))
    final = _run_to_end(emulator, "forgeflow-run1-smoke-1")
    assert final["TrainingJobStatus"] == "Failed"
    assert final["FailureReason"].startswith("ClientError: ")
    assert reason in final["FailureReason"]
    assert [t["Status"] for t in final["SecondaryStatusTransitions"]][-2:] == ["Downloading", "Failed"]


def test_a_recipe_that_is_not_yaml_fails_the_job(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="bad/recipe.yaml", Body=b"run: [unclosed")
    emulator = _emulator(s3)
    emulator.create_training_job(_request(recipe="bad/"))
    assert "not valid YAML" in _run_to_end(emulator, "forgeflow-run1-smoke-1")["FailureReason"]


def test_stop_then_describe_reports_stopped(s3: Any) -> None:
    emulator = _emulator(s3)
    emulator.create_training_job(_request())
    emulator.stop_training_job("forgeflow-run1-smoke-1")
    assert emulator.list_training_jobs(status_equals="InProgress") == []
    answer = emulator.describe_training_job("forgeflow-run1-smoke-1")
    assert (answer["TrainingJobStatus"], answer["SecondaryStatus"]) == ("Stopped", "Stopped")
    with pytest.raises(EmulatedApiError, match="only InProgress"):
        emulator.stop_training_job("forgeflow-run1-smoke-1")


def test_failure_injection(s3: Any) -> None:
    emulator = _emulator(s3, throttle_creates=1, limit_creates=1, fail_stages=frozenset({"train"}),
                         capacity_errors={"smoke": 1})  # fmt: skip
    codes = []
    for _ in range(2):
        with pytest.raises(EmulatedApiError) as raised:
            emulator.create_training_job(_request())
        codes.append(raised.value.code)
    assert codes == ["ThrottlingException", "ResourceLimitExceeded"]
    emulator.create_training_job(_request())
    emulator.create_training_job(_request(name="forgeflow-run1-train-1"))
    assert _run_to_end(emulator, "forgeflow-run1-smoke-1")["FailureReason"].startswith("CapacityError:")
    # Only the first N jobs of the stage lose their capacity: the next attempt starts.
    emulator.create_training_job(_request(name="forgeflow-run1-smoke-2"))
    assert _run_to_end(emulator, "forgeflow-run1-smoke-2")["TrainingJobStatus"] == "Completed"
    assert _run_to_end(emulator, "forgeflow-run1-train-1")["FailureReason"].startswith("AlgorithmError:")
    with pytest.raises(ValueError, match="unknown job stage"):
        FailureInjection(fail_stages=frozenset({"lunch"}))


def test_evaluation_jobs_write_nova_shaped_results(s3: Any) -> None:
    emulator = _emulator(s3)
    emulator.create_training_job(_request(name="forgeflow-run1-eval-mmlu-trained", recipe="e/", train=None,
                                          count=1))  # fmt: skip
    assert _run_to_end(emulator, "forgeflow-run1-eval-mmlu-trained")["TrainingJobStatus"] == "Completed"
    body = s3.get_object(Bucket=BUCKET, Key="out/forgeflow-run1-eval-mmlu-trained/output/output.tar.gz")[
        "Body"
    ]
    files = _untar(body.read())
    (name,) = [n for n in files if "/eval_results/results_" in n]
    assert name.startswith("ev/eval_results/results_")
    results = orjson.loads(files[name])
    assert results["emulated"] is True
    # No benchmark data and no model offline: no numbers, and the file says why.
    assert results["results"] == {}
    assert "mmlu" in results["not_measured"]
    assert "offline" in results["not_measured"]


def test_stage_detection_prefers_tags() -> None:
    assert job_stage("forgeflow-abc-smoke-1") == "smoke"
    assert job_stage("forgeflow-abc-eval-mmlu-base") == "eval"
    assert job_stage("forgeflow-abc-smoke-1", [{"Key": "forgeflow:stage", "Value": "train"}]) == "train"


def _converse(user: str, answer: str, system: str | None = None) -> bytes:
    record: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": [{"text": user}]},
            {"role": "assistant", "content": [{"text": answer}]},
        ]
    }
    if system:
        record = {"system": [{"text": system}], **record}
    return orjson.dumps(record)


GEN_QA_RECIPE = """run:
  name: {name}
  model_type: amazon.nova-lite-v1:0:300k
  model_name_or_path: {model}
  replicas: 1
evaluation: {{task: gen_qa, strategy: gen_qa, metric: all}}
"""


def _gen_qa_results(s3: Any, emulator: TrainingJobEmulator, name: str, model: str) -> dict[str, Any]:
    s3.put_object(Bucket=BUCKET, Key=f"{name}/recipe.yaml", Body=GEN_QA_RECIPE.format(name=name, model=model))
    emulator.create_training_job(_request(name=name, recipe=f"{name}/", train="g/", count=1))
    assert _run_to_end(emulator, name)["TrainingJobStatus"] == "Completed"
    files = _untar(s3.get_object(Bucket=BUCKET, Key=f"out/{name}/output/output.tar.gz")["Body"].read())
    (results_name,) = [n for n in files if n.startswith(f"{name}/eval_results/results_")]
    return {
        "results": orjson.loads(files[results_name]),
        "inference": files.get("eval_results/inference_output.jsonl"),
    }


def test_gen_qa_measures_the_retrieval_stand_in_of_the_trained_job(s3: Any) -> None:
    train = [
        _converse("where is my parcel", "shipping/lost", system="triage"),
        _converse("refund my double charge", "billing/refund", system="triage"),
        _converse("please reset my password", "account/reset", system="triage"),
    ]
    s3.put_object(Bucket=BUCKET, Key="t/train.jsonl", Body=b"\n".join(train) + b"\n")
    queries = [
        {"query": "my parcel is lost, where is it", "response": "shipping/lost", "system": "triage"},
        {"query": "I was charged twice, refund please", "response": "billing/refund", "system": "triage"},
        {"query": "reset password", "response": "account/locked", "system": "triage"},
    ]
    s3.put_object(Bucket=BUCKET, Key="g/gen_qa.jsonl", Body=b"\n".join(orjson.dumps(q) for q in queries))
    emulator = _emulator(s3)
    emulator.create_training_job(_request(name="forgeflow-run1-train-1", train="t/train.jsonl"))
    assert _run_to_end(emulator, "forgeflow-run1-train-1")["TrainingJobStatus"] == "Completed"
    checkpoint = emulator.escrow_uri(emulator.jobs()[0])

    trained = _gen_qa_results(s3, emulator, "forgeflow-run1-eval-genqa-trained-1", checkpoint)
    base = _gen_qa_results(s3, emulator, "forgeflow-run1-eval-genqa-base-1", "nova-lite/prod")

    # Two of three answers are the reference; the third answers "account/reset" for "account/locked".
    metrics = trained["results"]["results"]["all"]
    assert trained["results"]["results"]["custom|gen_qa_gen_qa|0"] == metrics
    assert metrics["exact_match"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["quasi_exact_match"] == pytest.approx(2 / 3, abs=1e-6)
    # ROUGE tokens of "account/reset" vs "account/locked": 1 of 2 unigrams, no shared bigram.
    assert metrics["rouge1"] == pytest.approx((1 + 1 + 0.5) / 3, abs=1e-6)
    assert metrics["rouge2"] == pytest.approx(2 / 3, abs=1e-6)
    assert "bleu" not in metrics
    assert trained["results"]["emulated"] is True
    assert trained["results"]["stand_in"]["memory_records"] == 3
    inference = [orjson.loads(line) for line in trained["inference"].splitlines()]
    assert [line["inference"] for line in inference] == ["shipping/lost", "billing/refund", "account/reset"]
    assert inference[0]["gold"] == "shipping/lost"
    # The base model memorised nothing: it answers "" and scores 0 everywhere.
    assert set(base["results"]["results"]["all"].values()) == {0.0}
    assert base["results"]["stand_in"]["memory_records"] == 0
    assert {line["inference"] for line in map(orjson.loads, base["inference"].splitlines())} == {""}


def test_gen_qa_of_an_unknown_checkpoint_is_not_measured(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="g/gen_qa.jsonl", Body=b'{"query": "q", "response": "a"}\n')
    emulator = _emulator(s3)
    answer = _gen_qa_results(
        s3, emulator, "forgeflow-run1-eval-genqa-trained-1", "s3://customer-escrow-1-smtj-x/j"
    )
    assert answer["results"]["results"] == {}
    assert "not produced by a training job of this emulator" in answer["results"]["not_measured"]
    assert answer["inference"] is None


def test_a_slow_measurement_keeps_the_job_training_and_a_failed_one_fails_it(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "EVALUATION_WAIT_SECONDS", 0.01)
    release = threading.Event()
    original = StandInEvaluation.evaluate

    def slow(self: StandInEvaluation, job: Any, task: str, model: str) -> Any:
        assert release.wait(10)
        if job.name.endswith("broken"):
            raise RuntimeError("the stand-in crashed")
        return original(self, job, task, model)

    monkeypatch.setattr(StandInEvaluation, "evaluate", slow)
    emulator = _emulator(s3)
    for name in ("forgeflow-run1-eval-mmlu-base", "forgeflow-run1-eval-mmlu-broken"):
        emulator.create_training_job(_request(name=name, recipe="e/", train=None, count=1))
    statuses = [
        emulator.describe_training_job("forgeflow-run1-eval-mmlu-base")["SecondaryStatus"] for _ in range(6)
    ]
    assert statuses[-2:] == ["Training", "Training"]  # waiting for the measurement
    release.set()
    assert _run_to_end(emulator, "forgeflow-run1-eval-mmlu-base")["TrainingJobStatus"] == "Completed"
    broken = _run_to_end(emulator, "forgeflow-run1-eval-mmlu-broken")
    assert broken["TrainingJobStatus"] == "Failed"
    assert broken["FailureReason"] == (
        "AlgorithmError: the emulated evaluation failed: RuntimeError: the stand-in crashed"
    )


SERVERLESS_GOLDEN = "tests/unit/jobs/golden/serverless_lite-2_sft-lora_forge.json"


def _serverless_request() -> dict[str, Any]:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    request: dict[str, Any] = orjson.loads((root / SERVERLESS_GOLDEN).read_bytes())
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{BUCKET}/d/train.jsonl"
    request["OutputDataConfig"]["S3OutputPath"] = f"s3://{BUCKET}/out/"
    request.get("OutputDataConfig", {}).pop("KmsKeyId", None)
    return request


def test_a_serverless_job_runs_on_its_converse_train_channel_without_a_recipe(s3: Any) -> None:
    emulator = TrainingJobEmulator(s3, account_id="123456789012", region="us-east-1")
    request = _serverless_request()
    emulator.create_training_job(request)
    for _ in range(6):
        described = emulator.describe_training_job(request["TrainingJobName"])
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["ServerlessJobConfig"] == request["ServerlessJobConfig"]
    assert described["ModelPackageConfig"] == request["ModelPackageConfig"]
    assert "emulated" in described["SecondaryStatusTransitions"][0]["StatusMessage"]
    # Its manifest is not archived: <out>/<job>/output/output/manifest.json (the SDK reads it there).
    keys = _keys(s3, request["TrainingJobName"])
    assert f"out/{request['TrainingJobName']}/output/output/manifest.json" in keys
    assert not [key for key in keys if key.endswith("output.tar.gz")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["ServerlessJobConfig"].update(AcceptEula=False), "AcceptEula must be true"),
        (
            lambda r: r.update(
                ResourceConfig={"InstanceType": "ml.p5.48xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100}
            ),
            "no ResourceConfig",
        ),
        (lambda r: r["ServerlessJobConfig"].pop("CustomizationTechnique"), "needs CustomizationTechnique"),
        (lambda r: r.pop("ModelPackageConfig"), "needs ModelPackageConfig"),
        (
            lambda r: r["ServerlessJobConfig"].update(EvaluationType="BenchmarkEvaluation"),
            "EvaluationType is for Evaluation jobs only",
        ),
        (
            lambda r: r["ServerlessJobConfig"].update(JobType="Evaluation"),
            "an Evaluation job needs EvaluationType",
        ),
        (
            lambda r: r["ServerlessJobConfig"].update(
                JobType="Evaluation", EvaluationType="BenchmarkEvaluation"
            ),
            "Peft and CustomizationTechnique are for FineTuning jobs only",
        ),
        (
            lambda r: r["ServerlessJobConfig"].update(CustomizationTechnique="DPO"),
            "Forge data mixing (customer_data_percent) is SFT only",
        ),
    ],
    ids=[
        "eula",
        "resource-config",
        "technique",
        "model-package",
        "eval-type",
        "no-eval-type",
        "peft",
        "forge-dpo",
    ],
)
def test_the_emulator_refuses_undocumented_serverless_combinations(
    s3: Any, change: Any, message: str
) -> None:
    emulator = TrainingJobEmulator(s3, account_id="123456789012", region="us-east-1")
    request = _serverless_request()
    change(request)
    with pytest.raises(EmulatedApiError) as refused:
        emulator.create_training_job(request)
    assert refused.value.code == "ValidationException"
    assert message in refused.value.message


def test_a_serverless_job_fails_on_a_train_channel_that_is_not_converse(s3: Any) -> None:
    emulator = TrainingJobEmulator(s3, account_id="123456789012", region="us-east-1")
    request = _serverless_request()
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{BUCKET}/r/recipe.yaml"
    emulator.create_training_job(request)
    for _ in range(3):
        described = emulator.describe_training_job(request["TrainingJobName"])
    assert described["TrainingJobStatus"] == "Failed"
    assert "ClientError" in described["FailureReason"]


def _serverless_eval_request(target: str) -> dict[str, Any]:
    from pathlib import Path

    golden = Path(__file__).resolve().parents[2] / "tests/unit/jobs/golden"
    request: dict[str, Any] = orjson.loads(
        (golden / f"serverless_eval_lite-2_mmlu_{target}.json").read_bytes()
    )
    request["OutputDataConfig"]["S3OutputPath"] = f"s3://{BUCKET}/out/"
    return request


# Issue #16: a serverless fine-tuning job registers a model package version in its group when it completes
# (DescribeTrainingJob OutputModelPackageArn); an instance-based job registers none.
def test_a_completed_serverless_job_names_its_new_model_package(s3: Any) -> None:
    emulator = TrainingJobEmulator(s3, account_id="123456789012", region="us-east-1")
    arns = []
    for attempt in (1, 2):
        request = _serverless_request()
        request["TrainingJobName"] = f"forgeflow-r-1-train-{attempt}"
        emulator.create_training_job(request)
        assert "OutputModelPackageArn" not in emulator.describe_training_job(request["TrainingJobName"])
        arns.append(_run_to_end(emulator, request["TrainingJobName"])["OutputModelPackageArn"])
    group = "arn:aws:sagemaker:us-east-1:123456789012:model-package"
    assert arns == [f"{group}/forgeflow/1", f"{group}/forgeflow/2"]
    emulator.create_training_job(_request())
    assert "OutputModelPackageArn" not in _run_to_end(emulator, "forgeflow-run1-smoke-1")


def test_a_serverless_evaluation_of_an_unknown_model_package_is_refused(s3: Any) -> None:
    emulator = TrainingJobEmulator(s3, account_id="123456789012", region="us-east-1")
    with pytest.raises(EmulatedApiError) as refused:
        emulator.create_training_job(_serverless_eval_request("trained"))
    assert refused.value.code == "ValidationException"
    assert "model-package/forgeflow/1 does not exist" in refused.value.message


def _serverless_results(s3: Any, name: str) -> tuple[str, dict[str, Any]]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"out/{name}/")["Contents"]]
    (key,) = [k for k in keys if k.rsplit("/", 1)[-1].startswith("results_")]
    return key, orjson.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


# Issue #16: serverless evaluation jobs write uncompressed results where the SDK reads them
# (<out>/<job>/output/output/None/eval_results/results_*.json), measured by the stand-in as recipe jobs
# are: MMLU needs its benchmark and a real model, so it says why it was not measured, never a number.
def test_serverless_evaluations_write_results_where_the_sdk_reads_them(s3: Any) -> None:
    emulator = TrainingJobEmulator(s3, account_id="123456789012", region="us-east-1")
    train = _serverless_request()
    train["TrainingJobName"] = "forgeflow-r-1-train-1"
    emulator.create_training_job(train)
    package = _run_to_end(emulator, "forgeflow-r-1-train-1")["OutputModelPackageArn"]
    for target in ("base", "trained"):
        request = _serverless_eval_request(target)
        emulator.create_training_job(request)
        name = request["TrainingJobName"]
        assert _run_to_end(emulator, name)["TrainingJobStatus"] == "Completed"
        key, results = _serverless_results(s3, name)
        assert key.startswith(f"out/{name}/output/output/None/eval_results/results_")
        assert results["emulated"] is True
        assert results["results"] == {}
        assert "mmlu needs its benchmark data and a real model" in results["not_measured"]
        assert results["config_general"] == {
            "model_name": package if target == "trained" else "",
            "task": "mmlu",
        }
        assert not [k for k in _keys(s3, name) if k.endswith("output.tar.gz")]


def _keys(s3: Any, name: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"out/{name}/")["Contents"]]


@pytest.mark.parametrize("bad", ["malformed", "missing"])
def test_bad_results_reach_the_serverless_layout_too(s3: Any, bad: Any) -> None:
    emulator = TrainingJobEmulator(s3, account_id="123456789012", region="us-east-1")
    emulator.failures = FailureInjection(bad_results=bad)
    request = _serverless_eval_request("base")
    emulator.create_training_job(request)
    assert _run_to_end(emulator, request["TrainingJobName"])["TrainingJobStatus"] == "Completed"
    results = [k for k in _keys(s3, request["TrainingJobName"]) if "/results_" in k]
    if bad == "missing":
        assert results == []
    else:
        (key,) = results
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_stalled_stage_stays_in_training_until_stopped(s3: Any) -> None:
    emulator = TrainingJobEmulator(s3, account_id="123456789012", region="us-east-1")
    emulator.failures = FailureInjection(stall_stages=frozenset({"eval"}))
    request = _serverless_eval_request("base")
    emulator.create_training_job(request)
    name = request["TrainingJobName"]
    statuses = [emulator.describe_training_job(name)["SecondaryStatus"] for _ in range(6)]
    assert statuses[-3:] == ["Training"] * 3
    emulator.stop_training_job(name)
    assert _run_to_end(emulator, name)["TrainingJobStatus"] == "Stopped"


def test_the_base_stand_in_knows_the_curated_pool_except_the_general_slice(s3: Any) -> None:
    from forgeflow.dataset.canonical import record_hash
    from forgeflow.evaluation.general import in_general_holdout

    pool = [_converse(f"what is {n} plus {n}", f"{2 * n}") for n in range(60)]
    held = [line for line in pool if in_general_holdout(record_hash(orjson.loads(line)))]
    assert 0 < len(held) < len(pool)
    s3.put_object(Bucket=BUCKET, Key="curated/sft/general.jsonl", Body=b"\n".join(pool) + b"\n")
    question = orjson.loads(held[0])["messages"][0]["content"][0]["text"]
    s3.put_object(
        Bucket=BUCKET, Key="g/gen_qa.jsonl", Body=orjson.dumps({"query": question, "response": "x"})
    )
    emulator = _emulator(s3)
    emulator.know_base_pool(f"s3://{BUCKET}/curated/")
    base = _gen_qa_results(s3, emulator, "forgeflow-run1-eval-general-base-1", "nova-lite/prod")
    assert base["results"]["stand_in"]["memory_records"] == len(pool) - len(held)
    assert "curated general pool" in base["results"]["stand_in"]["memory_source"]
    (answer,) = [orjson.loads(line)["inference"] for line in base["inference"].splitlines()]
    assert answer != orjson.loads(held[0])["messages"][1]["content"][0]["text"]  # the slice is unseen
