"""Serverless SageMaker training requests (`ServerlessJobConfig` + `ModelPackageConfig`), without the SDK.

The request is what the SageMaker Python SDK v3 sends for a serverless Nova fine-tune
(aws/sagemaker-python-sdk, sagemaker-train/src/sagemaker/train/sft_trainer.py and
common_utils/finetune_utils.py `_create_serverless_config`): no AlgorithmSpecification and no
ResourceConfig (SageMaker picks image and hardware from the base model), `ServerlessJobConfig` with
`JobType` FineTuning, `CustomizationTechnique`, `Peft` LORA (omitted for full rank), `AcceptEula` and
`SequenceLength`; `ModelPackageConfig.ModelPackageGroupArn` for the output model package; `train` channel
of `S3DataType: Converse`; string hyperparameters, among them Forge data mixing's `customer_data_percent`
and `nova_<category>_percent` (SDK `DataMixingConfig.to_hyperparameters`). Shapes and enums: botocore's
SageMaker service model (CreateTrainingJobRequest, ServerlessJobConfig, ModelPackageConfig).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from forgeflow.errors import DataError
from forgeflow.jobs.requests import MLFLOW_MEMBER, JobSettings, job_name, mlflow_config
from forgeflow.jobs.validate import validate_request
from forgeflow.mixing.forge import FORGE_SMTJ_PAGE
from forgeflow.nova import Method, NovaModel, Technique
from forgeflow.recipes.render import RenderedRecipe

FORGE_SMTJ_SOURCE = FORGE_SMTJ_PAGE
# botocore ServerlessJobConfig.SequenceLength: pattern \d+K, "an integer value from 1K to 1024K".
_MIN_SEQUENCE_K = 1
_MAX_SEQUENCE_K = 1024
# The most DescribeTrainingJob polls of one attempt (the ASL's ServerlessTrainingJobStatus): about ten
# history events a poll keeps an execution well inside the 25,000-event quota (Step Functions quotas).
MAX_SERVERLESS_POLLS = 2000


class ServerlessSettings(BaseModel):
    """Stack settings of serverless jobs (template parameters ModelPackageGroupArn, BaseModelArn*)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_package_group_arn: str = ""
    # The SageMaker AI Hub base-model ARN per model (hub-content ARNs; none are published as constants).
    base_model_arns: dict[NovaModel, str] = Field(default_factory=dict)
    # ServerlessJobConfig.AcceptEula: "must be explicitly defined as True" to accept the model's EULA.
    accept_eula: bool = False


def refusals(model: NovaModel, technique: Technique, serverless: ServerlessSettings) -> list[str]:
    """Why this model/technique cannot run as a serverless job with these settings (empty: it can)."""
    problems = []
    if technique.method is not Method.SFT:
        # The serverless page ForgeFlow builds on documents SFT (LoRA, full rank); DPO is not verified.
        problems.append(
            f"technique {technique.value}: ForgeFlow's serverless jobs are SFT only (LoRA or full rank), "
            f"the combination {FORGE_SMTJ_SOURCE} documents; use compute: serverful for DPO"
        )
    if not serverless.base_model_arns.get(model):
        problems.append(
            f"no base-model ARN is configured for model {model.value}: set the stack parameter "
            f"BaseModelArn{_parameter_suffix(model)} to its SageMaker AI Hub ARN [{FORGE_SMTJ_SOURCE}]"
        )
    if not serverless.model_package_group_arn:
        problems.append(
            "no model package group is configured: set the stack parameter ModelPackageGroupArn "
            f"(the output model package's group) [{FORGE_SMTJ_SOURCE}]"
        )
    if not serverless.accept_eula:
        problems.append(
            "the base model's EULA is not accepted: set the stack parameter AcceptBaseModelEula to true "
            "(ServerlessJobConfig.AcceptEula must be true, botocore's SageMaker model)"
        )
    return problems


def _parameter_suffix(model: NovaModel) -> str:
    return "".join(part.capitalize() for part in model.value.split("-"))


def sequence_length(max_length: int) -> str:
    """The smallest power-of-two `<n>K` that holds `max_length` tokens (botocore: 1K to 1024K)."""
    kilo = _MIN_SEQUENCE_K
    while kilo * 1024 < max_length:
        kilo *= 2
    if kilo > _MAX_SEQUENCE_K:
        raise DataError(
            f"max_length {max_length} exceeds the largest serverless SequenceLength ({_MAX_SEQUENCE_K}K)",
            code="INVALID_JOB_REQUEST",
        )
    return f"{kilo}K"


def serverless_job_config(rendered: RenderedRecipe, serverless: ServerlessSettings) -> dict[str, Any]:
    """`ServerlessJobConfig` of a fine-tuning job: Peft LORA for LoRA, omitted for full rank (as the SDK)."""
    config: dict[str, Any] = {
        "BaseModelArn": serverless.base_model_arns[rendered.model],
        "AcceptEula": serverless.accept_eula,
        "JobType": "FineTuning",
        "CustomizationTechnique": rendered.technique.method.value.upper(),
        "SequenceLength": sequence_length(rendered.max_length),
    }
    if rendered.technique.lora:
        config["Peft"] = "LORA"
    return config


def build_serverless_training_request(
    rendered: RenderedRecipe,
    *,
    run_id: str,
    stage: Literal["train"],
    train_uri: str,
    settings: JobSettings,
    serverless: ServerlessSettings,
    forge_hyperparameters: dict[str, str] | None = None,
    attempt: int = 1,
    tags: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A complete, validated serverless CreateTrainingJob request for the full training job.

    `forge_hyperparameters`: the mix report's `forge.hyperparameters` (customer_data_percent and
    nova_<category>_percent, strings summing to 100 over the categories); None trains on the file alone.
    """
    problems = refusals(rendered.model, rendered.technique, serverless)
    if problems:
        raise DataError("; ".join(problems), code="SERVERLESS_UNSUPPORTED")
    if not train_uri.startswith("s3://"):
        raise DataError(
            f"the train channel needs an s3:// URI, got {train_uri!r}", code="INVALID_JOB_REQUEST"
        )
    name = job_name(run_id, stage, attempt)
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": settings.role_arn,
        "HyperParameters": dict(forge_hyperparameters or {}),
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "InputMode": "File",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "Converse",
                        "S3Uri": train_uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": settings.output_uri.rstrip("/") + "/"},
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_seconds},
        "ServerlessJobConfig": serverless_job_config(rendered, serverless),
        "ModelPackageConfig": {"ModelPackageGroupArn": serverless.model_package_group_arn},
        "Tags": list(tags or []),
    }
    if settings.kms_key_id:
        request["OutputDataConfig"]["KmsKeyId"] = settings.kms_key_id
    if settings.mlflow_resource_arn:
        # The SDK's serverless runtime sends the same member (aws/nova-forge-sdk,
        # src/amzn_nova_forge/manager/runtime_manager.py, create_params["MlflowConfig"]).
        request[MLFLOW_MEMBER] = mlflow_config(settings, name)
    validate_request("CreateTrainingJob", request)
    return request
