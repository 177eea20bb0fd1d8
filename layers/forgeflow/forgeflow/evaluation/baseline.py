"""The baseline cache: a base model's evaluation is run once per (model, suite, eval-dataset hash).

An entry is one small S3 object, `s3://<DataBucket>/baseline/<model>/<suite>/<dataset_sha256>.json`:
`{"model", "suite", "dataset_sha256", "job_name", "output_archive", "run_id", "created_at"}`. It names
the evaluation job that produced the scores and where its `output.tar.gz` is, so a later run reads the
same results file (and, for gen_qa, the same per-record answers) instead of starting a base eval job.
An S3 object rather than a ledger item: the entry outlives any run row, and a bucket lifecycle rule or
`aws s3 rm --recursive s3://<bucket>/baseline/` clears the cache.

The eval-dataset hash is the SHA-256 of the job's `gen_qa.jsonl` (domain and general suites); MMLU's
data is the benchmark itself, keyed `benchmark`. CollectEvaluation writes an entry only after the base
job's results parsed, so a malformed results file never poisons the cache.

The model part is the Nova model's name. Under the local runtime's stand-in (FORGEFLOW_EMULATED) it also
carries a digest of the curated pool: the stand-in's base model is a memory of that pool
(tools/forgeflow_tools/local/sagemaker/evaluation.py), so a changed pool is another base model whose
scores a cached entry cannot give.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from forgeflow.errors import InputError
from forgeflow.storage import object_identity

if TYPE_CHECKING:
    from forgeflow.storage import Storage

BASELINE_PREFIX = "baseline/"
BENCHMARK = "benchmark"


@dataclass(frozen=True)
class BaselineEntry:
    """Which base-model eval job produced a suite's scores on one eval dataset, and its output."""

    model: str
    suite: str
    dataset_sha256: str
    job_name: str
    output_archive: str
    run_id: str
    created_at: str

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2) + b"\n"


def dataset_hash(storage: Storage, gen_qa_uri: str | None) -> str:
    """The cache key's eval-dataset part: the SHA-256 of a gen_qa.jsonl, or `benchmark` without one."""
    if gen_qa_uri is None:
        return BENCHMARK
    return hashlib.sha256(storage.read_bytes(gen_qa_uri)).hexdigest()


def pool_digest(storage: Storage, pool_uri: str) -> str:
    """SHA-256 over the identity (URI, size, ETag) of every `.jsonl` under a pool; no object is read."""
    try:
        uris = storage.list_jsonl(pool_uri)
    except InputError:
        uris = []  # an empty pool is a pool too: the stand-in's empty memory
    digest = hashlib.sha256()
    for uri in uris:
        identity = object_identity(storage, uri)
        digest.update(orjson.dumps([identity["uri"], identity["size"], identity.get("etag")]))
    return digest.hexdigest()


def model_key(model: str, storage: Storage, stand_in_pool: str | None = None) -> str:
    """The cache key's model part: the model's name, plus the curated pool's digest for the stand-in."""
    if stand_in_pool is None:
        return model
    return f"{model}.stand-in-{pool_digest(storage, stand_in_pool)[:16]}"


def entry_uri(bucket: str, model: str, suite: str, dataset_sha256: str) -> str:
    return f"s3://{bucket}/{BASELINE_PREFIX}{model}/{suite}/{dataset_sha256}.json"


def read_entry(storage: Storage, uri: str) -> BaselineEntry | None:
    """The cached entry at `uri` whose output archive still exists; None for a miss (or a stale or
    unreadable entry, which the next base job overwrites)."""
    try:
        document: Any = orjson.loads(storage.read_bytes(uri))
        entry = BaselineEntry(**document) if isinstance(document, dict) else None
    except (InputError, orjson.JSONDecodeError, TypeError):
        return None
    if entry is None or not storage.exists(entry.output_archive):
        return None
    return entry


def write_entry(
    storage: Storage, uri: str, *, job_name: str, output_archive: str, run_id: str, now: datetime
) -> BaselineEntry:
    """Record the base job behind a suite's scores at `uri` (its key is in the path)."""
    _, _, tail = uri.partition(BASELINE_PREFIX)
    model, suite, name = tail.split("/", 2)
    entry = BaselineEntry(
        model=model,
        suite=suite,
        dataset_sha256=name.removesuffix(".json"),
        job_name=job_name,
        output_archive=output_archive,
        run_id=run_id,
        created_at=now.isoformat(),
    )
    storage.write_bytes(uri, entry.to_json())
    return entry
