"""An emulated SageMaker training-job service: lifecycle, request checks, outputs, failure injection.

moto accepts CreateTrainingJob but reports every job `Completed` at once, has no StopTrainingJob, and
writes nothing. This emulator gives the pipeline what the real service would: a job goes `InProgress`
through the secondary statuses Starting → Downloading → Training → Uploading and ends `Completed`,
`Failed` or `Stopped`; each DescribeTrainingJob advances it one status (or, with `seconds_per_status`,
when that much time has passed). Requests are validated against botocore's CreateTrainingJob model;
when the job "downloads" its inputs, the channels must exist in S3 and the recipe must parse and match
the data channels, else the job fails with a `ClientError:` reason as SageMaker's would. On success it
writes where SageMaker writes, under `<S3OutputPath>/<job>/output/`: `model.tar.gz` and, for training
jobs, `output.tar.gz`, both holding the `manifest.json` that names an emulated escrow checkpoint; for
evaluation jobs `output.tar.gz` holds `<run name>/eval_results/results_<timestamp>.json` in the Nova
shape. No model runs, so no benchmark is scored: a gen_qa job measures, for real, a transparent stand-in
(nearest-neighbour retrieval over the trained job's `train` channel; an empty memory for the base model,
see `forgeflow_tools.local.stand_in`) against the job's `gen_qa.jsonl`, and writes its answers to
`eval_results/inference_output.jsonl`; any other task (mmlu, ...) writes no metrics and says why
(`not_measured`).
Everything it writes says "emulated".
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import re
import tarfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml

from forgeflow.evaluation.metrics import gen_qa_scores
from forgeflow_tools.local.stand_in import RetrievalModel, converse_pair

EMULATED_NOTE = "emulated by the ForgeFlow local runtime: no SageMaker job ran and no model was trained"
SECONDARY_STATUSES = ("Starting", "Downloading", "Training", "Uploading", "Completed")
STAGES = ("smoke", "train", "eval")
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_RECIPE_CONTAINER_DIR = "/opt/ml/input/data/recipe/"
# The stand-in model of a trained checkpoint memorises at most this many training records.
MAX_MEMORY_RECORDS = 50_000
# How long one DescribeTrainingJob waits for an evaluation measurement (well within a Lambda's timeout).
EVALUATION_WAIT_SECONDS = 10.0


class EmulatedApiError(Exception):
    """An error the SageMaker API itself would return for a request (code, HTTP status, message)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class FailureInjection:
    """Faults to inject, for tests and demos.

    `fail_stages`: jobs of these stages (smoke, train, eval) fail while Training.
    `capacity_stages`: jobs of these stages fail while Starting with a CapacityError.
    `throttle_creates`: the first N CreateTrainingJob calls are throttled (ThrottlingException).
    `limit_creates`: the next N calls fail with ResourceLimitExceeded (no p5 quota/capacity).
    """

    fail_stages: frozenset[str] = frozenset()
    capacity_stages: frozenset[str] = frozenset()
    throttle_creates: int = 0
    limit_creates: int = 0

    def __post_init__(self) -> None:
        unknown = (self.fail_stages | self.capacity_stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown job stage(s) {sorted(unknown)}: use {', '.join(STAGES)}")


def job_stage(name: str, tags: list[Mapping[str, str]] | None = None) -> str:
    """The pipeline stage a job belongs to: a `*stage` tag if the request has one, else its name."""
    for tag in tags or []:
        if str(tag.get("Key", "")).lower().endswith("stage") and tag.get("Value") in STAGES:
            return str(tag["Value"])
    tokens = name.lower().split("-")
    for stage in STAGES:
        if stage in tokens:
            return stage
    return "train"


@dataclass
class EmulatedJob:
    request: dict[str, Any]
    arn: str
    stage: str
    created: dt.datetime
    status: str = "InProgress"
    secondary: str = "Starting"
    failure_reason: str | None = None
    transitions: list[dict[str, Any]] = field(default_factory=list)
    last_change: dt.datetime | None = None
    training_start: dt.datetime | None = None
    end: dt.datetime | None = None
    stop_requested: bool = False
    # An evaluation job's measurement runs in a thread while the job is Training (see `_measured`).
    evaluation_thread: threading.Thread | None = None
    evaluation: tuple[dict[str, Any], bytes | None] | None = None
    evaluation_error: str | None = None

    @property
    def name(self) -> str:
        return str(self.request["TrainingJobName"])

    @property
    def output_prefix(self) -> str:
        return f"{str(self.request['OutputDataConfig']['S3OutputPath']).rstrip('/')}/{self.name}/output"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class TrainingJobEmulator:
    """The training-job API of one emulated account and region."""

    def __init__(
        self,
        s3_client: Any,
        *,
        account_id: str,
        region: str,
        failures: FailureInjection | None = None,
        seconds_per_status: float = 0.0,
    ) -> None:
        self._s3 = s3_client
        self._account_id = account_id
        self._region = region
        self.failures = failures or FailureInjection()
        self._seconds_per_status = seconds_per_status
        self._jobs: dict[str, EmulatedJob] = {}
        self._lock = threading.RLock()
        self.create_calls = 0
        self.rejected_creates: list[str] = []

    # --- API operations -------------------------------------------------------------------------------
    def create_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.create_calls += 1
            self._validate_request(request)
            name = str(request["TrainingJobName"])
            if self.failures.throttle_creates > 0:
                self.failures.throttle_creates -= 1
                self.rejected_creates.append(f"{name}: ThrottlingException")
                raise EmulatedApiError("ThrottlingException", "Rate exceeded (emulated throttling)", 400)
            if self.failures.limit_creates > 0:
                self.failures.limit_creates -= 1
                self.rejected_creates.append(f"{name}: ResourceLimitExceeded")
                raise EmulatedApiError(
                    "ResourceLimitExceeded",
                    f"The account-level service limit 'training job usage' for "
                    f"{request['ResourceConfig'].get('InstanceType')} is exceeded (emulated)",
                )
            if name in self._jobs:
                raise EmulatedApiError(
                    "ResourceInUse",
                    f"Training job names must be unique within an AWS account and region, and a training "
                    f"job with this name already exists ({self._jobs[name].arn})",
                )
            now = _now()
            job = EmulatedJob(
                request=copy.deepcopy(request),
                arn=f"arn:aws:sagemaker:{self._region}:{self._account_id}:training-job/{name.lower()}",
                stage=job_stage(name, request.get("Tags")),
                created=now,
                last_change=now,
            )
            self._enter(job, "Starting", "Preparing the instances for training (emulated)")
            self._jobs[name] = job
            return {"TrainingJobArn": job.arn}

    def describe_training_job(self, name: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(name)
            self._advance(job)
            return self._describe(job)

    def stop_training_job(self, name: str) -> None:
        with self._lock:
            job = self._job(name)
            if job.status != "InProgress":
                raise EmulatedApiError(
                    "ValidationException",
                    f"The job status is {job.status}: only InProgress jobs can be stopped",
                )
            job.stop_requested = True
            job.status = "Stopping"
            self._enter(job, "Stopping", "Stopping the training job (emulated)")

    def list_training_jobs(
        self, *, name_contains: str | None = None, status_equals: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            summaries = []
            for job in sorted(self._jobs.values(), key=lambda j: j.created):
                if name_contains and name_contains not in job.name:
                    continue
                if status_equals and job.status != status_equals:
                    continue
                summary = {
                    "TrainingJobName": job.name,
                    "TrainingJobArn": job.arn,
                    "CreationTime": job.created,
                    "LastModifiedTime": job.last_change,
                    "TrainingJobStatus": job.status,
                }
                if job.end is not None:
                    summary["TrainingEndTime"] = job.end
                summaries.append(summary)
            return summaries

    # --- inspection (tests, CLI) ---------------------------------------------------------------------
    def jobs(self) -> list[EmulatedJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created)

    # --- lifecycle ------------------------------------------------------------------------------------
    def _job(self, name: str) -> EmulatedJob:
        job = self._jobs.get(name)
        if job is None:
            raise EmulatedApiError(
                "ValidationException", f"Requested resource not found: training job {name}"
            )
        return job

    def _enter(self, job: EmulatedJob, secondary: str, message: str) -> None:
        now = _now()
        if job.transitions:
            job.transitions[-1]["EndTime"] = now
        job.transitions.append({"Status": secondary, "StartTime": now, "StatusMessage": message})
        job.secondary = secondary
        job.last_change = now

    def _finish(self, job: EmulatedJob, status: str, secondary: str, message: str) -> None:
        self._enter(job, secondary, message)
        job.status = status
        job.end = _now()
        job.transitions[-1]["EndTime"] = job.end

    def _advance(self, job: EmulatedJob) -> None:
        if job.status in {"Completed", "Failed", "Stopped"}:
            return
        if job.status == "Stopping":
            self._finish(job, "Stopped", "Stopped", "The job was stopped (emulated)")
            return
        assert job.last_change is not None
        if (_now() - job.last_change).total_seconds() < self._seconds_per_status:
            return
        step = job.secondary
        if step == "Starting":
            if job.stage in self.failures.capacity_stages:
                job.failure_reason = (
                    "CapacityError: Unable to provision requested ML compute capacity. "
                    "Please retry using a different ML instance type. (emulated failure injection)"
                )
                self._finish(job, "Failed", "Failed", job.failure_reason)
                return
            self._enter(job, "Downloading", "Downloading input data (emulated)")
        elif step == "Downloading":
            problem = self._check_inputs(job)
            if problem is not None:
                job.failure_reason = f"ClientError: {problem} (emulated check)"
                self._finish(job, "Failed", "Failed", job.failure_reason)
                return
            job.training_start = _now()
            self._enter(
                job, "Training", "Training image download completed. Training in progress. (emulated)"
            )
        elif step == "Training":
            if job.stage in self.failures.fail_stages:
                job.failure_reason = (
                    f"AlgorithmError: the {job.stage} job failed (emulated failure injection), exit code 1"
                )
                self._finish(job, "Failed", "Failed", job.failure_reason)
                return
            if not self._measured(job):
                return
            if job.evaluation_error is not None:
                job.failure_reason = f"AlgorithmError: the emulated evaluation failed: {job.evaluation_error}"
                self._finish(job, "Failed", "Failed", job.failure_reason)
                return
            self._enter(job, "Uploading", "Uploading generated training model (emulated)")
        elif step == "Uploading":
            self._write_outputs(job)
            self._finish(job, "Completed", "Completed", "Training job completed (emulated)")

    def _describe(self, job: EmulatedJob) -> dict[str, Any]:
        request = job.request
        answer: dict[str, Any] = {
            "TrainingJobName": job.name,
            "TrainingJobArn": job.arn,
            "TrainingJobStatus": job.status,
            "SecondaryStatus": job.secondary,
            "CreationTime": job.created,
            "LastModifiedTime": job.last_change,
            "SecondaryStatusTransitions": copy.deepcopy(job.transitions),
            "ModelArtifacts": {"S3ModelArtifacts": f"{job.output_prefix}/model.tar.gz"},
        }
        for key in (
            "RoleArn",
            "AlgorithmSpecification",
            "HyperParameters",
            "InputDataConfig",
            "OutputDataConfig",
            "ResourceConfig",
            "StoppingCondition",
            "VpcConfig",
            "TensorBoardOutputConfig",
            "CheckpointConfig",
            "ServerlessJobConfig",
            "MlflowConfig",
        ):
            if key in request:
                answer[key] = copy.deepcopy(request[key])
        if job.failure_reason:
            answer["FailureReason"] = job.failure_reason
        if job.training_start:
            answer["TrainingStartTime"] = job.training_start
        if job.end:
            answer["TrainingEndTime"] = job.end
            if job.training_start:
                answer["TrainingTimeInSeconds"] = max(1, int((job.end - job.training_start).total_seconds()))
                answer["BillableTimeInSeconds"] = answer["TrainingTimeInSeconds"]
        return answer

    # --- request and input checks ---------------------------------------------------------------------
    def _validate_request(self, request: dict[str, Any]) -> None:
        from botocore.session import get_session  # deferred: botocore's loaders are slow to import
        from botocore.validate import ParamValidator

        shape = get_session().get_service_model("sagemaker").operation_model("CreateTrainingJob").input_shape
        report = ParamValidator().validate(request, shape)
        if report.has_errors():
            raise EmulatedApiError("ValidationException", report.generate_report())
        name = str(request["TrainingJobName"])
        if not _JOB_NAME.match(name):
            raise EmulatedApiError(
                "ValidationException",
                f"Value '{name}' at 'trainingJobName' failed to satisfy constraint: Member must satisfy "
                f"regular expression pattern: {_JOB_NAME.pattern}",
            )
        if "ResourceConfig" not in request and "ServerlessJobConfig" not in request:
            raise EmulatedApiError("ValidationException", "ResourceConfig is required for this training job")

    def _exists(self, uri: str) -> bool:
        bucket, key = _split_s3(uri)
        answer = self._s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return bool(answer.get("KeyCount", 0))

    def _read(self, uri: str) -> bytes:
        bucket, key = _split_s3(uri)
        return bytes(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def _first_key(self, uri: str, suffix: str) -> str | None:
        bucket, key = _split_s3(uri)
        answer = self._s3.list_objects_v2(Bucket=bucket, Prefix=key)
        for entry in answer.get("Contents", []):
            if str(entry["Key"]).endswith(suffix):
                return f"s3://{bucket}/{entry['Key']}"
        return None

    def _check_inputs(self, job: EmulatedJob) -> str | None:
        """What SageMaker would fail the job for while downloading its inputs (None when all is well)."""
        channels: dict[str, str] = {}
        for channel in job.request.get("InputDataConfig", []):
            source = channel.get("DataSource", {}).get("S3DataSource")
            if source is None:
                continue
            uri = str(source["S3Uri"])
            channels[str(channel["ChannelName"])] = uri
            if not self._exists(uri):
                name = channel["ChannelName"]
                return f"Data download failed: no S3 objects found under {uri} (channel {name})"
        recipe = self._load_recipe(job, channels)
        if isinstance(recipe, str):
            return recipe
        return self._recipe_matches_channels(job, recipe, channels)

    def _load_recipe(self, job: EmulatedJob, channels: dict[str, str]) -> dict[str, Any] | str:
        if "recipe" not in channels:
            return "the request has no 'recipe' input channel: a Nova job needs its recipe"
        local_path = str(job.request.get("HyperParameters", {}).get("sagemaker_recipe_local_path", ""))
        uri = channels["recipe"]
        if not uri.endswith((".yaml", ".yml")):
            if local_path.startswith(_RECIPE_CONTAINER_DIR):
                uri = f"{uri.rstrip('/')}/{local_path[len(_RECIPE_CONTAINER_DIR) :]}"
            else:
                found = self._first_key(uri, ".yaml")
                if found is None:
                    return f"the recipe channel {uri} holds no .yaml recipe"
                uri = found
        if not self._exists(uri):
            return f"the recipe {uri} named by sagemaker_recipe_local_path={local_path!r} does not exist"
        try:
            recipe = yaml.safe_load(self._read(uri))
        except yaml.YAMLError as error:
            return f"the recipe {uri} is not valid YAML: {error}"
        if not isinstance(recipe, dict) or not isinstance(recipe.get("run"), dict):
            return f"the recipe {uri} has no 'run' section"
        return recipe

    def _recipe_matches_channels(
        self, job: EmulatedJob, recipe: dict[str, Any], channels: dict[str, str]
    ) -> str | None:
        run = recipe["run"]
        model_type = str(run.get("model_type", ""))
        if "amazon.nova" not in model_type:
            return f"run.model_type {model_type!r} is not a Nova model type"
        hyper_model = job.request.get("HyperParameters", {}).get("model_type")
        if hyper_model is not None and hyper_model != model_type:
            return f"hyperparameter model_type {hyper_model!r} differs from the recipe's {model_type!r}"
        replicas = run.get("replicas")
        instance_count = job.request.get("ResourceConfig", {}).get("InstanceCount")
        if replicas is not None and instance_count is not None and int(replicas) != int(instance_count):
            return f"run.replicas={replicas} but ResourceConfig.InstanceCount={instance_count}"
        evaluation = recipe.get("evaluation")
        if isinstance(evaluation, dict):
            if evaluation.get("task") == "gen_qa":
                if "train" not in channels:
                    return "a gen_qa evaluation needs a 'train' channel holding gen_qa.jsonl"
                if self._first_key(channels["train"], "gen_qa.jsonl") is None:
                    return f"the gen_qa evaluation channel {channels['train']} holds no gen_qa.jsonl"
            return None
        if "training_config" not in recipe:
            return "the recipe has neither training_config nor evaluation"
        if "train" not in channels:
            return "a training recipe needs a 'train' input channel"
        for name in ("train", "validation"):
            if name in channels:
                problem = self._check_jsonl(channels[name], name, dpo="dpo_cfg" in str(recipe))
                if problem:
                    return problem
        return None

    def _check_jsonl(self, uri: str, channel: str, *, dpo: bool) -> str | None:
        target = uri if uri.endswith(".jsonl") else self._first_key(uri, ".jsonl")
        if target is None:
            return f"channel {channel} ({uri}) holds no .jsonl file"
        head = self._read(target).split(b"\n", 1)[0]
        try:
            record = orjson.loads(head)
        except orjson.JSONDecodeError:
            return f"channel {channel}: the first line of {target} is not JSON"
        if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
            return f"channel {channel}: the first record of {target} is not a Converse record"
        has_candidates = any(isinstance(m, dict) and "candidates" in m for m in record["messages"])
        if dpo and not has_candidates:
            return f"channel {channel}: the recipe is DPO but {target} holds SFT records"
        return None

    # --- outputs --------------------------------------------------------------------------------------
    def _put(self, uri: str, body: bytes) -> None:
        bucket, key = _split_s3(uri)
        self._s3.put_object(Bucket=bucket, Key=key, Body=body)

    def escrow_uri(self, job: EmulatedJob) -> str:
        return f"s3://customer-escrow-{self._account_id}-smtj-emulated/{job.name}/outputs/checkpoints"

    def _write_outputs(self, job: EmulatedJob) -> None:
        manifest = {
            "checkpoint_s3_bucket": self.escrow_uri(job),
            "emulated": True,
            "note": EMULATED_NOTE,
            "training_job_name": job.name,
        }
        recipe_eval = self._evaluation_task(job)
        files = {
            "manifest.json": orjson.dumps(manifest, option=orjson.OPT_INDENT_2),
            "EMULATED.txt": (EMULATED_NOTE + "\n").encode(),
        }
        self._put(f"{job.output_prefix}/model.tar.gz", _tar_gz(files))
        if recipe_eval is None:
            # Nova SMTJ training jobs put manifest.json (the escrow checkpoint) in output.tar.gz.
            self._put(f"{job.output_prefix}/output.tar.gz", _tar_gz(files))
        else:
            task, run_name, model = recipe_eval
            stamp = (job.end or _now()).strftime("%Y%m%d_%H%M%S")
            assert job.evaluation is not None, "an evaluation job is Uploading only once it is measured"
            results, inference = job.evaluation
            results["config_general"] = {"model_name": model, "task": task}
            outputs = {
                f"{run_name}/eval_results/results_{stamp}.json": orjson.dumps(
                    results, option=orjson.OPT_INDENT_2
                ),
                "EMULATED.txt": (EMULATED_NOTE + "\n").encode(),
            }
            if inference is not None:
                outputs["eval_results/inference_output.jsonl"] = inference
            self._put(f"{job.output_prefix}/output.tar.gz", _tar_gz(outputs))

    def _measured(self, job: EmulatedJob) -> bool:
        """Whether an evaluation job's measurement is done (always, for training jobs).

        A large gen_qa measurement can outlast the Lambda that polls the job, so it runs in a thread
        started on the first poll; each poll waits for it at most `EVALUATION_WAIT_SECONDS` and the job
        stays Training until it is done, as a real evaluation job would.
        """
        if job.evaluation_thread is None:
            recipe_eval = self._evaluation_task(job)
            if recipe_eval is None:
                return True
            task, _, model = recipe_eval

            def measure() -> None:
                try:
                    job.evaluation = self._evaluate(job, task, model)
                except Exception as error:  # any failure of the measurement fails the job, as it would
                    job.evaluation_error = f"{type(error).__name__}: {error}"

            job.evaluation_thread = threading.Thread(target=measure, name=f"eval-{job.name}", daemon=True)
            job.evaluation_thread.start()
        job.evaluation_thread.join(timeout=EVALUATION_WAIT_SECONDS)
        return not job.evaluation_thread.is_alive()

    def _evaluate(self, job: EmulatedJob, task: str, model: str) -> tuple[dict[str, Any], bytes | None]:
        """The results document of an eval job, and for gen_qa its `inference_output.jsonl`."""
        if task != "gen_qa":
            return _not_measured(
                f"{task} needs its benchmark data and a real model; neither is available offline "
                "(emulated job)"
            ), None
        memory = self._memory(model)
        if isinstance(memory, str):
            return _not_measured(memory), None
        pairs, source = memory
        stand_in = RetrievalModel(pairs)
        queries = self._gen_qa_lines(job)
        lines = []
        scored = []
        for query in queries:
            prompt = "\n".join(part for part in (query.get("system", ""), query["query"]) if part)
            inference = stand_in.answer(prompt)
            scored.append((inference, query["response"]))
            lines.append(
                orjson.dumps(
                    {"prompt": prompt, "inference": inference, "gold": query["response"], "metadata": None}
                )
            )
        metrics = gen_qa_scores(scored)
        description = (
            f"nearest-neighbour retrieval over {len(stand_in)} (prompt, response) pairs of {source}"
            if source
            else 'an empty memory (the base model has never seen the customer\'s domain): it answers ""'
        )
        document: dict[str, Any] = {
            "results": {"custom|gen_qa_gen_qa|0": metrics, "all": metrics} if metrics else {},
            "emulated": True,
            "note": f"metrics measured on {len(scored)} gen_qa queries, answered by a stand-in model, "
            f"{description}; not by a Nova model: " + EMULATED_NOTE,
            "stand_in": {
                "model": "nearest-neighbour retrieval (Jaccard word overlap)",
                "memory_records": len(stand_in),
                "memory_source": source,
                "queries": len(scored),
            },
        }
        if not metrics:
            document["not_measured"] = "the gen_qa dataset holds no query"
        return document, b"\n".join(lines) + b"\n" if lines else b""

    def _memory(self, model: str) -> tuple[list[tuple[str, str]], str | None] | str:
        """The stand-in's memory for `model_name_or_path`: the training channel of the emulated job that
        produced an escrow checkpoint, empty for a base model, or why it cannot be had."""
        if not model.startswith("s3://"):
            return [], None
        bucket, key = _split_s3(model)
        name = key.split("/", 1)[0]
        producer = self._jobs.get(name) if bucket.endswith("-smtj-emulated") else None
        if producer is None:
            return (
                f"the checkpoint {model} was not produced by a training job of this emulator, so its "
                "training data is unknown and nothing stands in for it (emulated job)"
            )
        channels = _channels(producer.request)
        if "train" not in channels:
            return f"the training job {name} that produced {model} has no train channel (emulated job)"
        pairs: list[tuple[str, str]] = []
        for uri in self._jsonl_keys(channels["train"]):
            for line in self._lines(uri, MAX_MEMORY_RECORDS - len(pairs)):
                try:
                    pair = converse_pair(orjson.loads(line))
                except orjson.JSONDecodeError:
                    continue
                if pair is not None:
                    pairs.append(pair)
            if len(pairs) >= MAX_MEMORY_RECORDS:
                break
        return pairs, f"the train channel {channels['train']} of job {name}"

    def _gen_qa_lines(self, job: EmulatedJob) -> list[dict[str, str]]:
        channels = _channels(job.request)
        uri = self._first_key(channels["train"], "gen_qa.jsonl") if "train" in channels else None
        queries: list[dict[str, str]] = []
        for line in self._lines(uri, None) if uri else []:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("query"), str):
                queries.append(
                    {
                        "query": record["query"],
                        "response": str(record.get("response", "")),
                        "system": str(record.get("system") or ""),
                    }
                )
        return queries

    def _jsonl_keys(self, uri: str) -> list[str]:
        if uri.endswith(".jsonl"):
            return [uri]
        bucket, prefix = _split_s3(uri)
        keys: list[str] = []
        arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            answer = self._s3.list_objects_v2(**arguments)
            keys.extend(str(e["Key"]) for e in answer.get("Contents", []) if str(e["Key"]).endswith(".jsonl"))
            if not answer.get("IsTruncated"):
                break
            arguments["ContinuationToken"] = answer["NextContinuationToken"]
        return [f"s3://{bucket}/{key}" for key in sorted(keys)]

    def _lines(self, uri: str, limit: int | None) -> list[bytes]:
        """The non-blank lines of an object, at most `limit` of them (read as a stream)."""
        bucket, key = _split_s3(uri)
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        lines: list[bytes] = []
        try:
            for line in body.iter_lines():
                if limit is not None and len(lines) >= limit:
                    break
                if line.strip():
                    lines.append(bytes(line))
        finally:
            body.close()
        return lines

    def _evaluation_task(self, job: EmulatedJob) -> tuple[str, str, str] | None:
        recipe = self._load_recipe(job, _channels(job.request))
        if isinstance(recipe, str) or not isinstance(recipe.get("evaluation"), dict):
            return None
        run = recipe["run"]
        return (
            str(recipe["evaluation"].get("task", "")),
            str(run.get("name") or job.name),
            str(run.get("model_name_or_path", "")),
        )


def _channels(request: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(c["ChannelName"]): str(c["DataSource"]["S3DataSource"]["S3Uri"])
        for c in request.get("InputDataConfig", [])
        if "S3DataSource" in c.get("DataSource", {})
    }


def _not_measured(reason: str) -> dict[str, Any]:
    return {"results": {}, "emulated": True, "not_measured": reason, "note": EMULATED_NOTE}


def _tar_gz(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
