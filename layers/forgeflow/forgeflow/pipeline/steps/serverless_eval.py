"""The serverless evaluation jobs of a serverless run: requests, and where their results are.

A `compute: serverless` run evaluates the suites a serverless `BenchmarkEvaluation` job can run
(`forgeflow.jobs.serverless_eval.SERVERLESS_BENCHMARKS`: MMLU) as serverless jobs, the base model and the
trained model package (DescribeTrainingJob `OutputModelPackageArn` of the serverless training job); the
other suites keep their evaluation recipes. The EvaluationJobs Map creates these jobs with the AWS SDK
integration and polls them (`.sync` does not pass ServerlessJobConfig: connect-sagemaker page), so the
requests carry exactly the members its states pass (a test ties both sets to the ASL).

Such a job asks for `CompressionType: NONE`; its results are the first `results_*.json` under
`<S3OutputPath>/<job>/output/output/` (the SDK's `_show_benchmark_results`, aws/sagemaker-python-sdk
sagemaker-train/src/sagemaker/train/common_utils/show_results_utils.py), in the same
`{"results": {"all": {...}}}` shape as a recipe job's (forgeflow.evaluation.results).
"""

from __future__ import annotations

from forgeflow.evaluation.results import EvalResults, read_results_document
from forgeflow.jobs.requests import JobSettings, job_tags
from forgeflow.jobs.serverless_eval import SERVERLESS_BENCHMARKS, build_serverless_evaluation_request
from forgeflow.pipeline.errors import EvaluationInvalid, RecipeInvalid
from forgeflow.pipeline.request import EvalSuite, ResolvedRun
from forgeflow.pipeline.state import JobRequest
from forgeflow.pipeline.steps.common import reraise_as
from forgeflow.pipeline.steps.jobs import claim_job_name
from forgeflow.pipeline.steps.recipe import serverless_settings
from forgeflow.pipeline.steps.services import Services
from forgeflow.recipes.evaluation import EvalTarget

# The CreateTrainingJob members the Map's ServerlessEvaluationJob state passes (the base model), and
# ServerlessModelPackageEvaluationJob's (the trained model package, named by ModelPackageConfig).
SERVERLESS_EVAL_FIELDS = frozenset(
    {
        "TrainingJobName",
        "RoleArn",
        "HyperParameters",
        "OutputDataConfig",
        "StoppingCondition",
        "ServerlessJobConfig",
        "Tags",
    }
)
SERVERLESS_EVAL_PACKAGE_FIELDS = SERVERLESS_EVAL_FIELDS | {"ModelPackageConfig"}
_RESULTS_FOLDER = "output/output/"


def runs_serverless(suite: EvalSuite) -> bool:
    """Whether a serverless run evaluates this suite with a serverless benchmark job."""
    return suite.value in SERVERLESS_BENCHMARKS


def serverless_eval_job(
    run: ResolvedRun,
    suite: EvalSuite,
    target: EvalTarget,
    *,
    settings: JobSettings,
    model_package_arn: str | None,
    services: Services,
) -> JobRequest:
    """One serverless benchmark evaluation job of the base model or the trained model package."""
    stage = f"eval-{suite.value}-{target}"
    name = claim_job_name(run.run_id, stage, services)
    with reraise_as(RecipeInvalid):
        request = build_serverless_evaluation_request(
            model=run.model,
            suite=suite.value,
            target=target,
            run_id=run.run_id,
            settings=settings,
            serverless=serverless_settings(services.settings),
            model_package_arn=model_package_arn,
            attempt=int(name.rsplit("-", 1)[1]),
            tags=job_tags(settings, run.run_id, stage, run.dataset_uri),
        )
    expected = SERVERLESS_EVAL_PACKAGE_FIELDS if target == "trained" else SERVERLESS_EVAL_FIELDS
    extra = sorted(set(request) ^ expected)
    if extra:
        raise RecipeInvalid(
            f"the serverless evaluation request differs from what the state machine passes: {extra}"
        )
    return JobRequest(stage=stage, job_name=name, request=request, suite=suite.value, target=target)


def results_folder(output_uri: str, job_name: str) -> str:
    """Where a serverless evaluation job's uncompressed outputs are."""
    return f"{output_uri.rstrip('/')}/{job_name}/{_RESULTS_FOLDER}"


def read_serverless_results(folder: str, services: Services) -> EvalResults:
    """The metrics of a serverless evaluation job: the first `results_*.json` under its results folder
    (in the order S3 lists keys, which is how the SDK picks it)."""
    with reraise_as(EvaluationInvalid, missing=f"the evaluation job left no output under {folder}"):
        uris = services.storage.list_under(folder)
    found = [uri for uri in uris if _is_results_name(uri.rsplit("/", 1)[-1])]
    if not found:
        raise EvaluationInvalid(
            f"{folder} holds no results_*.json",
            hint="a serverless benchmark evaluation writes <out>/<job>/output/output/<run>/eval_results/",
        )
    with reraise_as(EvaluationInvalid, missing=f"cannot read {found[0]}"):
        data = services.storage.read_bytes(found[0])
    with reraise_as(EvaluationInvalid):
        return read_results_document(data, found[0])


def _is_results_name(name: str) -> bool:
    return name.startswith("results_") and name.endswith(".json")
