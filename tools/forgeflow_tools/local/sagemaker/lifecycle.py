"""The training-job API and lifecycle: Create/Describe/Stop/List, status progression, failure injection.

A job goes `InProgress` through the secondary statuses Starting → Downloading → Training → Uploading and
ends `Completed`, `Failed` or `Stopped`; each DescribeTrainingJob advances it one status (or, with
`seconds_per_status`, when that much time has passed). What it checks, writes and measures on the way
lives in `checks`, `outputs` and `evaluation`.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from forgeflow_tools.local.sagemaker.checks import check_inputs, validate_request
from forgeflow_tools.local.sagemaker.evaluation import StandInEvaluation, evaluation_task
from forgeflow_tools.local.sagemaker.jobs import (
    EmulatedApiError,
    EmulatedJob,
    FailureInjection,
    escrow_uri,
    job_stage,
    utc_now,
)
from forgeflow_tools.local.sagemaker.outputs import write_outputs
from forgeflow_tools.local.sagemaker.s3 import S3Objects

# How long one DescribeTrainingJob waits for an evaluation measurement (well within a Lambda's timeout).
EVALUATION_WAIT_SECONDS = 10.0
# The request fields DescribeTrainingJob echoes back, as SageMaker does.
_DESCRIBED_REQUEST_KEYS = (
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
    "ModelPackageConfig",
    "MlflowConfig",
)


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
        self._objects = S3Objects(s3_client)
        self._account_id = account_id
        self._region = region
        self.failures = failures or FailureInjection()
        self._seconds_per_status = seconds_per_status
        self._jobs: dict[str, EmulatedJob] = {}
        # Model package ARN → the serverless fine-tuning job that registered it (OutputModelPackageArn).
        self._packages: dict[str, EmulatedJob] = {}
        self._lock = threading.RLock()
        self._evaluation = StandInEvaluation(self._objects, self._producer)
        self.create_calls = 0
        self.rejected_creates: list[str] = []

    def know_base_pool(self, uri: str) -> None:
        """The curated pool (s3:// prefix) the base model's stand-in knows (StandInEvaluation)."""
        self._evaluation.base_pool = uri

    # --- API operations -------------------------------------------------------------------------------
    def create_training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.create_calls += 1
            validate_request(request)
            self._check_source_package(request)
            name = str(request["TrainingJobName"])
            self._inject_create_failure(name, request)
            if name in self._jobs:
                raise EmulatedApiError(
                    "ResourceInUse",
                    f"Training job names must be unique within an AWS account and region, and a training "
                    f"job with this name already exists ({self._jobs[name].arn})",
                )
            now = utc_now()
            job = EmulatedJob(
                request=copy.deepcopy(request),
                arn=f"arn:aws:sagemaker:{self._region}:{self._account_id}:training-job/{name.lower()}",
                stage=job_stage(name, request.get("Tags")),
                created=now,
                last_change=now,
            )
            job.capacity_error = self.failures.take_capacity_error(job.stage)
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

    def escrow_uri(self, job: EmulatedJob) -> str:
        return escrow_uri(self._account_id, job.name)

    # --- lifecycle ------------------------------------------------------------------------------------
    def _producer(self, key: str) -> EmulatedJob | None:
        """The emulated training job named `key`, or that registered the model package `key`."""
        return self._packages.get(key) or self._jobs.get(key)

    def _check_source_package(self, request: dict[str, Any]) -> None:
        """A model package to evaluate must exist, as SageMaker would check (emulated: one this emulator's
        serverless training jobs registered)."""
        source = request.get("ModelPackageConfig", {}).get("SourceModelPackageArn")
        if source and source not in self._packages:
            raise EmulatedApiError(
                "ValidationException", f"Model package {source} does not exist (emulated check)"
            )

    def _register_package(self, job: EmulatedJob) -> None:
        """A serverless fine-tuning job registers a new version in its ModelPackageGroupArn when it
        completes (DescribeTrainingJob OutputModelPackageArn, botocore's SageMaker model)."""
        group = job.request.get("ModelPackageConfig", {}).get("ModelPackageGroupArn")
        if job.serverless_job_type != "FineTuning" or not group or self.failures.no_model_package:
            return
        head, _, group_name = str(group).partition(":model-package-group/")
        versions = sum(1 for arn in self._packages if arn.startswith(f"{head}:model-package/{group_name}/"))
        job.model_package_arn = f"{head}:model-package/{group_name}/{versions + 1}"
        self._packages[job.model_package_arn] = job

    def _inject_create_failure(self, name: str, request: dict[str, Any]) -> None:
        """Reject the create as a throttled or over-quota account would, while failures are injected."""
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
                f"{_instance_type(request)} is exceeded (emulated)",
            )

    def _job(self, name: str) -> EmulatedJob:
        job = self._jobs.get(name)
        if job is None:
            raise EmulatedApiError(
                "ValidationException", f"Requested resource not found: training job {name}"
            )
        return job

    def _enter(self, job: EmulatedJob, secondary: str, message: str) -> None:
        now = utc_now()
        if job.transitions:
            job.transitions[-1]["EndTime"] = now
        job.transitions.append({"Status": secondary, "StartTime": now, "StatusMessage": message})
        job.secondary = secondary
        job.last_change = now

    def _finish(self, job: EmulatedJob, status: str, secondary: str, message: str) -> None:
        self._enter(job, secondary, message)
        job.status = status
        job.end = utc_now()
        job.transitions[-1]["EndTime"] = job.end

    def _fail(self, job: EmulatedJob, reason: str) -> None:
        job.failure_reason = reason
        self._finish(job, "Failed", "Failed", reason)

    def _advance(self, job: EmulatedJob) -> None:
        if job.status in {"Completed", "Failed", "Stopped"}:
            return
        if job.status == "Stopping":
            self._finish(job, "Stopped", "Stopped", "The job was stopped (emulated)")
            return
        assert job.last_change is not None
        if (utc_now() - job.last_change).total_seconds() < self._seconds_per_status:
            return
        step = job.secondary
        if step == "Starting":
            if job.capacity_error:
                self._fail(
                    job,
                    "CapacityError: Unable to provision requested ML compute capacity. "
                    "Please retry using a different ML instance type. (emulated failure injection)",
                )
                return
            self._enter(job, "Downloading", "Downloading input data (emulated)")
        elif step == "Downloading":
            problem = check_inputs(self._objects, job)
            if problem is not None:
                self._fail(job, f"ClientError: {problem} (emulated check)")
                return
            job.training_start = utc_now()
            self._enter(
                job, "Training", "Training image download completed. Training in progress. (emulated)"
            )
        elif step == "Training":
            self._advance_training(job)
        elif step == "Uploading":
            write_outputs(self._objects, job, self.escrow_uri(job), self.failures.bad_results)
            self._register_package(job)
            self._finish(job, "Completed", "Completed", "Training job completed (emulated)")

    def _advance_training(self, job: EmulatedJob) -> None:
        if job.stage in self.failures.fail_stages:
            self._fail(
                job, f"AlgorithmError: the {job.stage} job failed (emulated failure injection), exit code 1"
            )
            return
        if job.stage in self.failures.stall_stages or not self._measured(job):
            return
        if job.evaluation_error is not None:
            self._fail(job, f"AlgorithmError: the emulated evaluation failed: {job.evaluation_error}")
            return
        self._enter(job, "Uploading", "Uploading generated training model (emulated)")

    def _measured(self, job: EmulatedJob) -> bool:
        """Whether an evaluation job's measurement is done (always, for training jobs).

        A large gen_qa measurement can outlast the Lambda that polls the job, so it runs in a thread
        started on the first poll; each poll waits for it at most `EVALUATION_WAIT_SECONDS` and the job
        stays Training until it is done, as a real evaluation job would.
        """
        if job.evaluation_thread is None:
            recipe_eval = evaluation_task(self._objects, job)
            if recipe_eval is None:
                return True

            def measure() -> None:
                try:
                    job.evaluation = self._evaluation.evaluate(job, recipe_eval.task, recipe_eval.model)
                except Exception as error:  # any failure of the measurement fails the job, as it would
                    job.evaluation_error = f"{type(error).__name__}: {error}"

            job.evaluation_thread = threading.Thread(target=measure, name=f"eval-{job.name}", daemon=True)
            job.evaluation_thread.start()
        job.evaluation_thread.join(timeout=EVALUATION_WAIT_SECONDS)
        return not job.evaluation_thread.is_alive()

    def _describe(self, job: EmulatedJob) -> dict[str, Any]:
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
        for key in _DESCRIBED_REQUEST_KEYS:
            if key in job.request:
                answer[key] = copy.deepcopy(job.request[key])
        if job.model_package_arn:
            answer["OutputModelPackageArn"] = job.model_package_arn
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


def _instance_type(request: dict[str, Any]) -> str:
    return str(request.get("ResourceConfig", {}).get("InstanceType", "serverless training"))
