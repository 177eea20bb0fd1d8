"""The pipeline's use cases, one module per stage; each Lambda handler calls exactly one function here.

| module        | handlers                                   |
|---------------|--------------------------------------------|
| `register`    | RegisterRun                                |
| `validate`    | ValidateDataset                            |
| `mix`         | MixData                                    |
| `recipe`      | RenderRecipe (and the training config every later stage reuses) |
| `jobs`        | BuildTrainingJob, NextJobAttempt           |
| `evaluation`  | BuildEvaluationJobs, CollectEvaluation     |
| `outcome`     | StopJobs, StopOrphanedJobs, PublishResult  |
| `approval`    | RequestApproval (AwaitApproval's token)    |
| `rerun`       | (RegisterRun) who owns an existing run row |

Shared: `services.Services` (the ports a step may use) and `common` (loading the run, error naming).
A handler imports only its own stage's module, so it loads only the domain code that stage needs.
Outputs are the small pointer documents of `forgeflow.pipeline.state`; everything large (reports, recipes,
data) goes to S3 under `runs/<run_id>/`.
"""

from forgeflow.pipeline.steps.services import Services

__all__ = ["Services"]
