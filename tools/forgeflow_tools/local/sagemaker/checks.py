"""What SageMaker rejects: a CreateTrainingJob request it would refuse, and the inputs a job would fail on
while downloading them (missing channels, a recipe that does not parse or does not match the data)."""

from __future__ import annotations

import re
from typing import Any

import orjson
import yaml

from forgeflow_tools.local.sagemaker.jobs import EmulatedApiError, EmulatedJob
from forgeflow_tools.local.sagemaker.s3 import S3Objects

_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_RECIPE_CONTAINER_DIR = "/opt/ml/input/data/recipe/"


def validate_request(request: dict[str, Any]) -> None:
    """Raise the ValidationException SageMaker would answer a malformed request with."""
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
    if "ServerlessJobConfig" in request:
        problem = serverless_problem(request)
        if problem:
            raise EmulatedApiError("ValidationException", f"{problem} (emulated check)")
    if "MlflowConfig" in request:
        problem = mlflow_problem(request["MlflowConfig"], shape.members["MlflowConfig"])
        if problem:
            raise EmulatedApiError("ValidationException", f"{problem} (emulated check)")


def mlflow_problem(config: dict[str, Any], shape: Any) -> str | None:
    """What the service checks in `MlflowConfig` beyond botocore's client-side validator (required members,
    types, minimum lengths): each member's maximum length and pattern in botocore's SageMaker model
    (MlflowResourceArn `arn:aws[a-z\\-]*:sagemaker:...:mlflow-[a-zA-Z-]*/.*`, names 1 to 256 characters)."""
    for name, member in shape.members.items():
        value = config.get(name)
        if not isinstance(value, str):
            continue
        limit = member.metadata.get("max")
        if limit is not None and len(value) > limit:
            return f"MlflowConfig.{name} is {len(value)} characters long, at most {limit} allowed"
        pattern = member.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value, re.DOTALL):
            return f"MlflowConfig.{name} {value!r} does not match the pattern {pattern}"
    return None


def serverless_problem(request: dict[str, Any]) -> str | None:
    """A serverless request outside the combinations its sources document (None when it is one).

    botocore's ServerlessJobConfig: AcceptEula "must be explicitly defined as True"; Peft and
    CustomizationTechnique are fine-tuning settings, EvaluationType an evaluation's. The SDK's serverless
    trainers send neither ResourceConfig nor AlgorithmSpecification (SageMaker picks image and hardware),
    fine-tuning jobs always with ModelPackageConfig; Forge mixing (`customer_data_percent`) is SFT only
    (nova-forge-sft-datamix-smtj).
    """
    config = request["ServerlessJobConfig"]
    fine_tuning = config["JobType"] == "FineTuning"
    problems = {
        "ServerlessJobConfig.AcceptEula must be true": config.get("AcceptEula") is not True,
        "a serverless job takes no ResourceConfig or AlgorithmSpecification": bool(
            {"ResourceConfig", "AlgorithmSpecification"} & set(request)
        ),
        "a FineTuning job needs CustomizationTechnique": fine_tuning
        and "CustomizationTechnique" not in config,
        "a FineTuning job needs ModelPackageConfig": fine_tuning and "ModelPackageConfig" not in request,
        "EvaluationType is for Evaluation jobs only": fine_tuning and "EvaluationType" in config,
        "an Evaluation job needs EvaluationType": not fine_tuning and "EvaluationType" not in config,
        "Peft and CustomizationTechnique are for FineTuning jobs only": not fine_tuning
        and bool({"Peft", "CustomizationTechnique"} & set(config)),
        "Forge data mixing (customer_data_percent) is SFT only": "customer_data_percent"
        in request.get("HyperParameters", {})
        and config.get("CustomizationTechnique") != "SFT",
    }
    return next((message for message, broken in problems.items() if broken), None)


def check_inputs(objects: S3Objects, job: EmulatedJob) -> str | None:
    """What SageMaker would fail the job for while downloading its inputs (None when all is well)."""
    if "ServerlessJobConfig" in job.request:
        return _check_serverless_inputs(objects, job)
    channels: dict[str, str] = {}
    for channel in job.request.get("InputDataConfig", []):
        source = channel.get("DataSource", {}).get("S3DataSource")
        if source is None:
            continue
        uri = str(source["S3Uri"])
        channels[str(channel["ChannelName"])] = uri
        if not objects.exists(uri):
            name = channel["ChannelName"]
            return f"Data download failed: no S3 objects found under {uri} (channel {name})"
    recipe = load_recipe(objects, job, channels)
    if isinstance(recipe, str):
        return recipe
    return _recipe_matches_channels(objects, job, recipe, channels)


def _check_serverless_inputs(objects: S3Objects, job: EmulatedJob) -> str | None:
    """A serverless job has no recipe: a fine-tuning job's `train` channel must hold Converse records; a
    benchmark evaluation reads its built-in benchmark (the SDK sends it no channel:
    benchmark_evaluator.py), and any channel it has must exist."""
    if job.serverless_job_type == "Evaluation":
        missing = [uri for uri in job.channels.values() if not objects.exists(uri)]
        return f"Data download failed: no S3 objects found under {missing[0]}" if missing else None
    channels = {
        str(c["ChannelName"]): c["DataSource"]["S3DataSource"]
        for c in job.request.get("InputDataConfig", [])
        if "S3DataSource" in c.get("DataSource", {})
    }
    if "train" not in channels:
        return "a serverless fine-tuning job needs a 'train' input channel"
    source = channels["train"]
    if source.get("S3DataType") != "Converse":
        kind = source.get("S3DataType")
        return f"the train channel's S3DataType is {kind!r}: a serverless job reads 'Converse'"
    uri = str(source["S3Uri"])
    if not objects.exists(uri):
        return f"Data download failed: no S3 objects found under {uri} (channel train)"
    return _check_jsonl(objects, uri, "train", dpo=False)


def load_recipe(objects: S3Objects, job: EmulatedJob, channels: dict[str, str]) -> dict[str, Any] | str:
    """The job's recipe, from its `recipe` channel and `sagemaker_recipe_local_path`, or why it has none."""
    if "recipe" not in channels:
        return "the request has no 'recipe' input channel: a Nova job needs its recipe"
    local_path = str(job.request.get("HyperParameters", {}).get("sagemaker_recipe_local_path", ""))
    uri = channels["recipe"]
    if not uri.endswith((".yaml", ".yml")):
        if local_path.startswith(_RECIPE_CONTAINER_DIR):
            uri = f"{uri.rstrip('/')}/{local_path[len(_RECIPE_CONTAINER_DIR) :]}"
        else:
            found = objects.first_key(uri, ".yaml")
            if found is None:
                return f"the recipe channel {uri} holds no .yaml recipe"
            uri = found
    if not objects.exists(uri):
        return f"the recipe {uri} named by sagemaker_recipe_local_path={local_path!r} does not exist"
    try:
        recipe = yaml.safe_load(objects.read(uri))
    except yaml.YAMLError as error:
        return f"the recipe {uri} is not valid YAML: {error}"
    if not isinstance(recipe, dict) or not isinstance(recipe.get("run"), dict):
        return f"the recipe {uri} has no 'run' section"
    return recipe


def _recipe_matches_channels(
    objects: S3Objects, job: EmulatedJob, recipe: dict[str, Any], channels: dict[str, str]
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
            if objects.first_key(channels["train"], "gen_qa.jsonl") is None:
                return f"the gen_qa evaluation channel {channels['train']} holds no gen_qa.jsonl"
        return None
    if "training_config" not in recipe:
        return "the recipe has neither training_config nor evaluation"
    if "train" not in channels:
        return "a training recipe needs a 'train' input channel"
    for name in ("train", "validation"):
        if name in channels:
            problem = _check_jsonl(objects, channels[name], name, dpo="dpo_cfg" in str(recipe))
            if problem:
                return problem
    return None


def _check_jsonl(objects: S3Objects, uri: str, channel: str, *, dpo: bool) -> str | None:
    target = uri if uri.endswith(".jsonl") else objects.first_key(uri, ".jsonl")
    if target is None:
        return f"channel {channel} ({uri}) holds no .jsonl file"
    head = objects.read(target).split(b"\n", 1)[0]
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
