"""The evaluation emulation: a stand-in score for an evaluation job, since no model runs offline.

A gen_qa job (the domain suite and the general suite alike) measures, for real, a transparent stand-in
(nearest-neighbour retrieval, `forgeflow_tools.local.stand_in`) against the job's `gen_qa.jsonl`, and keeps
its answers for `eval_results/inference_output.jsonl`. The stand-in's memory:

- a trained checkpoint: the `train` channel (train.jsonl) of the emulated job that produced it, and
  nothing else: what a run did not train on, its model forgot;
- the base model: the curated general pool (every `.jsonl` under the stack's CuratedDataPrefix), minus the
  general suite's held-out slice (forgeflow.evaluation.general): the base model's "pre-training".

A serverless evaluation job (`ServerlessJobConfig.JobType: Evaluation`) has no recipe: its task is the
`task` hyperparameter, its model the base model or the model package
`ModelPackageConfig.SourceModelPackageArn` names, whose stand-in memory is the train channel of the emulated
serverless training job that registered that package.

Any other task (mmlu, ...) gets no metrics and says why (`not_measured`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from forgeflow.dataset.canonical import record_hash
from forgeflow.evaluation.general import in_general_holdout
from forgeflow.evaluation.metrics import gen_qa_scores
from forgeflow_tools.local.sagemaker.checks import load_recipe
from forgeflow_tools.local.sagemaker.jobs import EMULATED_NOTE, ESCROW_BUCKET_SUFFIX, EmulatedJob
from forgeflow_tools.local.sagemaker.s3 import S3Objects, split_s3
from forgeflow_tools.local.stand_in import RetrievalModel, converse_pair

# The stand-in model of a trained checkpoint memorises at most this many training records.
MAX_MEMORY_RECORDS = 50_000

# A measurement: the results document, and for gen_qa the bytes of `inference_output.jsonl`.
Measurement = tuple[dict[str, Any], bytes | None]


# The run-name folder of a serverless evaluation's results: the SDK shows
# `<out>/<job>/output/output/None/eval_results/` (aws/sagemaker-python-sdk,
# sagemaker-train/src/sagemaker/train/common_utils/show_results_utils.py, `_show_benchmark_results`).
SERVERLESS_RUN_NAME = "None"


class EvaluationTask(NamedTuple):
    """What an evaluation job asks for: the task, the run name its results go under, the model (a
    recipe's model_name_or_path, or a serverless job's source model package ARN; '' for a base model)."""

    task: str
    run_name: str
    model: str


def evaluation_task(objects: S3Objects, job: EmulatedJob) -> EvaluationTask | None:
    """The evaluation a job runs; None for a training job (or a recipe that cannot be read)."""
    if job.serverless_job_type is not None:
        return _serverless_task(job)
    recipe = load_recipe(objects, job, job.channels)
    if isinstance(recipe, str) or not isinstance(recipe.get("evaluation"), dict):
        return None
    run = recipe["run"]
    return EvaluationTask(
        str(recipe["evaluation"].get("task", "")),
        str(run.get("name") or job.name),
        str(run.get("model_name_or_path", "")),
    )


def _serverless_task(job: EmulatedJob) -> EvaluationTask | None:
    if job.serverless_job_type != "Evaluation":
        return None
    package = job.request.get("ModelPackageConfig", {}).get("SourceModelPackageArn", "")
    return EvaluationTask(
        str(job.request.get("HyperParameters", {}).get("task", "")), SERVERLESS_RUN_NAME, str(package)
    )


def not_measured(reason: str) -> dict[str, Any]:
    return {"results": {}, "emulated": True, "not_measured": reason, "note": EMULATED_NOTE}


class StandInEvaluation:
    """Scores evaluation jobs; `producer` finds the emulated training job behind a checkpoint's job name
    or a model package ARN;
    `base_pool` is the curated pool the base stand-in knows (an s3:// prefix; None: an empty memory)."""

    def __init__(self, objects: S3Objects, producer: Callable[[str], EmulatedJob | None]) -> None:
        self._objects = objects
        self._producer = producer
        self.base_pool: str | None = None

    def evaluate(self, job: EmulatedJob, task: str, model: str) -> Measurement:
        """The results document of an eval job, and for gen_qa its `inference_output.jsonl`."""
        if task != "gen_qa":
            return not_measured(
                f"{task} needs its benchmark data and a real model; neither is available offline "
                "(emulated job)"
            ), None
        memory = self._memory(model)
        if isinstance(memory, str):
            return not_measured(memory), None
        pairs, source = memory
        stand_in = RetrievalModel(pairs)
        lines = []
        scored = []
        for query in self._gen_qa_lines(job):
            prompt = "\n".join(part for part in (query.get("system", ""), query["query"]) if part)
            inference = stand_in.answer(prompt)
            scored.append((inference, query["response"]))
            lines.append(
                orjson.dumps(
                    {"prompt": prompt, "inference": inference, "gold": query["response"], "metadata": None}
                )
            )
        metrics = gen_qa_scores(scored)
        document = _gen_qa_document(metrics, len(scored), len(stand_in), source)
        return document, b"\n".join(lines) + b"\n" if lines else b""

    def _memory(self, model: str) -> tuple[list[tuple[str, str]], str | None] | str:
        """The stand-in's memory for `model_name_or_path`: the training channel of the emulated job that
        produced an escrow checkpoint, the curated pool for a base model, or why it cannot be had."""
        if ":model-package/" in model:
            return self._package_memory(model)
        if not model.startswith("s3://"):
            if self.base_pool is None:
                return [], None
            pairs = self._pairs(self._objects.jsonl_keys(self.base_pool), skip_general=True)
            return pairs, f"the curated general pool {self.base_pool} (its general held-out slice excluded)"
        bucket, key = split_s3(model)
        name = key.split("/", 1)[0]
        producer = self._producer(name) if bucket.endswith(ESCROW_BUCKET_SUFFIX) else None
        if producer is None:
            return (
                f"the checkpoint {model} was not produced by a training job of this emulator, so its "
                "training data is unknown and nothing stands in for it (emulated job)"
            )
        return self._trained_memory(producer, model)

    def _package_memory(self, package_arn: str) -> tuple[list[tuple[str, str]], str | None] | str:
        producer = self._producer(package_arn)
        if producer is None:
            return (
                f"the model package {package_arn} was not registered by a training job of this emulator, "
                "so its training data is unknown and nothing stands in for it (emulated job)"
            )
        return self._trained_memory(producer, package_arn)

    def _trained_memory(self, producer: EmulatedJob, model: str) -> tuple[list[tuple[str, str]], str] | str:
        channels = producer.channels
        if "train" not in channels:
            return (
                f"the training job {producer.name} that produced {model} has no train channel (emulated job)"
            )
        pairs = self._pairs(self._objects.jsonl_keys(channels["train"]), skip_general=False)
        return pairs, f"the train channel {channels['train']} of job {producer.name}"

    def _pairs(self, uris: list[str], *, skip_general: bool) -> list[tuple[str, str]]:
        """(prompt, response) of the records of `uris`, at most MAX_MEMORY_RECORDS."""
        pairs: list[tuple[str, str]] = []
        for uri in uris:
            for line in self._objects.lines(uri, None if skip_general else MAX_MEMORY_RECORDS - len(pairs)):
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if skip_general and isinstance(record, dict) and in_general_holdout(record_hash(record)):
                    continue
                pair = converse_pair(record)
                if pair is not None:
                    pairs.append(pair)
                if len(pairs) >= MAX_MEMORY_RECORDS:
                    return pairs
        return pairs

    def _gen_qa_lines(self, job: EmulatedJob) -> list[dict[str, str]]:
        channels = job.channels
        uri = self._objects.first_key(channels["train"], "gen_qa.jsonl") if "train" in channels else None
        queries: list[dict[str, str]] = []
        for line in self._objects.lines(uri, None) if uri else []:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("query"), str):
                queries.append(
                    {
                        "query": record["query"],
                        "response": str(record.get("response", "")),
                        "system": str(record.get("system") or ""),
                    }
                )
        return queries


def _gen_qa_document(
    metrics: dict[str, float], queries: int, memory_records: int, source: str | None
) -> dict[str, Any]:
    """The Nova-shaped results of a gen_qa measurement, saying plainly what stood in for the model."""
    description = (
        f"nearest-neighbour retrieval over {memory_records} (prompt, response) pairs of {source}"
        if source
        else "an empty memory (no curated pool to stand in for the base model's pre-training): it answers ''"
    )
    document: dict[str, Any] = {
        "results": {"custom|gen_qa_gen_qa|0": metrics, "all": metrics} if metrics else {},
        "emulated": True,
        "note": f"metrics measured on {queries} gen_qa queries, answered by a stand-in model, "
        f"{description}; not by a Nova model: " + EMULATED_NOTE,
        "stand_in": {
            "model": "nearest-neighbour retrieval (Jaccard word overlap)",
            "memory_records": memory_records,
            "memory_source": source,
            "queries": queries,
        },
    }
    if not metrics:
        document["not_measured"] = "the gen_qa dataset holds no query"
    return document
