"""What a completed job leaves where SageMaker leaves it, under `<S3OutputPath>/<job>/output/`.

`model.tar.gz` and, for training jobs, `output.tar.gz` hold the `manifest.json` that names the emulated
escrow checkpoint (a serverless job's is not archived: `output/output/manifest.json`). For evaluation
jobs `output.tar.gz` holds `<run name>/eval_results/results_<timestamp>.json` in the Nova shape (and
gen_qa's `eval_results/inference_output.jsonl`). A serverless evaluation job asks for
`CompressionType: NONE`, so its files are not archived:
`output/output/None/eval_results/results_<timestamp>.json`, where the SageMaker SDK looks for them
(aws/sagemaker-python-sdk, sagemaker-train/src/sagemaker/train/common_utils/show_results_utils.py: the
first `results_*.json` under `<out>/<job>/output/output/`). Every archive and folder says "emulated".
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping

import orjson

from forgeflow_tools.local.sagemaker.evaluation import EvaluationTask, evaluation_task
from forgeflow_tools.local.sagemaker.jobs import EMULATED_NOTE, EmulatedJob, utc_now
from forgeflow_tools.local.sagemaker.s3 import S3Objects


def write_outputs(
    objects: S3Objects, job: EmulatedJob, checkpoint_uri: str, bad_results: str | None = None
) -> None:
    """Upload the job's archives; an evaluation job must have been measured first (`job.evaluation`).
    `bad_results` (FailureInjection) writes a malformed results file, or none."""
    manifest = {
        "checkpoint_s3_bucket": checkpoint_uri,
        "emulated": True,
        "note": EMULATED_NOTE,
        "training_job_name": job.name,
    }
    recipe_eval = evaluation_task(objects, job)
    files = {
        "manifest.json": orjson.dumps(manifest, option=orjson.OPT_INDENT_2),
        "EMULATED.txt": (EMULATED_NOTE + "\n").encode(),
    }
    objects.put(f"{job.output_prefix}/model.tar.gz", tar_gz(files))
    if recipe_eval is None and job.serverless_job_type == "FineTuning":
        # Serverless jobs do not archive it: <out>/<job>/output/output/manifest.json
        # (aws/sagemaker-python-sdk, sagemaker-core/src/sagemaker/core/training/utils.py).
        for name, data in files.items():
            objects.put(f"{job.output_prefix}/output/{name}", data)
        return
    if recipe_eval is None:
        # Nova SMTJ training jobs put manifest.json (the escrow checkpoint) in output.tar.gz.
        objects.put(f"{job.output_prefix}/output.tar.gz", tar_gz(files))
        return
    outputs = _evaluation_outputs(job, recipe_eval, bad_results)
    if job.serverless_job_type == "Evaluation":
        for name, data in outputs.items():
            objects.put(f"{job.output_prefix}/output/{name}", data)
        return
    objects.put(f"{job.output_prefix}/output.tar.gz", tar_gz(outputs))


def _evaluation_outputs(
    job: EmulatedJob, recipe_eval: EvaluationTask, bad_results: str | None
) -> dict[str, bytes]:
    """The files of an evaluation job's output: its results (malformed or missing, if so injected)."""
    stamp = (job.end or utc_now()).strftime("%Y%m%d_%H%M%S")
    assert job.evaluation is not None, "an evaluation job is Uploading only once it is measured"
    results, inference = job.evaluation
    results["config_general"] = {"model_name": recipe_eval.model, "task": recipe_eval.task}
    outputs = {
        f"{recipe_eval.run_name}/eval_results/results_{stamp}.json": orjson.dumps(
            results, option=orjson.OPT_INDENT_2
        ),
        "EMULATED.txt": (EMULATED_NOTE + "\n").encode(),
    }
    if inference is not None:
        outputs["eval_results/inference_output.jsonl"] = inference
    if bad_results is not None:
        results_name = next(name for name in outputs if "/results_" in name)
        if bad_results == "missing":
            del outputs[results_name]
        else:
            outputs[results_name] = b'{"results": {"all": {"f1_score": 0.5'  # cut short: not JSON
    return outputs


def tar_gz(files: Mapping[str, bytes]) -> bytes:
    """A reproducible archive of the files (sorted, mtime 0)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
