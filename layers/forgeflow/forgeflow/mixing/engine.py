"""The mixing engine: an exact, seeded, streaming blend of customer and curated JSONL, with its report.

Three steps, memory bounded whatever the input size:

1. Scan: every source is read once (local or S3, streaming). Each record is validated with the
   dataset validator (an invalid curated record is an error naming source, file and line), written in
   canonical form to temporary bucket files keyed by `q`, and indexed by `p` (two seeded hashes of its
   canonical bytes). Customer records in the seeded validation hold-out go to their own spill, so they
   can never reach train, even when the customer source is upsampled.
2. Select: integer targets per source by largest remainder (or token targets), checked against what each
   source holds; each source's selection is a prefix of its p-ranking (whole passes plus a remainder when
   upsampling). Every error so far happens before any output exists.
3. Write: a prefix-faithful interleave decides which source fills each position; each source yields its
   selected records in q order (a seeded shuffle), reshuffled for every repeated pass. Outputs go through
   `Storage.open_output` (atomic file or S3 multipart upload).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.connection
import os
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, cast

import orjson

import forgeflow
from forgeflow.dataset.canonical import record_hash
from forgeflow.dataset.lines import BOM, iter_lines
from forgeflow.dataset.split import in_validation
from forgeflow.dataset.validation import RecordOutcome, RecordValidator, ValidationOptions
from forgeflow.errors import DataError, ForgeFlowError, InputError
from forgeflow.mixing.apportion import interleave, largest_remainder, round_quotas, seeded_order
from forgeflow.mixing.forge import Compute, check_compute, forge_data_mixing
from forgeflow.mixing.plan import MixPlan, SourceSpec, Unit
from forgeflow.mixing.progress import Progress, ProgressMeter
from forgeflow.mixing.selection import ALL, NONE, Admit, PoolIndex, Prefix, rank_prefix, token_prefix
from forgeflow.mixing.spill import Entry, Spill, fan_out_bits
from forgeflow.nova import Method, NovaModel
from forgeflow.storage import Storage, join, object_identity, parse_uri

TokenEstimator = Callable[[dict[str, Any]], int]
DEFAULT_ESTIMATOR = "forgeflow.dataset.tokens"

TRAIN_FILE = "train.jsonl"
VALIDATION_FILE = "validation.jsonl"
REPORT_FILE = "mix_report.json"
MAX_REPORTED_ERRORS = 10
_MASK = (1 << 64) - 1
_PQ = struct.Struct(">QQ")  # a record's selection hash p and shuffle hash q, from one 16-byte digest
_WRITE_BATCH = 1024 * 1024


def _mix64(value: int) -> int:
    """SplitMix64's finaliser: a fixed bijection on 64-bit integers (identical on every machine)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


@dataclass
class SourceScan:
    """What the scan learnt about one physical source."""

    spec: SourceSpec
    pool: PoolIndex
    spill: Spill
    objects: list[dict[str, Any]] = field(default_factory=list)
    held_out: int = 0
    blank_lines: int = 0

    @property
    def mean_line_bytes(self) -> float:
        return self.spill.bytes / self.spill.count if self.spill.count else 0.0


@dataclass(frozen=True)
class Selection:
    """One source's part of train: `passes` whole passes over `pool`, then `remainder`."""

    pool: Prefix
    passes: int
    remainder: Prefix

    @property
    def records(self) -> int:
        return self.passes * self.pool.records + self.remainder.records

    @property
    def distinct(self) -> int:
        return self.pool.records if self.passes else self.remainder.records

    def prefixes(self) -> Iterator[Prefix]:
        for _ in range(self.passes):
            yield self.pool
        if self.remainder.records:
            yield self.remainder


@dataclass
class OutputFile:
    uri: str
    records: int = 0
    est_tokens: int = 0
    bytes: int = 0
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "records": self.records,
            "est_tokens": self.est_tokens,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


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
    longest_run: dict[str, Any]
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
            "longest_same_source_run": self.longest_run,
            "forge": self.forge,
            "inputs": [obj for source in self.sources for obj in source["objects"]],
            "input_bytes": self.input_bytes,
            "outputs": {
                TRAIN_FILE: self.train.sha256,
                VALIDATION_FILE: self.validation.sha256,
            },
        }


class _HashingReader:
    """Passes a stream's chunks through while hashing them and counting progress (per chunk, not line)."""

    def __init__(self, stream: IO[bytes], digest: Any, meter: ProgressMeter) -> None:
        self._stream = stream
        self._digest = digest
        self._meter = meter

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._digest.update(data)
        self._meter.advance(len(data))
        return data


def _content_hash(outcome: RecordOutcome) -> str:
    """The contract's record_hash, from the key-sorted dump the validator already made when it did."""
    if outcome.sorted_json is not None:
        return hashlib.sha256(outcome.sorted_json).hexdigest()
    assert outcome.record is not None
    return record_hash(outcome.record)


def _worker_count(requested: int | None, uris: list[str], sources: int) -> int:
    """Scan processes to use: local sources only (an S3 client must not cross a fork), on Linux."""
    if requested is not None and requested <= 1:
        return 1
    if sources <= 1 or any(parse_uri(uri).is_s3 for uri in uris):
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(sources, cpus, requested or sources))


def _rebuild_error(payload: tuple[str, str, str, str | None]) -> Exception:
    kind, message, code, hint = payload
    if kind == "DataError":
        return DataError(message, code=code, hint=hint)
    if kind == "InputError":
        return InputError(message, code=code, hint=hint)
    return RuntimeError(message)


class _Mixer:
    def __init__(
        self,
        plan: MixPlan,
        storage: Storage,
        work: Path,
        *,
        method: Method | None,
        model: NovaModel,
        token_estimator: TokenEstimator | None = None,
    ) -> None:
        self.plan = plan
        self.storage = storage
        self.work = work
        self.method = method
        self.model = model
        self.token_estimator = token_estimator
        self.key = plan.seed.to_bytes(8, "big") + b"forgeflow-mix"
        self.validation = Spill(work / "validation", bits=0)
        self.meter = ProgressMeter(None, 1)

    # -- scan ----------------------------------------------------------------------------------------

    def list_sources(self) -> dict[str, list[dict[str, Any]]]:
        """Every physical source's objects with their identity; unreadable sources fail here, first."""
        listed: dict[str, list[dict[str, Any]]] = {}
        for spec in self.plan.physical:
            objects = []
            for uri in self.storage.list_jsonl(spec.uri):
                identity = object_identity(self.storage, uri)
                identity.pop("mtime_ns", None)  # machine-local: would make reports differ needlessly
                objects.append(identity)
            listed[spec.name] = objects
        return listed

    def detect_method(self, objects: list[dict[str, Any]]) -> None:
        """Fix the blend's method from the first customer record that says (SFT unless it is DPO)."""
        if self.method is not None:
            return
        validator = RecordValidator(ValidationOptions(model=self.model))
        for identity in objects:
            with self.storage.open_input(identity["uri"]) as stream:
                for line in iter_lines(stream):
                    if line.data is not None and line.data.strip():
                        validator.check(line.number, line.data.rstrip(b"\r"))
                        if validator.method is not None:
                            self.method = validator.method
                            return
        self.method = Method.SFT

    def scan_all(self, listed: dict[str, list[dict[str, Any]]], workers: int | None) -> list[SourceScan]:
        """Scan every physical source: in parallel processes when they are local files, else in turn."""
        specs = self.plan.physical
        self.detect_method(listed[specs[0].name])
        count = _worker_count(workers, [obj["uri"] for s in specs for obj in listed[s.name]], len(specs))
        if count <= 1:
            return [self.scan(i, spec, listed[spec.name]) for i, spec in enumerate(specs)]
        return self._scan_in_processes(listed, count)

    def _scan_in_processes(self, listed: dict[str, list[dict[str, Any]]], count: int) -> list[SourceScan]:
        context = multiprocessing.get_context("fork")
        sizes = {s.name: sum(int(o.get("size") or 0) for o in listed[s.name]) for s in self.plan.physical}
        # Largest first: the longest scan starts at once, the small ones fill in around it.
        pending = sorted(enumerate(self.plan.physical), key=lambda item: -sizes[item[1].name])
        running: dict[Any, tuple[Any, int]] = {}  # receiving end → (process, source number)
        done: dict[int, SourceScan] = {}
        progress: dict[int, int] = {}
        try:
            while pending or running:
                while pending and len(running) < count:
                    number, spec = pending.pop(0)
                    receiver, sender = context.Pipe(duplex=False)
                    process = context.Process(
                        target=self._scan_worker, args=(number, spec, listed[spec.name], sender), daemon=True
                    )
                    process.start()
                    sender.close()
                    running[receiver] = (process, number)
                for ready in multiprocessing.connection.wait(list(running)):
                    receiver = cast(multiprocessing.connection.Connection, ready)
                    process, number = running[receiver]
                    try:
                        kind, payload = receiver.recv()
                    except EOFError:
                        process.join()
                        raise RuntimeError(
                            f"the scan of source {self.plan.physical[number].name!r} stopped "
                            f"(exit code {process.exitcode}); see its output above"
                        ) from None
                    if kind == "progress":
                        self.meter.advance(payload - progress.get(number, 0))
                        progress[number] = payload
                        continue
                    receiver.close()
                    process.join()
                    del running[receiver]
                    if kind == "error":
                        raise _rebuild_error(payload)
                    scan, validation = payload
                    done[number] = scan
                    if validation is not None:
                        self.validation = validation
        finally:
            for process, _ in running.values():
                process.terminate()
                process.join()
        return [done[number] for number in range(len(self.plan.physical))]

    def _scan_worker(self, number: int, spec: SourceSpec, objects: list[dict[str, Any]], sender: Any) -> None:
        """Runs in a forked process: scan one source, send back its index (or the error), never raise."""
        # The parent knows the total; this meter only reports how far the worker got.
        self.meter = ProgressMeter(lambda done, _total: sender.send(("progress", done)), 1 << 62)
        try:
            scan = self.scan(number, spec, objects)
            sender.send(("done", (scan, self.validation if spec.role == "customer" else None)))
        except ForgeFlowError as error:
            sender.send(("error", (type(error).__name__, error.message, error.code, error.hint)))
        except Exception as error:  # a crash in the child must reach the parent, not vanish with it
            sender.send(
                ("error", ("RuntimeError", f"scan of source {spec.name!r} failed: {error!r}", "", None))
            )
        finally:
            sender.close()

    def scan(self, number: int, spec: SourceSpec, objects: list[dict[str, Any]]) -> SourceScan:
        directory = self.work / f"source-{number}"
        size = sum(int(obj.get("size") or 0) for obj in objects)
        result = SourceScan(
            spec, PoolIndex(directory / "index"), Spill(directory / "spill", bits=fan_out_bits(size))
        )
        customer = spec.role == "customer"
        if customer and self.plan.validation_fraction:
            # Bucket files are key ranges: their number changes where records wait, never their order.
            expected = int(size * self.plan.validation_fraction * 2)
            self.validation = Spill(self.work / "validation", bits=fan_out_bits(expected))
        options = ValidationOptions(method=self.method, model=self.model)
        validator = RecordValidator(options)
        errors: list[str] = []
        for identity in objects:
            identity.update(self._scan_object(spec, identity["uri"], validator, result, customer, errors))
            result.objects.append(identity)
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
        if errors:
            raise DataError(
                f"{spec.role} source {spec.name!r} has invalid records: " + "; ".join(errors),
                code="INVALID_SOURCE_RECORD",
                hint="run `forgeflow validate` on it and fix or remove those records; ForgeFlow never "
                "drops records silently",
            )
        result.spill.close()
        result.pool.flush()
        if customer:
            self.validation.close()
        return result

    def _scan_object(
        self,
        spec: SourceSpec,
        uri: str,
        validator: RecordValidator,
        result: SourceScan,
        customer: bool,
        errors: list[str],
    ) -> dict[str, Any]:
        # The hot loop of the whole mix: locals only, one keyed hash per record.
        digest = hashlib.sha256()
        records = blank = held_out = 0
        fraction = self.plan.validation_fraction if customer else 0.0
        seed = self.plan.seed
        method = self.method
        assert method is not None, "detect_method runs before any scan"
        keyed = hashlib.blake2b(digest_size=16, key=self.key)
        unpack = _PQ.unpack
        check = validator.check
        pool_add = result.pool.add
        spill_add = result.spill.add
        estimate = self.token_estimator
        with self.storage.open_input(uri) as stream:
            hashing = _HashingReader(stream, digest, self.meter)
            for number, data, size, terminated in iter_lines(cast(IO[bytes], hashing)):
                if data is None:
                    errors.append(f"{uri} line {number}: line of {size:,} bytes is too long")
                    break
                if number == 1 and data.startswith(BOM):
                    errors.append(f"{uri} line 1: the file starts with a UTF-8 byte-order mark")
                    break
                if data.endswith(b"\r"):
                    data = data[:-1]
                if not data or data.isspace():
                    blank += 1
                    continue
                outcome = check(number, data, last_unterminated=not terminated)
                canonical = outcome.canonical
                if outcome.method is not method and outcome.method is not None:
                    raise DataError(
                        f"{spec.role} source {spec.name!r} holds {outcome.method.value.upper()} records "
                        f"({uri} line {number}) but the blend is {method.value.upper()}",
                        code="METHOD_MISMATCH",
                        hint="mix sources of one training method only (SFT with SFT, DPO with DPO)",
                    )
                if canonical is None or outcome.errors:
                    first = outcome.errors[0] if outcome.errors else None
                    where = f" at {first.path}" if first is not None and first.path else ""
                    what = first.message if first is not None else "not a valid record"
                    errors.append(f"{uri} line {number}{where}: {what}")
                    if len(errors) >= MAX_REPORTED_ERRORS:
                        break
                    continue
                records += 1
                hasher = keyed.copy()
                hasher.update(canonical)
                p, q = unpack(hasher.digest())
                tokens = (
                    outcome.est_tokens if estimate is None else estimate(cast(dict[str, Any], outcome.record))
                )
                if fraction and in_validation(_content_hash(outcome), seed, fraction):
                    held_out += 1
                    self.validation.add(q, p, q, tokens, canonical + b"\n")
                    continue
                pool_add(p, tokens)
                spill_add(q, p, q, tokens, canonical + b"\n")
        result.held_out += held_out
        result.blank_lines += blank
        return {"sha256": digest.hexdigest(), "records": records, "blank_lines": blank}

    # -- select --------------------------------------------------------------------------------------

    def select(self, scans: list[SourceScan]) -> list[Selection]:
        plan = self.plan
        pools = []
        for scan in scans:
            cap = scan.spec.max_records
            pools.append(
                rank_prefix(scan.pool, cap)
                if cap is not None and cap < scan.pool.records
                else Prefix(ALL, scan.pool.records, scan.pool.tokens)
            )
        weights = [scan.spec.exact_weight for scan in scans]
        shares = [w / sum(weights) for w in weights]
        tie_order = seeded_order([s.spec.name for s in scans], plan.seed, "apportion")
        tie_order_rest = [i - 1 for i in tie_order if i]
        customer_pool = pools[0]
        if customer_pool.records == 0:
            raise DataError(
                f"customer source {scans[0].spec.name!r} has no training records"
                + (f" ({scans[0].held_out:,} held out for validation)" if scans[0].held_out else ""),
                code="EMPTY_CUSTOMER_SOURCE",
                hint="add records, or lower validation_fraction",
            )
        targets: list[Fraction]
        if plan.unit is Unit.RECORDS:
            if plan.total is None:
                # Every customer record once: the mix size is the nearest integer to kept/share, and the
                # curated counts round their exact quotas (share × size) to fill it, each within one.
                kept = customer_pool.records
                total = int(kept / shares[0] + Fraction(1, 2))
                rest = round_quotas([share * total for share in shares[1:]], total - kept, tie_order_rest)
                targets = [Fraction(kept)] + [Fraction(n) for n in rest]
            else:
                targets = [Fraction(n) for n in largest_remainder(plan.total, weights, tie_order)]
            amounts = [pool.records for pool in pools]
        else:
            total_tokens = (
                Fraction(customer_pool.tokens) / shares[0] if plan.total is None else Fraction(plan.total)
            )
            targets = [share * total_tokens for share in shares]
            if plan.total is None:
                targets[0] = Fraction(customer_pool.tokens)
            amounts = [pool.tokens for pool in pools]
        for scan, amount in zip(scans[1:], amounts[1:], strict=True):
            # A declared source without data is a mistake (a wrong prefix, a filtered file), even when
            # rounding would give it no record: never let it vanish from the blend silently.
            if amount == 0:
                noun = "records" if plan.unit is Unit.RECORDS else "tokens"
                raise DataError(
                    f"curated source {scan.spec.name!r} holds no usable {noun}",
                    code="EMPTY_SOURCE",
                    hint="add data under its URI, or remove the source from the plan",
                )
        mix_total = sum(targets, Fraction(0))
        for index in range(len(scans)):
            need, have = targets[index], amounts[index]
            if need > have and (not plan.allow_upsample or have == 0):
                raise self._shortfall(scans, index, need, have, mix_total, weights)
        selections = []
        for scan, pool, need, have in zip(scans, pools, targets, amounts, strict=True):
            if need == 0:
                selections.append(Selection(pool, 0, Prefix(NONE, 0, 0)))
                continue
            passes = int(need // have)
            left = need - passes * have
            if plan.unit is Unit.RECORDS:
                remainder = rank_prefix(scan.pool, int(left))
            else:
                remainder = token_prefix(scan.pool, pool, left)
            selections.append(Selection(pool, passes, remainder))
        return selections

    def _shortfall(
        self,
        scans: list[SourceScan],
        index: int,
        need: Fraction,
        have: int,
        mix_total: Fraction,
        weights: list[Fraction],
    ) -> DataError:
        spec = scans[index].spec
        plan = self.plan
        noun = "records" if plan.unit is Unit.RECORDS else "estimated tokens"
        whole = sum(weights)
        share = weights[index] / whole
        capped = f" (max_records: {spec.max_records:,})" if spec.max_records is not None else ""
        held = scans[index].held_out
        held_note = f", after holding out {held:,} for validation" if held else ""
        message = (
            f"{spec.role} source {spec.name!r} has {have:,} {noun}{capped}{held_note}; "
            f"{_percent(share)} of a {int(mix_total):,}-{noun.split()[-1][:-1]} mix needs "
            f"{int(-(-need // 1)):,}"
        )
        if have == 0:
            return DataError(message, code="EMPTY_SOURCE", hint="add data or remove the source")
        others = whole - weights[index]
        fixes = []
        if others > 0:
            if plan.total is None and index > 0:
                # The customer amount is fixed; this source may hold at most have/customer of it.
                customer_amount = mix_total * weights[0] / whole
                max_weight = weights[0] * have / customer_amount
            else:
                max_share = Fraction(have) / mix_total
                max_weight = max_share * others / (1 - max_share)
            max_share_now = max_weight / (others + max_weight)
            fixes.append(
                f"lower its weight to ≤ {float(max_weight):.4g} (now {spec.weight:g}; that is "
                f"≤ {_percent(max_share_now, down=True)} of train.jsonl with the other weights unchanged)"
            )
        if plan.total is not None:
            fixes.append(f"lower total to ≤ {int(have / share):,}")
        fixes.append(
            f"add data, or set allow_upsample: true (it would be repeated {float(need / have):.2f}×)"
        )
        return DataError(message, code="SOURCE_TOO_SMALL", hint=", ".join(fixes))

    # -- write ---------------------------------------------------------------------------------------

    def records_of(self, scan: SourceScan, selection: Selection, number: int) -> Iterator[Entry]:
        """The selected records of one source in output order: a fresh seeded shuffle per pass."""
        for pass_number, prefix in enumerate(selection.prefixes()):
            admit = Admit(prefix.threshold)
            if pass_number == 0:
                yield from scan.spill.sorted_entries(admit=admit)
                continue
            salt = _mix64(self.plan.seed ^ _mix64(pass_number))
            reshuffled = Spill(
                self.work / f"pass-{number}-{pass_number}", bits=fan_out_bits(scan.spill.bytes, max_bits=8)
            )
            try:
                for entry in scan.spill.entries():
                    if admit(entry.p):
                        reshuffled.add(_mix64(entry.q ^ salt), entry.p, entry.q, entry.tokens, entry.line)
                yield from reshuffled.sorted_entries()
            finally:
                reshuffled.remove()

    def write_train(
        self, uri: str, scans: list[SourceScan], selections: list[Selection]
    ) -> tuple[OutputFile, list[int], dict[str, Any]]:
        streams = [
            self.records_of(s, sel, i) for i, (s, sel) in enumerate(zip(scans, selections, strict=True))
        ]
        counts = [selection.records for selection in selections]
        tokens = [0] * len(scans)
        output = OutputFile(uri)
        digest = hashlib.sha256()
        batch = bytearray()
        run_source, run_length, longest, longest_source, longest_start = -1, 0, 0, -1, 0
        order = seeded_order([s.spec.name for s in scans], self.plan.seed, "interleave")
        with self.storage.open_output(uri) as writer:
            for position, source in enumerate(interleave(counts, order)):
                entry = next(streams[source], None)
                if entry is None:
                    raise AssertionError(f"source {scans[source].spec.name!r} ran out of selected records")
                line = entry.line
                batch += line
                tokens[source] += entry.tokens
                if source == run_source:
                    run_length += 1
                else:
                    run_source, run_length = source, 1
                if run_length > longest:
                    longest, longest_source, longest_start = run_length, source, position - run_length + 1
                if len(batch) >= _WRITE_BATCH:
                    self._flush(writer, batch, digest, output)
            self._flush(writer, batch, digest, output)
        output.records = sum(counts)
        output.est_tokens = sum(tokens)
        output.sha256 = digest.hexdigest()
        run = {
            "length": longest,
            "source": scans[longest_source].spec.name if longest_source >= 0 else None,
            "start_line": longest_start + 1 if longest else None,
        }
        return output, tokens, run

    def write_validation(self, uri: str) -> OutputFile:
        output = OutputFile(uri)
        digest = hashlib.sha256()
        batch = bytearray()
        with self.storage.open_output(uri) as writer:
            for entry in self.validation.sorted_entries():
                batch += entry.line
                output.records += 1
                output.est_tokens += entry.tokens
                if len(batch) >= _WRITE_BATCH:
                    self._flush(writer, batch, digest, output)
            self._flush(writer, batch, digest, output)
        output.sha256 = digest.hexdigest()
        return output

    def _flush(self, writer: Any, batch: bytearray, digest: Any, output: OutputFile) -> None:
        if batch:
            data = bytes(batch)
            writer.write(data)
            digest.update(data)
            output.bytes += len(data)
            self.meter.advance(len(data))
            batch.clear()


def _percent(share: Fraction, *, down: bool = False) -> str:
    value = float(share) * 100
    if down:
        value = int(value * 10) / 10
    return f"{value:.1f} %"


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
) -> MixReport:
    """Blend the plan's sources into `train.jsonl`, `validation.jsonl` and `mix_report.json` under out_uri.

    Raises DataError (invalid plan or data, a ratio the data cannot satisfy) or InputError (unreadable
    source) before anything is written. `workdir` holds the temporary spill (about the input's size;
    default: the system temp folder); `progress(done, total)` counts bytes read and written. `workers`
    caps the processes that scan local sources in parallel (default: one per source, up to the CPUs;
    1 scans in turn). The output never depends on it. `token_estimator(record) -> int` replaces the
    documented estimate (forgeflow.dataset.tokens) for `unit: tokens` and the report's token figures.
    """
    started = time.monotonic()
    forge = forge_data_mixing(plan)
    if compute is Compute.SERVERFUL:
        check_compute(plan, compute, method=method or Method.SFT, model=model)
    with tempfile.TemporaryDirectory(prefix="forgeflow-mix-", dir=workdir) as temporary:
        work = Path(temporary)
        mixer = _Mixer(plan, storage, work, method=method, model=model, token_estimator=token_estimator)
        listed = mixer.list_sources()
        input_bytes = sum(int(obj.get("size") or 0) for objects in listed.values() for obj in objects)
        mixer.meter = ProgressMeter(progress, 2 * input_bytes)
        scans = mixer.scan_all(listed, workers)
        assert mixer.method is not None
        check_compute(plan, compute, method=mixer.method, model=model)
        selections = mixer.select(scans)
        planned = sum(
            int(sel.records * scan.mean_line_bytes) for scan, sel in zip(scans, selections, strict=True)
        )
        mixer.meter.total = max(input_bytes + planned + mixer.validation.bytes, 1)
        train, tokens, run = mixer.write_train(join(out_uri, TRAIN_FILE), scans, selections)
        validation = mixer.write_validation(join(out_uri, VALIDATION_FILE))
        report = MixReport(
            plan=plan.resolved(),
            method=mixer.method,
            model=model,
            compute=compute,
            sources=_source_entries(plan, scans, selections, tokens, train),
            train=train,
            validation=validation,
            longest_run=run,
            forge=forge,
            token_estimator=DEFAULT_ESTIMATOR
            if token_estimator is None
            else f"{token_estimator.__module__}.{token_estimator.__qualname__}",
            input_bytes=input_bytes,
        )
        storage.write_bytes(
            join(out_uri, REPORT_FILE), orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"
        )
        mixer.meter.finish()
        report.seconds = time.monotonic() - started
        return report


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
