"""CreateTrainingJob requests for Nova recipes (smoke, full, evaluation), without the SageMaker SDK.

The request is what the SageMaker Python SDK sends for a Nova recipe (shared/reference/nova-recipes.md
§2.1): hyperparameters `model_type`, `base_model` (or `base_model_location` for an s3:// checkpoint) and
`sagemaker_recipe_local_path`; the resolved recipe uploaded to S3 and mounted as the reserved `recipe`
channel; `train` / `validation` channels with `S3DataType: Converse` (the installed botocore knows the value);
profiler off; output, TensorBoard, stopping condition, tags, and optional VPC / KMS / checkpoint / MLflow
settings. Every request is validated against botocore's service model before it is returned.
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forgeflow.errors import DataError
from forgeflow.jobs.validate import validate_request
from forgeflow.nova import NovaModel
from forgeflow.recipes.config import DEFAULT_MAX_RUNTIME_SECONDS, MAX_RUNTIME_LIMIT_SECONDS
from forgeflow.recipes.evaluation import RenderedEvalRecipe
from forgeflow.recipes.render import RenderedRecipe
from forgeflow.recipes.tables import load_data

RECIPE_CHANNEL = "recipe"
RECIPE_MOUNT = "/opt/ml/input/data/recipe"
JOB_NAME_PREFIX = "forgeflow-"
# The stages a job name may carry: smoke and full training, and one evaluation per suite × target.
_STAGE = re.compile(r"smoke|train|eval-(mmlu|genqa|general)-(base|trained)")
_NAME_SAFE = re.compile(r"[^a-zA-Z0-9]+")
_TAG_UNSAFE = re.compile(r"[^\w\s.:/=+\-@]")
# The member a tracked job's request adds (JobSettings.mlflow_resource_arn set); the state machine passes
# it through the Tracked* twins of SmokeJob, TrainingJob and ServerlessTrainingJob only.
MLFLOW_MEMBER = "MlflowConfig"


class VpcSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subnets: list[str] = Field(min_length=1, max_length=16)
    security_group_ids: list[str] = Field(min_length=1, max_length=5)


class JobSettings(BaseModel):
    """Stack settings every job request needs (from the handler's environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role_arn: str
    # s3:// prefix under which SageMaker writes <job name>/output/…
    output_uri: str
    region: str = "us-east-1"
    kms_key_id: str | None = None
    vpc: VpcSettings | None = None
    max_runtime_seconds: int = Field(default=DEFAULT_MAX_RUNTIME_SECONDS, ge=1, le=MAX_RUNTIME_LIMIT_SECONDS)
    tags: dict[str, str] = Field(default_factory=dict)
    volume_size_gb: int = Field(default=30, ge=1)
    # Image overrides (e.g. the hub's SmtjImageUri); None: the table in jobs/data/images.yaml.
    image_uri: str | None = None
    eval_image_uri: str | None = None
    # Optional CheckpointConfig prefix (Nova writes its checkpoints to the escrow bucket regardless).
    checkpoint_uri: str | None = None
    # MLflow tracking server (SageMaker managed MLflow ARN); None: no MlflowConfig.
    mlflow_resource_arn: str | None = None
    mlflow_experiment_name: str = "forgeflow"
    tensorboard: bool = True
    # Evaluation hardware; None: the model's default from jobs/data/eval_instances.yaml.
    eval_instance_type: str | None = None

    @field_validator("kms_key_id", "image_uri", "eval_image_uri", "checkpoint_uri", "mlflow_resource_arn")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        # CloudFormation parameters arrive as "" when unset.
        return value or None

    @field_validator("output_uri", "checkpoint_uri")
    @classmethod
    def _s3(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("s3://"):
            raise ValueError(f"must be an s3:// URI, got {value!r}")
        return value


def job_name(run_id: str, stage: str, attempt: int = 1) -> str:
    """`forgeflow-<run id>-<stage>-<attempt>`: ≤ 63 characters, `[a-zA-Z0-9](-*[a-zA-Z0-9])*`.

    Deterministic, so a retried start finds its own job (ResourceInUse → already started). When the run id
    must be shortened or has characters a job name cannot carry, a hash of the whole run id keeps names of
    different runs apart.
    """
    if not _STAGE.fullmatch(stage):
        raise DataError(
            f"job stage {stage!r} is not one of smoke, train, eval-(mmlu|genqa|general)-(base|trained)",
            code="INVALID_JOB_NAME",
        )
    if not 1 <= attempt <= 9999:
        raise DataError(f"job attempt must be in [1, 9999], got {attempt}", code="INVALID_JOB_NAME")
    if not run_id:
        raise DataError("a job name needs a run id", code="INVALID_JOB_NAME")
    clean = _NAME_SAFE.sub("-", run_id).strip("-")
    suffix = f"-{stage}-{attempt}"
    room = 63 - len(JOB_NAME_PREFIX) - len(suffix)
    if clean == run_id and len(clean) <= room:
        return f"{JOB_NAME_PREFIX}{clean}{suffix}"
    # "--" never occurs in a run id used verbatim (runs of non-alphanumerics collapse to one "-"), so a
    # hashed name can never equal a verbatim one.
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    head = clean[: room - len(digest) - 2].rstrip("-")
    body = f"{head}--{digest}" if head else digest
    return f"{JOB_NAME_PREFIX}{body}{suffix}"


def rename_request(request: dict[str, Any], name: str) -> dict[str, Any]:
    """The same request under a new job name (a new attempt): every member derived from the name follows."""
    old = str(request["TrainingJobName"])
    renamed = copy.deepcopy(request)
    renamed["TrainingJobName"] = name
    tensorboard = renamed.get("TensorBoardOutputConfig")
    if tensorboard:
        tensorboard["S3OutputPath"] = str(tensorboard["S3OutputPath"]).replace(f"/{old}/", f"/{name}/")
    checkpoint = renamed.get("CheckpointConfig")
    if checkpoint:
        checkpoint["S3Uri"] = str(checkpoint["S3Uri"]).replace(f"/{old}/", f"/{name}/")
    if MLFLOW_MEMBER in renamed:
        renamed[MLFLOW_MEMBER]["MlflowRunName"] = name
    return renamed


def image_uri(kind: str, region: str) -> str:
    """The SMTJ image for a job kind (`sft-1`, `sft-2`, `dpo-1`, `eval`) in a region."""
    images = load_data("images.yaml", "forgeflow.jobs")
    account = images["accounts"].get(region)
    if account is None:
        raise DataError(
            f"no Nova training image is published for region {region}: use one of "
            f"{', '.join(sorted(images['accounts']))}, or set image_uri in the job settings",
            code="UNSUPPORTED_REGION",
        )
    repository = images["repositories"][kind]
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"


def takes_validation_channel(model: NovaModel) -> bool:
    """Whether a training job for the model gets the `validation` channel: Nova 1.0 yes, Nova 2.0 no.

    Nova 2.0 SFT takes no validation set: "Providing a validation set might be supported through the UI
    but will not be supported during SFT training" (Amazon Bedrock UG, "Supervised fine-tuning on Amazon
    Nova 2.0", current limitations). The HPR recipes nova_lite_2_0_p5_gpu_{lora_,}sft.yaml do carry an
    optional `run.validation_data_s3_path`, but it is a HyperPod run field (refused as an override, see
    recipes/data/bounds.yaml `fixed`). So the channel is dropped for Nova 2.0; the held-out split still
    feeds the gen_qa evaluation.
    """
    return model.generation == 1


def _training_image_kind(rendered: RenderedRecipe) -> str:
    return f"{rendered.technique.method.value}-{rendered.generation}"


def recipe_location(recipe_uri: str) -> tuple[str, str]:
    """(S3 prefix of the recipe channel, file name): a folder URI (ending in /) holds `recipe.yaml`."""
    if not recipe_uri.startswith("s3://"):
        raise DataError(f"recipe_uri must be an s3:// URI, got {recipe_uri!r}", code="INVALID_JOB_REQUEST")
    if recipe_uri.endswith("/"):
        return recipe_uri, "recipe.yaml"
    folder, _, name = recipe_uri.rpartition("/")
    if not name.endswith((".yaml", ".yml")):
        raise DataError(
            f"recipe_uri must be a folder (ending in /) or a .yaml file, got {recipe_uri!r}",
            code="INVALID_JOB_REQUEST",
        )
    return folder + "/", name


def _tag_value(value: str) -> str:
    return _TAG_UNSAFE.sub("_", value)[:256]


def job_tags(settings: JobSettings, run_id: str, stage: str, dataset: str | None) -> list[dict[str, str]]:
    tags = {key[:128]: _tag_value(value) for key, value in settings.tags.items()}
    tags["forgeflow:run-id"] = _tag_value(run_id)
    tags["forgeflow:stage"] = stage
    if dataset:
        tags["forgeflow:dataset"] = _tag_value(dataset)
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _hyperparameters(model_type: str, model_name_or_path: str, recipe_file: str) -> dict[str, str]:
    # The SDK's Nova encoding: strings raw. An s3:// model path is a checkpoint: `base_model_location`.
    location_key = "base_model_location" if model_name_or_path.startswith("s3://") else "base_model"
    return {
        "model_type": model_type,
        location_key: model_name_or_path,
        "sagemaker_recipe_local_path": f"{RECIPE_MOUNT}/{recipe_file}",
    }


def _s3_channel(name: str, uri: str, data_type: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "InputMode": "File",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": data_type,
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def _common(
    settings: JobSettings,
    *,
    name: str,
    image: str,
    hyperparameters: dict[str, str],
    channels: list[dict[str, Any]],
    instance_type: str,
    instance_count: int,
    tags: list[dict[str, str]],
) -> dict[str, Any]:
    output = settings.output_uri.rstrip("/") + "/"
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": settings.role_arn,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": hyperparameters,
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": output},
        # No VolumeKmsKeyId: p4d/p5/g5/g6 use instance storage, for which SageMaker rejects volume keys.
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": instance_count,
            "VolumeSizeInGB": settings.volume_size_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_seconds},
        "ProfilerConfig": {"DisableProfiler": True},
        "Tags": tags,
    }
    if settings.kms_key_id:
        request["OutputDataConfig"]["KmsKeyId"] = settings.kms_key_id
    if settings.tensorboard:
        request["TensorBoardOutputConfig"] = {"S3OutputPath": f"{output}{name}/tensorboard/"}
    if settings.vpc is not None:
        request["VpcConfig"] = {
            "SecurityGroupIds": list(settings.vpc.security_group_ids),
            "Subnets": list(settings.vpc.subnets),
        }
        request["EnableInterContainerTrafficEncryption"] = True
    if settings.checkpoint_uri:
        request["CheckpointConfig"] = {"S3Uri": f"{settings.checkpoint_uri.rstrip('/')}/{name}/"}
    if settings.mlflow_resource_arn:
        request[MLFLOW_MEMBER] = mlflow_config(settings, name)
    return request


def mlflow_config(settings: JobSettings, name: str) -> dict[str, str]:
    """CreateTrainingJob's `MlflowConfig` (botocore: MlflowResourceArn required; experiment and run name
    optional): the job logs to the tracking server as the run named after the job. On training jobs this
    is the route, not the recipe's `run.mlflow_tracking_uri`, which AWS documents for HyperPod only
    (shared/reference/nova-recipes.md §1.5; aws/nova-forge-sdk src/amzn_nova_forge/core/types.py: "SMTJ
    support for mlflow is only through boto3")."""
    assert settings.mlflow_resource_arn is not None
    return {
        "MlflowResourceArn": settings.mlflow_resource_arn,
        "MlflowExperimentName": settings.mlflow_experiment_name,
        "MlflowRunName": name,
    }


def build_training_job_request(
    rendered: RenderedRecipe,
    *,
    run_id: str,
    stage: Literal["smoke", "train"],
    channels: dict[str, str | None],
    recipe_uri: str,
    settings: JobSettings,
    attempt: int = 1,
    dataset: str | None = None,
) -> dict[str, Any]:
    """A complete, validated CreateTrainingJob request for the smoke or the full training job.

    `recipe_uri`: where `rendered.to_yaml()` was uploaded (a folder ending in / holding recipe.yaml, or the
    .yaml file). `channels`: {"train": uri, "validation": uri or None}; Nova 2.0 gets no validation
    channel (`takes_validation_channel`). For stage "smoke" pass the smoke
    variant (`forgeflow.jobs.smoke.smoke_recipe`) — and on Nova 1.0 the smoke subset as `train`.
    """
    if stage not in ("smoke", "train"):
        raise DataError(f"training stage must be smoke or train, got {stage!r}", code="INVALID_JOB_REQUEST")
    if (stage == "smoke") != rendered.smoke:
        expected = "the smoke variant (forgeflow.jobs.smoke.smoke_recipe)" if stage == "smoke" else "the full"
        raise DataError(
            f"stage {stage!r} needs {expected} recipe", code="INVALID_JOB_REQUEST", hint="see docs/recipes.md"
        )
    unknown = sorted(set(channels) - {"train", "validation"})
    if unknown:
        raise DataError(
            f"unknown data {'channel' if len(unknown) == 1 else 'channels'} {', '.join(unknown)}: "
            "Nova jobs read exactly 'train' and 'validation'",
            code="INVALID_JOB_REQUEST",
        )
    train = channels.get("train")
    if not train:
        raise DataError("the train channel needs an s3:// URI", code="INVALID_JOB_REQUEST")
    prefix, recipe_file = recipe_location(recipe_uri)
    inputs = [_s3_channel("train", train, "Converse")]
    validation = channels.get("validation")
    if validation and takes_validation_channel(rendered.model):
        inputs.append(_s3_channel("validation", validation, "Converse"))
    inputs.append(_s3_channel(RECIPE_CHANNEL, prefix, "S3Prefix"))
    name = job_name(run_id, stage, attempt)
    request = _common(
        settings,
        name=name,
        image=settings.image_uri or image_uri(_training_image_kind(rendered), settings.region),
        hyperparameters=_hyperparameters(rendered.model_type, rendered.model_name_or_path, recipe_file),
        channels=inputs,
        instance_type=rendered.instance_type,
        instance_count=rendered.replicas,
        tags=job_tags(settings, run_id, stage, dataset),
    )
    validate_request("CreateTrainingJob", request)
    return request


def eval_instance(model: NovaModel, settings: JobSettings) -> str:
    """The evaluation instance type: the settings' choice if allowed for the model, else the default."""
    rules = load_data("eval_instances.yaml", "forgeflow.jobs")["models"][model.value]
    chosen = settings.eval_instance_type or rules["default"]
    if chosen not in rules["allowed"]:
        raise DataError(
            f"eval_instance_type {chosen} is not allowed for evaluating Nova {model.value}: "
            f"allowed {', '.join(rules['allowed'])}",
            code="INVALID_JOB_REQUEST",
        )
    return str(chosen)


def build_eval_job_request(
    rendered: RenderedEvalRecipe,
    *,
    run_id: str,
    settings: JobSettings,
    recipe_uri: str,
    data_uri: str | None = None,
    attempt: int = 1,
    dataset: str | None = None,
    stage: str | None = None,
) -> dict[str, Any]:
    """A complete, validated CreateTrainingJob request for one Nova evaluation job.

    `rendered` comes from `forgeflow.recipes.evaluation.render_eval_recipe` (suite, base model or trained
    checkpoint); `recipe_uri` is where its YAML was uploaded; `data_uri` is the S3 folder holding
    `gen_qa.jsonl` (required for gen_qa, not used by mmlu); `stage` names the job when the suite is not
    the recipe's (the `general` suite runs a gen_qa recipe: eval-general-base).
    """
    if rendered.suite == "gen_qa":
        if not data_uri:
            raise DataError(
                "the gen_qa evaluation needs data_uri: the S3 folder holding gen_qa.jsonl",
                code="INVALID_JOB_REQUEST",
            )
        data_prefix = data_uri if data_uri.endswith("/") else data_uri.rpartition("/")[0] + "/"
        if not data_uri.endswith("/") and not data_uri.endswith("/gen_qa.jsonl"):
            raise DataError(
                f"data_uri must be a folder (ending in /) or the gen_qa.jsonl file, got {data_uri!r}",
                code="INVALID_JOB_REQUEST",
            )
    elif data_uri:
        raise DataError(f"the {rendered.suite} benchmark takes no data_uri", code="INVALID_JOB_REQUEST")
    prefix, recipe_file = recipe_location(recipe_uri)
    # BYOD: a `train` channel of type S3Prefix pointing at the folder with gen_qa.jsonl (AWS eval sample).
    inputs = [_s3_channel("train", data_prefix, "S3Prefix")] if rendered.suite == "gen_qa" else []
    inputs.append(_s3_channel(RECIPE_CHANNEL, prefix, "S3Prefix"))
    stage = stage or rendered.stage
    name = job_name(run_id, stage, attempt)
    request = _common(
        settings,
        name=name,
        image=settings.eval_image_uri or image_uri("eval", settings.region),
        hyperparameters=_hyperparameters(rendered.model_type, rendered.model_name_or_path, recipe_file),
        channels=inputs,
        instance_type=eval_instance(rendered.model, settings),
        instance_count=int(rendered.recipe["run"]["replicas"]),
        tags=job_tags(settings, run_id, stage, dataset),
    )
    validate_request("CreateTrainingJob", request)
    return request
