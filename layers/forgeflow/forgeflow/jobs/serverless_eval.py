"""Serverless evaluation requests (`ServerlessJobConfig.JobType: Evaluation`), without the SDK.

The shape is what the SageMaker Python SDK v3 sends for a benchmark evaluation (aws/sagemaker-python-sdk,
sagemaker-train/src/sagemaker/train/evaluate/pipeline_templates.py, DETERMINISTIC_TEMPLATE, steps
EvaluateBaseModel / EvaluateCustomModel): `EvaluationType: BenchmarkEvaluation`, string hyperparameters
`task` / `strategy` / `metric`, `ModelPackageConfig.SourceModelPackageArn` naming the fine-tuned model
package when the trained model is evaluated, output uncompressed, and no input channel: "Standard
benchmarks do not use a custom dataset" (benchmark_evaluator.py), so the template adds InputDataConfig only
for a dataset. MMLU is the built-in benchmark ForgeFlow runs this way; gen_qa (bring-your-own data) keeps
its evaluation recipe. Shapes and enums: botocore's SageMaker service model.
"""

from __future__ import annotations

from typing import Any, Literal

from forgeflow.errors import DataError
from forgeflow.jobs.requests import JobSettings, job_name
from forgeflow.jobs.serverless import ServerlessSettings
from forgeflow.jobs.validate import validate_request
from forgeflow.nova import NovaModel
from forgeflow.recipes.tables import table

# The suites a serverless BenchmarkEvaluation runs (the SDK's benchmark evaluator's built-in tasks).
SERVERLESS_BENCHMARKS = ("mmlu",)


def benchmark_hyperparameters(suite: str, model: NovaModel) -> dict[str, str]:
    """task / strategy / metric of the suite, from the same data file its evaluation recipe uses."""
    if suite not in SERVERLESS_BENCHMARKS:
        raise DataError(
            f"suite {suite!r} has no serverless benchmark evaluation: "
            f"only {', '.join(SERVERLESS_BENCHMARKS)}",
            code="SERVERLESS_UNSUPPORTED",
            hint="gen_qa runs as an evaluation recipe job",
        )
    evaluation = table(f"eval/{suite}_{model.generation}.yaml")["evaluation"]
    return {key: str(evaluation[key]) for key in ("task", "strategy", "metric")}


def build_serverless_evaluation_request(
    *,
    model: NovaModel,
    suite: str,
    target: Literal["base", "trained"],
    run_id: str,
    settings: JobSettings,
    serverless: ServerlessSettings,
    model_package_arn: str | None = None,
    attempt: int = 1,
    tags: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A validated serverless evaluation request of the base model or the trained model package."""
    hyperparameters = benchmark_hyperparameters(suite, model)
    if target == "trained" and not model_package_arn:
        raise DataError(
            "evaluating the trained model serverless needs its model package ARN "
            "(DescribeTrainingJob OutputModelPackageArn)",
            code="INVALID_JOB_REQUEST",
        )
    base_arn = serverless.base_model_arns.get(model)
    if not base_arn:
        raise DataError(
            f"no base-model ARN is configured for model {model.value}", code="SERVERLESS_UNSUPPORTED"
        )
    output: dict[str, Any] = {
        "S3OutputPath": settings.output_uri.rstrip("/") + "/",
        "CompressionType": "NONE",
    }
    if settings.kms_key_id:
        output["KmsKeyId"] = settings.kms_key_id
    request: dict[str, Any] = {
        "TrainingJobName": job_name(run_id, f"eval-{suite}-{target}", attempt),
        "RoleArn": settings.role_arn,
        "HyperParameters": hyperparameters,
        "OutputDataConfig": output,
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_seconds},
        "ServerlessJobConfig": {
            "BaseModelArn": base_arn,
            "AcceptEula": serverless.accept_eula,
            "JobType": "Evaluation",
            "EvaluationType": "BenchmarkEvaluation",
        },
        "Tags": list(tags or []),
    }
    if target == "trained":
        request["ModelPackageConfig"] = {
            "ModelPackageGroupArn": serverless.model_package_group_arn,
            "SourceModelPackageArn": model_package_arn,
        }
    validate_request("CreateTrainingJob", request)
    return request
