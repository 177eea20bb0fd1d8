"""What an emulated training job is: its record, its stage, and the errors the API answers with.

Shared by the lifecycle, the checks, the outputs and the evaluation modules, so it imports none of them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

EMULATED_NOTE = "emulated by the ForgeFlow local runtime: no SageMaker job ran and no model was trained"
STAGES = ("smoke", "train", "eval")


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
    `capacity_errors`: stage → N: the first N jobs of that stage fail while Starting with a CapacityError.
    `throttle_creates`: the first N CreateTrainingJob calls are throttled (ThrottlingException).
    `limit_creates`: the next N calls fail with ResourceLimitExceeded (no p5 quota/capacity).
    `bad_results`: evaluation jobs complete but their output (output.tar.gz, or a serverless job's
    uncompressed `output/output/`) holds a `malformed` results file (not JSON) or is `missing` it.
    `stall_stages`: jobs of these stages stay Training until they are stopped (an overdue job).
    `no_model_package`: serverless fine-tuning jobs complete without an OutputModelPackageArn.
    """

    fail_stages: frozenset[str] = frozenset()
    capacity_errors: dict[str, int] = field(default_factory=dict)
    throttle_creates: int = 0
    limit_creates: int = 0
    bad_results: Literal["malformed", "missing"] | None = None
    stall_stages: frozenset[str] = frozenset()
    no_model_package: bool = False

    def __post_init__(self) -> None:
        unknown = (self.fail_stages | self.stall_stages | set(self.capacity_errors)) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown job stage(s) {sorted(unknown)}: use {', '.join(STAGES)}")

    def take_capacity_error(self, stage: str) -> bool:
        """Whether a new job of this stage is one of the first N that lose their capacity."""
        left = self.capacity_errors.get(stage, 0)
        if left > 0:
            self.capacity_errors[stage] = left - 1
        return left > 0


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
    """One training job as the emulator tracks it: the request it was created with and where it is."""

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
    capacity_error: bool = False
    # An evaluation job's measurement runs in a thread while the job is Training (see `lifecycle`).
    evaluation_thread: threading.Thread | None = None
    evaluation: tuple[dict[str, Any], bytes | None] | None = None
    evaluation_error: str | None = None
    # A completed serverless fine-tuning job's model package (DescribeTrainingJob OutputModelPackageArn).
    model_package_arn: str | None = None

    @property
    def name(self) -> str:
        return str(self.request["TrainingJobName"])

    @property
    def serverless_job_type(self) -> str | None:
        """`ServerlessJobConfig.JobType` (FineTuning | Evaluation); None for an instance-based job."""
        config = self.request.get("ServerlessJobConfig")
        return str(config["JobType"]) if isinstance(config, dict) else None

    @property
    def output_prefix(self) -> str:
        return f"{str(self.request['OutputDataConfig']['S3OutputPath']).rstrip('/')}/{self.name}/output"

    @property
    def channels(self) -> dict[str, str]:
        """The S3 URI of each input channel, by channel name."""
        return {
            str(c["ChannelName"]): str(c["DataSource"]["S3DataSource"]["S3Uri"])
            for c in self.request.get("InputDataConfig", [])
            if "S3DataSource" in c.get("DataSource", {})
        }


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# The emulator's stand-in for the SageMaker-owned escrow bucket a Nova training job's checkpoint lands in.
ESCROW_BUCKET_SUFFIX = "-smtj-emulated"


def escrow_uri(account_id: str, job_name: str) -> str:
    """Where the emulated checkpoint of a training job "is": named by its manifest, read by evaluations."""
    return f"s3://customer-escrow-{account_id}{ESCROW_BUCKET_SUFFIX}/{job_name}/outputs/checkpoints"
