"""Evaluation inputs: the `gen_qa.jsonl` of the domain eval, the trained checkpoint, one-call job preparation.

- `converse_to_gen_qa`: a held-out Converse record → a gen_qa line `{"query", "response", "system"?}`
  (query: the last user turn's text; response: the final assistant text, or the preferred candidate of a
  DPO record). Records whose last user turn carries media or tool blocks are skipped: gen_qa accepts only
  inline base64 images, and Converse datasets reference media in S3.
- `checkpoint_uri_from_manifest`: the escrow checkpoint URI from a training job's `manifest.json`
  (`checkpoint_s3_bucket`), found in the job's `output/output.tar.gz`.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from forgeflow.errors import DataError, InputError
from forgeflow.jobs.requests import JobSettings, build_eval_job_request
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.evaluation import EvalSuite, EvalTarget, render_eval_recipe

if TYPE_CHECKING:
    # Annotations only: importing storage would load its S3 backend (boto3) with this module.
    from forgeflow.storage import Storage

GEN_QA_FILE = "gen_qa.jsonl"
_NON_TEXT = ("image", "video", "document", "toolUse", "toolResult")


def _texts(blocks: Any) -> list[str] | None:
    """The texts of a content list; None when a block is not plain text (media, tools)."""
    if not isinstance(blocks, list):
        return None
    texts: list[str] = []
    for block in blocks:
        if not isinstance(block, dict) or any(key in block for key in _NON_TEXT):
            return None
        text = block.get("text")
        if isinstance(text, str):
            texts.append(text)
    return texts


def converse_to_gen_qa(record: dict[str, Any]) -> dict[str, str] | None:
    """One gen_qa line from a Converse record (SFT or DPO), or None when it cannot be expressed."""
    messages = record.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        return None
    last, previous = messages[-1], messages[-2]
    if not isinstance(last, dict) or not isinstance(previous, dict) or previous.get("role") != "user":
        return None
    if "candidates" in last:
        preferred = [
            c
            for c in last["candidates"]
            if isinstance(c, dict) and str(c.get("preferenceLabel", "")).lower() == "preferred"
        ]
        answer = _texts(preferred[0].get("content")) if preferred else None
    else:
        answer = _texts(last.get("content"))
    question = _texts(previous.get("content"))
    if not answer or not question:
        return None
    line = {"query": "\n".join(question), "response": "\n".join(answer)}
    system = _texts(record.get("system"))
    if system:
        line["system"] = "\n".join(system)
    if not line["query"].strip() or not line["response"].strip():
        return None
    return line


@dataclass(frozen=True)
class GenQaSummary:
    uri: str
    written: int
    skipped: int


def write_gen_qa(
    storage: Storage, validation_uri: str, out_uri: str, *, max_records: int | None = None
) -> GenQaSummary:
    """Convert a held-out Converse JSONL split into gen_qa.jsonl at `out_uri` (a file or a folder)."""
    target = out_uri + GEN_QA_FILE if out_uri.endswith("/") else out_uri
    if not target.endswith("/" + GEN_QA_FILE):
        raise InputError(f"the gen_qa dataset must be a file named exactly {GEN_QA_FILE}, got {out_uri!r}")
    written = skipped = 0
    with storage.open_input(validation_uri) as stream, storage.open_output(target) as out:
        for raw in stream:
            if not raw.strip():
                continue
            if max_records is not None and written >= max_records:
                break
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                skipped += 1
                continue
            line = converse_to_gen_qa(record) if isinstance(record, dict) else None
            if line is None:
                skipped += 1
                continue
            out.write(orjson.dumps(line) + b"\n")
            written += 1
    if written == 0:
        raise DataError(
            f"{validation_uri}: no held-out record converts to gen_qa (text query and response needed)",
            code="NO_EVAL_DATA",
        )
    return GenQaSummary(uri=target, written=written, skipped=skipped)


def checkpoint_uri_from_manifest(data: bytes, *, source: str = "manifest.json") -> str:
    """The escrow checkpoint URI (`checkpoint_s3_bucket`) of a Nova training job's manifest.json."""
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise DataError(f"{source}: not valid JSON ({error})", code="INVALID_MANIFEST") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{source}: expected a JSON object", code="INVALID_MANIFEST")
    uri = manifest.get("checkpoint_s3_bucket")
    if not isinstance(uri, str) or not uri:
        keys = ", ".join(sorted(manifest)) or "none"
        raise DataError(
            f"{source}: no checkpoint_s3_bucket (keys present: {keys}); the training job did not report "
            "its escrow checkpoint",
            code="NO_CHECKPOINT",
            hint="evaluate completed jobs only; the manifest is in <output>/<job>/output/output.tar.gz",
        )
    if not uri.startswith("s3://"):
        raise DataError(
            f"{source}: checkpoint_s3_bucket is not an s3:// URI: {uri!r}", code="INVALID_MANIFEST"
        )
    return uri


def manifest_from_output_archive(data: bytes, *, source: str = "output.tar.gz") -> bytes:
    """The manifest.json inside a training job's output.tar.gz (the shallowest one)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            members = [
                m for m in archive.getmembers() if m.isfile() and m.name.rsplit("/", 1)[-1] == "manifest.json"
            ]
            if not members:
                raise DataError(f"{source}: no manifest.json in the archive", code="NO_CHECKPOINT")
            member = min(members, key=lambda m: m.name.count("/"))
            extracted = archive.extractfile(member)
            if extracted is None:
                raise DataError(f"{source}: cannot read {member.name}", code="NO_CHECKPOINT")
            return extracted.read()
    except tarfile.TarError as error:
        raise DataError(f"{source}: not a tar archive ({error})", code="INVALID_MANIFEST") from None


def output_archive_uri(output_uri: str, job_name: str) -> str:
    """Where SageMaker puts a training job's output.tar.gz."""
    return f"{output_uri.rstrip('/')}/{job_name}/output/output.tar.gz"


def prepare_eval_job(
    storage: Storage,
    config: TrainingConfig,
    *,
    run_id: str,
    suite: EvalSuite,
    target: EvalTarget,
    settings: JobSettings,
    inputs_uri: str,
    model_path: str | None = None,
    validation_uri: str | None = None,
    attempt: int = 1,
    dataset: str | None = None,
    label: str | None = None,
    gen_qa_dir: str | None = None,
) -> dict[str, Any]:
    """Write one eval job's inputs under `inputs_uri` (recipe; gen_qa.jsonl) and return its request.

    Layout: `<inputs_uri>/<label>-<target>/recipe.yaml`, `<inputs_uri>/gen_qa/gen_qa.jsonl` (shared by
    both targets). `model_path` is the trained checkpoint (required for target "trained"). `label` (default:
    the suite without `_`) names the job and its folder; `gen_qa_dir` is a folder that already holds the
    job's gen_qa.jsonl (the general suite's), instead of converting `validation_uri`.
    """
    if target == "trained" and not model_path:
        raise DataError(
            "evaluating the trained model needs its checkpoint (model_path)", code="NO_CHECKPOINT"
        )
    label = label or suite.replace("_", "")
    rendered = render_eval_recipe(
        config.model,
        suite,
        model_path=model_path if target == "trained" else None,
        name=f"{config.name}-{label}-{target}",
    )
    base = inputs_uri.rstrip("/") + "/"
    recipe_uri = f"{base}{label}-{target}/recipe.yaml"
    storage.write_bytes(recipe_uri, rendered.to_yaml().encode())
    data_uri = gen_qa_dir
    if suite == "gen_qa" and data_uri is None:
        if not validation_uri:
            raise DataError(
                "the gen_qa evaluation needs the held-out split (validation_uri)", code="NO_EVAL_DATA"
            )
        data_uri = f"{base}gen_qa/"
        if not storage.exists(data_uri + GEN_QA_FILE):
            write_gen_qa(storage, validation_uri, data_uri)
    return build_eval_job_request(
        rendered,
        run_id=run_id,
        settings=settings,
        recipe_uri=recipe_uri,
        data_uri=data_uri,
        attempt=attempt,
        dataset=dataset,
        stage=f"eval-{label}-{target}",
    )
