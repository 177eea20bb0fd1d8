"""The full training job of a serverless run: a `ServerlessJobConfig` request, run by a poll loop.

The optimized `sagemaker:createTrainingJob.sync` integration passes only the parameters it lists, and
ServerlessJobConfig/ModelPackageConfig are not among them (Step Functions developer guide,
"Create and manage Amazon SageMaker AI jobs with Step Functions", connect-sagemaker). So the state machine
creates serverless jobs with the AWS SDK integration `aws-sdk:sagemaker:createTrainingJob` and polls
`describeTrainingJob` (statemachine/pipeline.asl.json, ServerlessTrainingJob; docs/pipeline.md).
"""

from __future__ import annotations

from typing import Any

import orjson

from forgeflow.jobs.requests import MLFLOW_MEMBER, JobSettings, job_tags
from forgeflow.jobs.serverless import build_serverless_training_request
from forgeflow.pipeline.errors import RecipeInvalid
from forgeflow.pipeline.request import ResolvedRun
from forgeflow.pipeline.state import StartJobInput
from forgeflow.pipeline.steps.common import reraise_as
from forgeflow.pipeline.steps.recipe import serverless_settings
from forgeflow.pipeline.steps.services import Services
from forgeflow.recipes.render import RenderedRecipe

# The CreateTrainingJob members the ServerlessTrainingJob state passes (a test ties them to the ASL);
# TrackedServerlessTrainingJob passes MLFLOW_MEMBER too.
SERVERLESS_FIELDS = frozenset(
    {
        "TrainingJobName",
        "RoleArn",
        "HyperParameters",
        "InputDataConfig",
        "OutputDataConfig",
        "StoppingCondition",
        "ServerlessJobConfig",
        "ModelPackageConfig",
        "Tags",
    }
)
TRACKED_SERVERLESS_FIELDS = SERVERLESS_FIELDS | {MLFLOW_MEMBER}


def forge_hyperparameters(report_uri: str, services: Services) -> dict[str, str] | None:
    """The mix report's Forge hyperparameters (Amazon mixes the Nova share in); None without Forge."""
    report = orjson.loads(services.storage.read_bytes(report_uri))
    forge = report.get("forge") if isinstance(report, dict) else None
    if not isinstance(forge, dict):
        return None
    return {str(key): str(value) for key, value in forge["hyperparameters"].items()}


def serverless_training_request(
    run: ResolvedRun,
    payload: StartJobInput,
    rendered: RenderedRecipe,
    *,
    settings: JobSettings,
    name: str,
    services: Services,
) -> dict[str, Any]:
    """The full training job's serverless request, with exactly the members the state machine passes."""
    assert payload.mix is not None
    if payload.stage != "train":
        raise RecipeInvalid(
            f"a serverless run has no {payload.stage} job (its smoke stage is skipped)",
            hint="compute: serverful runs a smoke job first",
        )
    with reraise_as(RecipeInvalid):
        request = build_serverless_training_request(
            rendered,
            run_id=run.run_id,
            stage="train",
            train_uri=payload.mix.train_uri,
            settings=settings,
            serverless=serverless_settings(services.settings),
            forge_hyperparameters=forge_hyperparameters(payload.mix.report_uri, services),
            attempt=int(name.rsplit("-", 1)[1]),
            tags=job_tags(settings, run.run_id, "train", run.dataset_uri),
        )
    extra = sorted((set(request) - {MLFLOW_MEMBER}) ^ SERVERLESS_FIELDS)
    if extra:
        raise RecipeInvalid(f"the serverless job request differs from what the state machine passes: {extra}")
    return request
