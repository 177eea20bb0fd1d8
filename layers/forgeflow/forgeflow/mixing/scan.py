"""Step 1 of a mix, the scan: every source read once, validated, indexed by `p` and spilled by `q`.

Each record is validated with the dataset validator (an invalid record fails its source, naming file and
line), written in canonical form to temporary bucket files keyed by `q`, and indexed by `p` (two seeded
hashes of its canonical bytes). Customer records in the seeded validation hold-out go to their own spill,
so they can never reach train. Local sources are scanned in parallel forked processes; the result never
depends on how many.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from forgeflow.dataset.lines import CHUNK_BYTES, iter_lines
from forgeflow.dataset.validation import RecordValidator, ValidationOptions
from forgeflow.errors import DataError, ForgeFlowError, InputError
from forgeflow.mixing.objectscan import MAX_REPORTED_ERRORS, Exclusion, ObjectScan, TokenEstimator
from forgeflow.mixing.plan import MixPlan, SourceSpec
from forgeflow.mixing.progress import ProgressMeter
from forgeflow.mixing.selection import PoolIndex
from forgeflow.mixing.spill import Spill, fan_out_bits
from forgeflow.nova import Method, NovaModel
from forgeflow.storage import Storage, object_identity, parse_uri

Listing = dict[str, list[dict[str, Any]]]  # physical source name → identities of its objects


@dataclass
class SourceScan:
    """What the scan learnt about one physical source."""

    spec: SourceSpec
    pool: PoolIndex
    spill: Spill
    objects: list[dict[str, Any]] = field(default_factory=list)
    held_out: int = 0
    excluded: int = 0
    blank_lines: int = 0

    @property
    def mean_line_bytes(self) -> float:
        return self.spill.bytes / self.spill.count if self.spill.count else 0.0


@dataclass(frozen=True)
class Scanned:
    """The scan's result: every physical source in plan order, the validation hold-out, the method."""

    sources: list[SourceScan]
    validation: Spill
    method: Method


def list_sources(plan: MixPlan, storage: Storage) -> Listing:
    """Every physical source's objects with their identity; unreadable sources fail here, first."""
    listed: Listing = {}
    for spec in plan.physical:
        objects = []
        for uri in storage.list_jsonl(spec.uri):
            identity = object_identity(storage, uri)
            identity.pop("mtime_ns", None)  # machine-local: would make reports differ needlessly
            objects.append(identity)
        listed[spec.name] = objects
    return listed


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


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C back while a worker forks and is recorded, or while workers are stopped: it then lands
    where the scan can stop every worker, not inside fork's own hooks (an "Exception ignored" traceback)
    nor half-way through stopping them (a worker left writing while the work folder is removed)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _rebuild_error(payload: tuple[str, str, str, str | None]) -> Exception:
    kind, message, code, hint = payload
    if kind == "DataError":
        return DataError(message, code=code, hint=hint)
    if kind == "InputError":
        return InputError(message, code=code, hint=hint)
    return RuntimeError(message)


def _invalid_source(spec: SourceSpec, errors: list[str]) -> DataError:
    return DataError(
        f"{spec.role} source {spec.name!r} has invalid records: " + "; ".join(errors),
        code="INVALID_SOURCE_RECORD",
        hint="run `forgeflow validate` on it and fix or remove those records; ForgeFlow never "
        "drops records silently",
    )


class Scanner:
    """Scans the plan's physical sources into temporary files under `work`."""

    def __init__(
        self,
        plan: MixPlan,
        storage: Storage,
        work: Path,
        meter: ProgressMeter,
        *,
        method: Method | None,
        model: NovaModel,
        token_estimator: TokenEstimator | None = None,
        exclude: Exclusion | None = None,
    ) -> None:
        self.plan = plan
        self.storage = storage
        self.work = work
        self.meter = meter
        self.method = method
        self.model = model
        self.token_estimator = token_estimator
        self.exclude = exclude
        self.key = plan.seed.to_bytes(8, "big") + b"forgeflow-mix"
        self.validation = Spill(work / "validation", bits=0)

    def scan_all(self, listed: Listing, workers: int | None) -> Scanned:
        """Scan every physical source: in parallel processes when they are local files, else in turn."""
        specs = self.plan.physical
        self.detect_method(listed[specs[0].name])
        count = _worker_count(workers, [obj["uri"] for s in specs for obj in listed[s.name]], len(specs))
        if count <= 1:
            sources = [self.scan(i, spec, listed[spec.name]) for i, spec in enumerate(specs)]
        else:
            sources = self._scan_in_processes(listed, count)
        assert self.method is not None
        return Scanned(sources, self.validation, self.method)

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

    def _scan_in_processes(self, listed: Listing, count: int) -> list[SourceScan]:
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
                    with _interrupts_held():
                        process.start()
                        running[receiver] = (process, number)
                    sender.close()
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
            with _interrupts_held():  # a second Ctrl-C must not leave a worker writing into the work folder
                for process, _ in running.values():
                    process.terminate()
                    process.join()
        return [done[number] for number in range(len(self.plan.physical))]

    def _scan_worker(self, number: int, spec: SourceSpec, objects: list[dict[str, Any]], sender: Any) -> None:
        """Runs in a forked process: scan one source, send back its index (or the error), never raise."""
        # Ctrl-C reaches the whole process group: the parent stops the scan, terminates this process and
        # removes the work folder; here it would only print a KeyboardInterrupt traceback per worker.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # forked while held (_interrupts_held)
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
        """Scan one source's objects in turn; up to ten invalid records fail it, all named at once."""
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
        validator = RecordValidator(ValidationOptions(method=self.method, model=self.model))
        errors: list[str] = []
        for identity in objects:
            identity.update(self._scan_object(identity["uri"], validator, result, errors))
            result.objects.append(identity)
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
        if errors:
            raise _invalid_source(spec, errors)
        result.spill.finish()
        result.pool.flush()
        if customer:
            self.validation.finish()
        return result

    def _scan_object(
        self, uri: str, validator: RecordValidator, result: SourceScan, errors: list[str]
    ) -> dict[str, Any]:
        """Scan one object into `result` (invalid records into `errors`); its report entry's counts."""
        digest = hashlib.sha256()
        assert self.method is not None, "detect_method runs before any scan"
        customer = result.spec.role == "customer"
        scan = ObjectScan(
            uri,
            result.spec,
            validator,
            self.method,
            hashlib.blake2b(digest_size=16, key=self.key),
            result.pool,
            result.spill,
            self.validation,
            self.plan.validation_fraction if customer else 0.0,
            self.plan.seed,
            self.token_estimator,
            errors,
            exclude=None if customer else self.exclude,
        )
        with self.storage.open_input(uri) as stream:
            scan.run(_HashingReader(stream, digest, self.meter), CHUNK_BYTES)
        result.held_out += scan.held_out
        result.excluded += scan.excluded
        result.blank_lines += scan.blank
        return {"sha256": digest.hexdigest(), "records": scan.records, "blank_lines": scan.blank}
