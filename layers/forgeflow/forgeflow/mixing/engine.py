"""The mixing engine: an exact, seeded, streaming blend of customer and curated JSONL, with its report.

`run_mix` runs three steps in order, memory bounded whatever the input size, and writes the report:

1. Scan (`scan`): every source read once (local or S3, streaming), validated, indexed and spilled.
2. Select (`allocate`): integer targets per source, checked against what each source holds, and each
   source's prefix of its seeded ranking. Every error so far happens before any output exists.
3. Write (`write`): train.jsonl as a prefix-faithful interleave of seeded shuffles, validation.jsonl.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

import forgeflow
from forgeflow.mixing.allocate import Selection, select
from forgeflow.mixing.forge import Compute, check_compute, forge_data_mixing
from forgeflow.mixing.objectscan import Exclusion, TokenEstimator
from forgeflow.mixing.plan import MixPlan, Unit
from forgeflow.mixing.progress import Progress, ProgressMeter
from forgeflow.mixing.scan import Listing, Scanned, Scanner, SourceScan, list_sources
from forgeflow.mixing.write import LongestRun, OutputFile, Writer
from forgeflow.nova import Method, NovaModel
from forgeflow.storage import Storage, join

DEFAULT_ESTIMATOR = "forgeflow.dataset.tokens"

TRAIN_FILE = "train.jsonl"
VALIDATION_FILE = "validation.jsonl"
REPORT_FILE = "mix_report.json"


@dataclass
class MixReport:
    """What was blended, from what, how exactly: the content of mix_report.json."""

    plan: dict[str, Any]
    method: Method
    model: NovaModel
    compute: Compute
    sources: list[dict[str, Any]]
    train: OutputFile
    validation: OutputFile
    longest_run: LongestRun
    forge: dict[str, Any] | None
    token_estimator: str = DEFAULT_ESTIMATOR
    seconds: float = 0.0
    input_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": {"name": "forgeflow", "version": forgeflow.__version__},
            "seed": self.plan["seed"],
            "unit": self.plan["unit"],
            "method": self.method.value,
            "model": self.model.value,
            "compute": self.compute.value,
            "token_estimator": self.token_estimator,
            "plan": self.plan,
            "sources": self.sources,
            "train": self.train.to_dict(),
            "validation": self.validation.to_dict() | {"fraction": self.plan["validation_fraction"]},
            "longest_same_source_run": self.longest_run.to_dict(),
            "forge": self.forge,
            "inputs": [obj for source in self.sources for obj in source["objects"]],
            "input_bytes": self.input_bytes,
            "outputs": {
                TRAIN_FILE: self.train.sha256,
                VALIDATION_FILE: self.validation.sha256,
            },
        }

    def to_json(self) -> bytes:
        """mix_report.json's bytes: `to_dict()` indented by two spaces, with a final newline."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"


def run_mix(
    plan: MixPlan,
    out_uri: str,
    storage: Storage,
    *,
    method: Method | None = None,
    model: NovaModel = NovaModel.LITE,
    workdir: Path | None = None,
    progress: Progress | None = None,
    compute: Compute = Compute.SERVERFUL,
    workers: int | None = None,
    token_estimator: TokenEstimator | None = None,
    exclude: Exclusion | None = None,
) -> MixReport:
    """Blend the plan's sources into `train.jsonl`, `validation.jsonl` and `mix_report.json` under out_uri.

    Raises DataError (invalid plan or data, a ratio the data cannot satisfy) or InputError (unreadable
    source) before anything is written. `workdir` holds the temporary spill (about the input's size;
    default: the system temp folder); `progress(done, total)` counts bytes read and written. `workers`
    caps the processes that scan local sources in parallel (default: one per source, up to the CPUs;
    1 scans in turn). The output never depends on it. `token_estimator(record) -> int` replaces the
    documented estimate (forgeflow.dataset.tokens) for `unit: tokens` and the report's token figures.
    `exclude(content_hash)` keeps matching records of the non-customer sources out of the blend (the
    pipeline's general eval slice, forgeflow.evaluation.general); the report counts them as `excluded`.
    """
    started = time.monotonic()
    forge = forge_data_mixing(plan)
    if compute is Compute.SERVERFUL:
        check_compute(plan, compute, method=method or Method.SFT, model=model)
    with tempfile.TemporaryDirectory(prefix="forgeflow-mix-", dir=workdir) as temporary:
        work = Path(temporary)
        listed = list_sources(plan, storage)
        input_bytes = _input_bytes(listed)
        meter = ProgressMeter(progress, 2 * input_bytes)
        scanned = _scan(
            plan, storage, work, meter, (listed, workers), method, model, (token_estimator, exclude)
        )
        check_compute(plan, compute, method=scanned.method, model=model)
        selections = select(plan, scanned.sources)
        meter.total = max(input_bytes + _output_bytes(scanned, selections), 1)
        writer = Writer(storage, work, plan.seed, meter)
        train, tokens, run = writer.write_train(join(out_uri, TRAIN_FILE), scanned.sources, selections)
        validation = writer.write_validation(join(out_uri, VALIDATION_FILE), scanned.validation)
        report = MixReport(
            plan=plan.resolved(),
            method=scanned.method,
            model=model,
            compute=compute,
            sources=_source_entries(plan, scanned.sources, selections, tokens, train),
            train=train,
            validation=validation,
            longest_run=run,
            forge=forge,
            token_estimator=_estimator_name(token_estimator),
            input_bytes=input_bytes,
        )
        storage.write_bytes(join(out_uri, REPORT_FILE), report.to_json())
        meter.finish()
        report.seconds = time.monotonic() - started
        return report


def _scan(
    plan: MixPlan,
    storage: Storage,
    work: Path,
    meter: ProgressMeter,
    sources: tuple[Listing, int | None],
    method: Method | None,
    model: NovaModel,
    hooks: tuple[TokenEstimator | None, Exclusion | None],
) -> Scanned:
    """Step 1: every listed source scanned by `workers` processes, with the run's estimator and exclusion."""
    (listed, workers), (token_estimator, exclude) = sources, hooks
    scanner = Scanner(
        plan,
        storage,
        work,
        meter,
        method=method,
        model=model,
        token_estimator=token_estimator,
        exclude=exclude,
    )
    return scanner.scan_all(listed, workers)


def _input_bytes(listed: Listing) -> int:
    return sum(int(obj.get("size") or 0) for objects in listed.values() for obj in objects)


def _output_bytes(scanned: Scanned, selections: list[Selection]) -> int:
    """About how many bytes the write will produce: the progress meter's second half."""
    planned = sum(
        int(sel.records * scan.mean_line_bytes) for scan, sel in zip(scanned.sources, selections, strict=True)
    )
    return planned + scanned.validation.bytes


def _estimator_name(token_estimator: TokenEstimator | None) -> str:
    if token_estimator is None:
        return DEFAULT_ESTIMATOR
    return f"{token_estimator.__module__}.{token_estimator.__qualname__}"


def _source_entries(
    plan: MixPlan,
    scans: list[SourceScan],
    selections: list[Selection],
    tokens: list[int],
    train: OutputFile,
) -> list[dict[str, Any]]:
    entries = []
    for scan, selection, source_tokens in zip(scans, selections, tokens, strict=True):
        spec = scan.spec
        records_share = selection.records / train.records if train.records else 0.0
        tokens_share = source_tokens / train.est_tokens if train.est_tokens else 0.0
        entries.append(
            {
                "name": spec.name,
                "role": spec.role,
                "uri": spec.uri,
                "available": scan.pool.records,
                "available_tokens": scan.pool.tokens,
                "held_out": scan.held_out,
                "excluded": scan.excluded,
                "blank_lines": scan.blank_lines,
                "pool": selection.pool.records,
                "selected": selection.records,
                "distinct": selection.distinct,
                "repeats": selection.records - selection.distinct,
                "passes": round(selection.records / selection.pool.records, 6)
                if selection.pool.records
                else 0,
                "est_tokens": source_tokens,
                "target_share": plan.physical_share(spec),
                "achieved_share": records_share if plan.unit is Unit.RECORDS else tokens_share,
                "achieved_record_share": records_share,
                "achieved_token_share": tokens_share,
                "mix_share": plan.share(spec),
                "objects": scan.objects,
            }
        )
    return entries
