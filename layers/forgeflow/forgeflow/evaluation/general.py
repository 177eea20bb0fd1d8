"""The `general` suite: general-ability retention, scored on a seeded held-out slice of the curated pool.

A curated record belongs to the slice when `bucket_of(record_hash, GENERAL_SEED) < GENERAL_FRACTION`
(`forgeflow.dataset.split`): a property of its content alone, so the same pool always gives the same
slice (and the same eval-dataset hash, which keys the baseline cache) whatever the run, its seed or the
line order. The Mix stage drops these records from every non-customer source (`run_mix(...,
general_holdout=GENERAL_FRACTION)`), so none of them reaches `train.jsonl`; BuildEvaluationJobs turns the
slice of `<CuratedDataPrefix><method>/` into the suite's `gen_qa.jsonl` (at most GENERAL_MAX_QUERIES).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from forgeflow.dataset.canonical import record_hash
from forgeflow.dataset.split import bucket_of
from forgeflow.jobs.evaluation import GEN_QA_FILE, converse_to_gen_qa

if TYPE_CHECKING:
    from forgeflow.storage import Storage

# Fixed, not the run's mix seed: every run of a pool must hold out the same records.
GENERAL_SEED = 1313
GENERAL_FRACTION = 0.1
GENERAL_MAX_QUERIES = 1000


def in_general_holdout(content_hash: str) -> bool:
    """True when the curated record with this content hash (`record_hash`) is in the general slice."""
    return bucket_of(content_hash, GENERAL_SEED) < GENERAL_FRACTION


@dataclass(frozen=True)
class GeneralEval:
    """The general suite's `gen_qa.jsonl`: where, its SHA-256 (the baseline cache key) and size."""

    uri: str
    sha256: str
    queries: int


def write_general_eval(storage: Storage, curated_uri: str, out_uri: str) -> GeneralEval | None:
    """The held-out slice of every curated `.jsonl` under `curated_uri` as `<out_uri>gen_qa.jsonl`;
    None when the slice holds no usable query (no curated data, or none of it converts to gen_qa)."""
    lines: list[bytes] = []
    for uri in storage.list_jsonl(curated_uri):
        with storage.open_input(uri) as stream:
            for raw in stream:
                line = _held_out_query(raw)
                if line is not None:
                    lines.append(line)
                if len(lines) >= GENERAL_MAX_QUERIES:
                    break
        if len(lines) >= GENERAL_MAX_QUERIES:
            break
    if not lines:
        return None
    data = b"".join(lines)
    target = out_uri.rstrip("/") + "/" + GEN_QA_FILE
    storage.write_bytes(target, data)
    return GeneralEval(uri=target, sha256=hashlib.sha256(data).hexdigest(), queries=len(lines))


def _held_out_query(raw: bytes) -> bytes | None:
    """The gen_qa line of one curated line in the slice; None otherwise (blank, not JSON, not held out,
    or no text query and answer: the Mix stage's validation reports invalid curated records)."""
    if not raw.strip():
        return None
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or not in_general_holdout(record_hash(record)):
        return None
    query = converse_to_gen_qa(record)
    return orjson.dumps(query) + b"\n" if query is not None else None
