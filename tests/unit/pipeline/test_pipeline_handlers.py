"""Every handler, invoked like Lambda with its sample event from events/, against the stack in moto.

The sample events are one coherent run (the pointers of each step's input are what the previous steps
write), so this file also proves that `sam local invoke -e events/<function>.json` inputs are realistic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from forgeflow.pipeline.errors import InputMissing, RequestInvalid
from forgeflow.pipeline.events import SCHEMA_DIR, schema_file_name
from forgeflow_tools.examples import write_examples

EVENTS = Path(__file__).resolve().parents[3] / "events"
BUCKET = "forgeflow-data-example"


def load_event(name: str, run_id: str | None = None) -> dict[str, Any]:
    """A sample event; with `run_id`, the sample run's id (and so its S3 pointers) replaced by that one."""
    text = (EVENTS / f"{name}.json").read_text()
    document: dict[str, Any] = json.loads(text.replace(SAMPLE_RUN_ID, run_id) if run_id else text)
    return document


SAMPLE_RUN_ID: str = json.loads((EVENTS / "validate_dataset.json").read_text())["run"]["run_id"]
RUN = load_event("validate_dataset")["run"]
RUN_ID = RUN["run_id"]
PREFIX = f"runs/{RUN_ID}/"


def assert_valid_event(event: dict[str, Any]) -> None:
    schema = json.loads((SCHEMA_DIR / schema_file_name(event["detail-type"])).read_text())
    jsonschema.validate(event, schema)


def upload_dataset_only(stack: Any, key: str = "incoming/support_sft.jsonl") -> None:
    """Enough for the steps that never read the records (register, publish, stop).

    RegisterRun pins the version the event names, so the upload gets the sample event's version id (moto
    cannot be asked for one; its stored key is edited instead).
    """
    from moto.s3.models import s3_backends

    stack.put(key, b"{}\n")
    version = load_event("register_run")["event"]["detail"]["object"]["version-id"]
    bucket = s3_backends["123456789012"]["aws"].buckets[BUCKET]
    bucket.keys.getlist(key)[-1]._version_id = version


def upload_examples(stack: Any, tmp_path: Path) -> dict[str, Any]:
    """Upload the example data; the dataset's PutObject answer (its VersionId and ETag)."""
    files = write_examples(tmp_path)
    stack.put("curated/sft/general.jsonl", files["general"].read_bytes())
    answer: dict[str, Any] = stack.put("incoming/support_sft.jsonl", files["support"].read_bytes())
    return answer


def eval_results(stack: Any, metric: str, value: float, task: str, answers: list[str] | None = None) -> bytes:
    document = {"results": {task: {metric: value, f"{metric}_stderr": 0.01}}}
    files = {"run/eval_results/results_2026-11-23T12-00-00.json": json.dumps(document).encode()}
    if answers is not None:
        # The per-record outputs classification metrics are computed from (gold: billing, refund).
        files["run/eval_results/inference_output.jsonl"] = "\n".join(
            json.dumps({"prompt": "p", "inference": inference, "gold": gold})
            for inference, gold in zip(answers, ["billing", "refund"], strict=True)
        ).encode()
    return stack.tar_gz(files)


def test_the_sample_run_goes_through_every_handler(stack: Any, invoke: Any, tmp_path: Path) -> None:
    uploaded = upload_examples(stack, tmp_path)
    # The pipeline reads exactly the object version the event names, so the event names the real upload.
    trigger = load_event("register_run")
    trigger["event"]["detail"]["object"].update(
        {"version-id": uploaded["VersionId"], "etag": uploaded["ETag"].strip('"')}
    )
    run = invoke("register_run", trigger)
    run_id = run["run_id"]
    assert run_id != SAMPLE_RUN_ID  # the run id follows the object version
    prefix = f"runs/{run_id}/"
    sample = load_event("validate_dataset", run_id)["run"]
    assert {key: run[key] for key in sample} == sample
    # Issue #15: $.run also names what the console's output tab shows.
    assert run["dataset_version_id"] == uploaded["VersionId"]
    assert (run["model"], run["technique"], run["outputs_prefix"]) == (
        "lite",
        "sft-lora",
        f"s3://{BUCKET}/{prefix}",
    )
    assert json.loads(stack.get(prefix + "request.json"))["run_id"] == run_id
    started = stack.results()[0]
    assert started["detail-type"] == "Run Started"
    assert_valid_event(started)

    validation = invoke("validate_dataset", load_event("validate_dataset", run_id))
    assert validation["valid"] is True
    assert validation["report_uri"] == f"s3://{BUCKET}/{prefix}validation/report.json"
    assert json.loads(stack.get(prefix + "validation/report.json"))["records"] == validation["records"]

    mix = invoke("mix_data", {**load_event("mix_data", run_id), "validation": validation})
    assert mix["train_uri"] == f"s3://{BUCKET}/{prefix}mix/train.jsonl"
    assert mix["train_records"] > validation["records"] * 0.9  # customer data (minus held out) + curated
    assert {prefix + "mix/train.jsonl", prefix + "mix/mix_report.json"} <= set(stack.keys(prefix + "mix/"))

    recipe = invoke(
        "render_recipe", {**load_event("render_recipe", run_id), "validation": validation, "mix": mix}
    )
    assert recipe["technique"] == "sft-lora"
    assert b"model_type" in stack.get(prefix + "recipe/train/recipe.yaml")
    smoke_train = stack.get(recipe["smoke_train_uri"].removeprefix(f"s3://{BUCKET}/"))
    assert smoke_train.count(b"\n") > 0

    # Step Functions creates each job from the built request (createTrainingJob.sync); here the test does.
    smoke = invoke(
        "build_training_job", {**load_event("build_training_job", run_id), "mix": mix, "recipe": recipe}
    )
    assert smoke["job_name"] == f"forgeflow-{run_id}-smoke-1"
    assert smoke["request"]["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600  # SmokeMaxRuntimeSeconds
    stack.sagemaker.create_training_job(**smoke["request"])
    described = stack.sagemaker.describe_training_job(TrainingJobName=smoke["job_name"])
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in described["InputDataConfig"]
    }
    # Nova 1.0 has no max_steps: the smoke job trains one epoch over the 5-step subset, on the smoke recipe.
    assert channels == {
        "train": recipe["smoke_train_uri"],
        "validation": mix["validation_uri"],
        "recipe": recipe["smoke_recipe_uri"],
    }

    training = invoke(
        "build_training_job",
        {**load_event("build_training_job", run_id), "mix": mix, "recipe": recipe, "stage": "train"},
    )
    train_job = training["job_name"]
    stack.sagemaker.create_training_job(**training["request"])
    described = stack.sagemaker.describe_training_job(TrainingJobName=train_job)
    train_channel = next(c for c in described["InputDataConfig"] if c["ChannelName"] == "train")
    assert train_channel["DataSource"]["S3DataSource"]["S3Uri"] == mix["train_uri"]
    assert train_job == load_event("build_evaluation_jobs", run_id)["training"]["job_name"]
    manifest = json.dumps({"checkpoint_s3_bucket": "s3://customer-escrow-123456789012-smtj-x/run"}).encode()
    stack.put(f"{prefix}jobs/{train_job}/output/output.tar.gz", stack.tar_gz({"manifest.json": manifest}))

    built = invoke(
        "build_evaluation_jobs", {**load_event("build_evaluation_jobs", run_id), "mix": mix, "recipe": recipe}
    )
    assert {job["request"]["StoppingCondition"]["MaxRuntimeInSeconds"] for job in built["jobs"]} == {7200}
    # A serverful run's every suite is a recipe job (#16: only a serverless run's MMLU runs serverless).
    assert not [job for job in built["jobs"] if "ServerlessJobConfig" in job["request"]]
    for job in built["jobs"]:
        stack.sagemaker.create_training_job(**job["request"])
    evaluation = {
        "jobs": built["jobs"],
        "done": [
            {"suite": j["suite"], "target": j["target"], "job_name": j["job_name"]} for j in built["jobs"]
        ],
    }
    assert evaluation["done"] == load_event("collect_evaluation", run_id)["evaluation"]["done"]
    assert stack.keys(prefix + "evaluation/inputs/gen_qa/") == [
        prefix + "evaluation/inputs/gen_qa/gen_qa.jsonl"
    ]
    suites: dict[str, dict[str, str]] = {}
    for job in evaluation["done"]:
        suites.setdefault(job["suite"], {})[job["target"]] = job["job_name"]

    # gen_qa as a real job reports it; mmlu as the local emulator does: no numbers, and why.
    scores = {"base": 0.41, "trained": 0.53}
    answers = {"base": ["", "billing"], "trained": ["Billing ", "refund"]}
    unmeasured = {"results": {}, "emulated": True, "not_measured": "no MMLU data offline (emulated job)"}
    for suite, targets in suites.items():
        for target, name in targets.items():
            archive = (
                eval_results(stack, "f1_score", scores[target], "custom|gen_qa_gen_qa|0", answers[target])
                if suite == "gen_qa"
                else stack.tar_gz({"run/eval_results/results_1.json": json.dumps(unmeasured).encode()})
            )
            stack.put(f"{prefix}jobs/{name}/output/output.tar.gz", archive)
    result = invoke(
        "collect_evaluation", {**load_event("collect_evaluation", run_id), "evaluation": evaluation}
    )
    assert result["suites"]["gen_qa"]["delta"] == pytest.approx(0.12)
    assert result["suites"]["gen_qa"]["note"] is None
    # The sample's answers are labels, so the task is auto-detected as classification.
    assert result["suites"]["classification"]["metric"] == "macro_f1"
    assert (result["suites"]["classification"]["base"], result["suites"]["classification"]["trained"]) == (
        0.0,
        1.0,
    )
    assert result["suites"]["mmlu"] == {
        "metric": "accuracy",
        "base": None,
        "trained": None,
        "delta": None,
        "note": "not measured: no MMLU data offline (emulated job)",
    }
    assert result["emulated"] is True
    # MMLU and the general suite unmeasured (listed, not passed); the domain macro-F1 gain passes.
    assert (result["verdict"], result["failed_gates"]) == ("promoted", [])

    publish = load_event("publish_result", run_id)
    # What the state machine passes on: CollectEvaluation's result, `emulated` included.
    publish["evaluation"]["result"] = result
    published = invoke("publish_result", publish)
    assert published["detail_type"] == "Run Succeeded"
    succeeded = stack.results()[-1]
    assert succeeded["detail-type"] == "Run Succeeded"
    assert_valid_event(succeeded)
    assert succeeded["detail"]["emulated"] is True
    assert succeeded["detail"]["evaluation"]["gen_qa"]["delta"] == pytest.approx(0.12)
    assert succeeded["detail"]["estimated_cost_usd"] == publish["recipe"]["estimate_usd"]
    row = stack.ledger(run_id)
    assert row is not None
    assert row["status"] == "SUCCEEDED"
    assert row["job_names"] == [smoke["job_name"], train_job, *[job["job_name"] for job in built["jobs"]]]


def test_the_failure_handlers_publish_run_failed_and_close_the_ledger(stack: Any, invoke: Any) -> None:
    upload_dataset_only(stack)
    invoke("register_run", load_event("register_run"))

    assert invoke("stop_jobs", load_event("stop_jobs")) == {"run_id": RUN_ID, "stopped": [], "ended": None}
    published = invoke("publish_result", load_event("publish_result-failed"))
    assert published["detail_type"] == "Run Failed"
    failed = stack.results()[-1]
    assert_valid_event(failed)
    assert failed["detail"]["stage"] == "smoke"
    assert failed["detail"]["error_code"] == "SmokeJobFailed"
    row = stack.ledger(RUN_ID)
    assert row is not None
    assert (row["status"], row["stage"], row["error_code"]) == ("FAILED", "smoke", "SmokeJobFailed")


def test_a_smoke_only_run_publishes_run_succeeded_naming_the_smoke_job(stack: Any, invoke: Any) -> None:
    upload_dataset_only(stack)
    invoke("register_run", load_event("register_run"))
    sample = load_event("publish_result-smoke-only")
    assert invoke("publish_result", sample)["detail_type"] == "Run Succeeded"
    succeeded = stack.results()[-1]
    assert_valid_event(succeeded)
    detail = succeeded["detail"]
    assert (detail["smoke_only"], detail["smoke_job_name"]) == (True, sample["smoke"]["job"]["job_name"])
    assert (detail["training_job_name"], detail["model_artifacts"], detail["evaluation"]) == (None, None, {})
    assert stack.ledger(RUN_ID)["status"] == "SUCCEEDED"
    # Without the option a missing training job is still an error, not a quiet smoke-only result.
    sample["run"]["settings"]["smoke_only"] = False
    sample["execution_arn"] += "-other"
    with pytest.raises(Exception, match=r"needs \$\.training\.job"):
        invoke("publish_result", sample)


def test_stop_orphaned_jobs_finds_the_run_by_execution(stack: Any, invoke: Any) -> None:
    upload_dataset_only(stack)
    invoke("register_run", load_event("register_run"))

    answer = invoke("stop_orphaned_jobs", load_event("stop_orphaned_jobs"))

    assert (answer["run_id"], answer["stopped"]) == (RUN_ID, [])
    # Issue #15: the sweep that published the run's end says how it ended, for the dashboard's metrics.
    assert answer["ended"]["detail_type"] == "Run Failed"
    assert (answer["ended"]["stage"], answer["ended"]["jobs"]) == ("register", {})
    row = stack.ledger(RUN_ID)
    assert row is not None
    assert (row["status"], row["error_code"]) == ("FAILED", "ExecutionAborted")
    # The execution could not publish its Run Failed: the sweeper did, on the v1 contract.
    failed = stack.results()[-1]
    assert failed["detail-type"] == "Run Failed"
    assert_valid_event(failed)
    assert (failed["detail"]["stage"], failed["detail"]["error_code"]) == ("register", "ExecutionAborted")


def test_a_second_delivery_of_the_same_object_is_a_duplicate(stack: Any, invoke: Any) -> None:
    upload_dataset_only(stack)
    event = load_event("register_run")
    first = invoke("register_run", event)
    again = invoke("register_run", {**event, "execution_arn": event["execution_arn"] + "-redelivered"})
    retried = invoke("register_run", event)

    assert first["duplicate"] is False
    assert again["duplicate"] is True
    assert again["run_id"] == first["run_id"]
    assert retried["duplicate"] is False  # the owning execution retrying RegisterRun keeps its run
    assert [e["detail-type"] for e in stack.results()] == ["Run Started", "Run Started"]


@pytest.mark.parametrize(("status", "duplicate"), [("FAILED", False), ("SUCCEEDED", True), ("RUNNING", True)])
def test_only_a_failed_run_may_be_started_again(
    stack: Any, invoke: Any, status: str, duplicate: bool
) -> None:
    # Issue #9 finding 3: replaying a failed run's event ended at DuplicateIgnored.
    upload_dataset_only(stack)
    event = load_event("register_run")
    invoke("register_run", event)
    stack.dynamodb.update_item(
        TableName="forgeflow-runs",  # tests/unit/pipeline/conftest.py TABLE
        Key={"run_id": {"S": RUN_ID}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )
    again = invoke("register_run", {**event, "execution_arn": event["execution_arn"] + "-rerun"})

    assert again["duplicate"] is duplicate
    row = stack.ledger(RUN_ID)
    assert row is not None
    assert row["status"] == ("RUNNING" if not duplicate else status)


def test_a_handler_error_is_raised_under_its_asl_name(stack: Any, invoke: Any) -> None:
    # Nothing uploaded: the sample run's request document does not exist.
    with pytest.raises(InputMissing) as raised:
        invoke("validate_dataset", load_event("validate_dataset"))
    assert type(raised.value).__name__ == "InputMissing"


def test_an_url_encoded_key_is_decoded_and_a_missing_object_refused(stack: Any, invoke: Any) -> None:
    upload_dataset_only(stack, "incoming/support tickets.jsonl")
    event = load_event("register_run")
    event["event"]["detail"]["object"]["key"] = "incoming/support+tickets.jsonl"
    run = invoke("register_run", event)
    assert run["dataset_uri"] == f"s3://{BUCKET}/incoming/support tickets.jsonl"

    event["event"]["detail"]["object"]["key"] = "incoming/deleted.jsonl"
    with pytest.raises(InputMissing, match="does not exist"):
        invoke("register_run", event)


def test_run_failed_points_at_the_stage_report_when_there_is_one(stack: Any, invoke: Any) -> None:
    upload_dataset_only(stack)
    invoke("register_run", load_event("register_run"))
    stack.put(PREFIX + "recipe/preflight.json", b'{"ok": false}')
    event = load_event("publish_result-failed")
    event["failure"] = {"stage": "recipe", "error": "PreflightRefused", "cause": "over budget"}
    invoke("publish_result", event)
    event["failure"] = {"stage": "mix", "error": "MixPlanInvalid", "cause": "too few curated records"}
    event["execution_arn"] += "-another"  # one Run Failed per execution: a second one is another's
    invoke("publish_result", event)

    failed = [e["detail"] for e in stack.results() if e["detail-type"] == "Run Failed"]
    assert failed[0]["report_uri"] == f"s3://{BUCKET}/{PREFIX}recipe/preflight.json"
    assert failed[1]["report_uri"] is None


def test_a_request_for_a_dataset_outside_the_bucket_is_refused(stack: Any, invoke: Any) -> None:
    request = load_event("trigger-fine-tune-requested")
    request["detail"]["dataset_uri"] = "s3://someone-elses-bucket/data.jsonl"
    with pytest.raises(RequestInvalid, match="outside the pipeline's bucket"):
        invoke("register_run", {"event": request, "execution_arn": "arn:e"})
    request["detail"]["dataset_uri"] = f"s3://{BUCKET}/datasets/missing.jsonl"  # RequestDataPrefix
    with pytest.raises(InputMissing, match="does not exist"):
        invoke("register_run", {"event": request, "execution_arn": "arn:e"})


# --- issue #15, approval before the full job --------------------------------------------------------------
def test_request_approval_stores_the_token_in_the_run_row_and_asks_on_the_results_bus(
    stack: Any, invoke: Any
) -> None:
    upload_dataset_only(stack)
    invoke("register_run", load_event("register_run"))
    sample = load_event("request_approval")
    answer = invoke("request_approval", sample)
    row = stack.ledger(RUN_ID)
    assert (row["approval_token"], row["stage"], row["status"]) == (
        sample["task_token"],
        "approval",
        "RUNNING",
    )
    asked = stack.results()[-1]
    assert_valid_event(asked)
    assert asked["detail-type"] == "Approval Requested"
    assert answer["event_id"] == asked["id"]
    detail = asked["detail"]
    assert detail["smoke"]["job_name"] == sample["smoke"]["job"]["job_name"]
    assert detail["estimated_cost_usd"] == sample["recipe"]["estimate_usd"]
    assert detail["approve_command"].startswith(f"forgeflow runs approve {RUN_ID} --stack")
    assert sample["task_token"] not in json.dumps(detail)  # the token stays in the ledger


def test_request_approval_of_a_run_another_execution_owns_stores_nothing(stack: Any, invoke: Any) -> None:
    upload_dataset_only(stack)
    invoke("register_run", load_event("register_run"))
    sample = load_event("request_approval")
    sample["execution_arn"] += "-another"
    published = len(stack.results())
    with pytest.raises(InputMissing, match="not RUNNING under execution"):
        invoke("request_approval", sample)
    assert "approval_token" not in stack.ledger(RUN_ID)
    assert len(stack.results()) == published
