"""An emulated SageMaker training-job service: lifecycle, request checks, outputs, failure injection.

moto accepts CreateTrainingJob but reports every job `Completed` at once, has no StopTrainingJob, and
writes nothing. This emulator gives the pipeline what the real service would, in three parts:

- `lifecycle`: the API (Create/Describe/Stop/List), the status progression Starting → Downloading →
  Training → Uploading → Completed / Failed / Stopped, and failure injection (`jobs.FailureInjection`);
- `checks`: requests validated against botocore's CreateTrainingJob model and, when the job "downloads"
  its inputs, channels that must exist in S3 and a recipe that must parse and match the data channels,
  else the job fails with a `ClientError:` reason as SageMaker's would;
- `outputs`: what a completed job writes under `<S3OutputPath>/<job>/output/` (model.tar.gz,
  output.tar.gz, the manifest naming an emulated escrow checkpoint, or an evaluation's results; a
  serverless evaluation's uncompressed under `output/output/`); a completed serverless fine-tuning job
  also registers an emulated model package (`OutputModelPackageArn`);
- `evaluation`: no model runs, so no benchmark is scored; a gen_qa job measures a transparent
  retrieval stand-in instead and any other task says it was `not_measured`.

Everything it writes says "emulated". The names other modules use are importable from here.
"""

from forgeflow_tools.local.sagemaker.jobs import (
    EMULATED_NOTE,
    STAGES,
    EmulatedApiError,
    EmulatedJob,
    FailureInjection,
    job_stage,
)
from forgeflow_tools.local.sagemaker.lifecycle import TrainingJobEmulator

__all__ = [
    "EMULATED_NOTE",
    "STAGES",
    "EmulatedApiError",
    "EmulatedJob",
    "FailureInjection",
    "TrainingJobEmulator",
    "job_stage",
]
