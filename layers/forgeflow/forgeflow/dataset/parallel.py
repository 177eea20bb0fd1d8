"""Validation of a large local file by several processes, one byte range each, with the one-process report.

The file is cut into ranges at newlines; each worker validates its range with a `LinePass` numbering
lines from 1 and hands back its `ReportBuilder`; the parent merges the builders in file order, shifting
line numbers by the lines of the ranges before, so findings, counts, statistics and duplicates are those
of `validate_stream` over the whole file (a hypothesis test compares the two reports).

Two things of a range depend on the lines before it: whether its first record is the file's first (the
JSON-array check), and the dataset's method (the first record with a `messages` array decides). A range
that guessed either wrong (blank or over-long lines filling the ranges before it; a mixed-method file,
invalid anyway) is validated again in the parent, knowing both. The BOM belongs to the first range.

Only plain local files go parallel, and only without `check_media` (whose probe holds an S3 client):
S3 objects, stdin and gzip stay one stream, so the Lambda path is one process.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from forgeflow.dataset.lines import CHUNK_BYTES
from forgeflow.dataset.options import ValidationOptions
from forgeflow.dataset.passes import PROGRESS_BYTES, LinePass, LineTally
from forgeflow.dataset.record import RecordValidator
from forgeflow.dataset.report import ReportBuilder, ValidationReport
from forgeflow.nova import Method

# Below this (auto), a second process costs more (its start, the merge) than it saves.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
_CONTEXT = multiprocessing.get_context()  # the platform's default start method
_SEEK_STEP = 1024 * 1024


@dataclass(frozen=True)
class _Range:
    path: str
    start: int
    end: int
    options: ValidationOptions
    source: str
    first_record: bool  # the range's first record is the file's first
    method: Method | None  # the method decided before the range (None: not yet, or not known)
    chunk_bytes: int
    progress_bytes: int
    stable_keys: bool  # duplicate keys by blake2b, not hash() (workers not forked from the parent)


@dataclass
class _Part:
    builder: ReportBuilder  # its duplicate runs exported (a counter with files does not pickle)
    runs: list[tuple[str, int, int]]
    tally: LineTally
    method: Method | None  # the method the range ended with
    first_record_left: bool  # no record of the range was the file's first though it might have been


Progress = Callable[[int], None]
Mapper = Callable[[Callable[[_Range], _Part], Iterable[_Range]], Iterator[_Part]]


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count(requested: int | None, size: int) -> int:
    """`requested` workers, or (None: auto) one per CPU for a file of `PARALLEL_MIN_BYTES` or more."""
    if requested is not None:
        return max(1, requested)
    if size < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(available_cpus(), size // (PARALLEL_MIN_BYTES // 2)))


def split_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """Up to `parts` byte ranges of about equal size, each ending just after a newline (the last at EOF)."""
    size = path.stat().st_size
    cuts = [0]
    with path.open("rb") as stream:
        for index in range(1, parts):
            cut = _next_line_start(stream, max(size * index // parts, cuts[-1]), size)
            if cuts[-1] < cut < size:
                cuts.append(cut)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def _next_line_start(stream: IO[bytes], position: int, size: int) -> int:
    """The offset just after the first newline at or after `position` (`size` when there is none)."""
    stream.seek(position)
    while position < size:
        chunk = stream.read(_SEEK_STEP)
        if not chunk:
            break
        found = chunk.find(b"\n")
        if found >= 0:
            return position + found + 1
        position += len(chunk)
    return size


def validate_file(
    path: Path,
    options: ValidationOptions,
    source: str,
    workers: int,
    *,
    progress: Callable[[int], None] | None = None,
    mapper: Mapper | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    progress_bytes: int = PROGRESS_BYTES,
    poll_seconds: float = 0.2,
) -> ValidationReport:
    """The report of `validate_stream` over the local file `path`, computed by up to `workers` processes.

    `progress` is called while the workers run (every `poll_seconds`) and once at the end, with the bytes
    consumed so far; each worker counts its bytes every `progress_bytes`. `mapper` replaces the process
    pool and `chunk_bytes` the read size (tests: ranges in-process, chunk boundaries anywhere).
    """
    # Duplicate keys must agree across the processes: forked workers share the parent's hash() secret
    # (the default start method on Linux); any other start method gets the blake2b key, ~6x dearer
    # (12.8 ms against 2.1 ms for the keys of bench/validate.py's 11 MB text SFT corpus).
    stable = mapper is None and _CONTEXT.get_start_method() != "fork"
    ranges = [
        _Range(str(path), start, end, options, source, start == 0, None, chunk_bytes, progress_bytes, stable)
        for start, end in split_ranges(path, workers)
    ]
    if mapper is None:
        parts = _in_workers(ranges, progress, poll_seconds)
    else:
        parts = list(mapper(validate_range, ranges))
    return _merge(options, source, ranges, parts, progress, stable)


def _in_workers(ranges: list[_Range], progress: Progress | None, poll_seconds: float) -> list[_Part]:
    """`validate_range` of each range in its own process; while they run, `progress` is called every
    `poll_seconds` with the bytes the workers have consumed so far (a counter they share)."""
    consumed = _CONTEXT.Value("q", 0)
    with ProcessPoolExecutor(
        max_workers=len(ranges), mp_context=_CONTEXT, initializer=_share_counter, initargs=(consumed,)
    ) as pool:
        futures = [pool.submit(validate_range, task) for task in ranges]
        pending: set[Future[_Part]] = set(futures)
        while pending:
            _, pending = wait(pending, timeout=poll_seconds, return_when=FIRST_EXCEPTION)
            if progress is not None:
                progress(consumed.value)
        return [future.result() for future in futures]


_shared_consumed: Any = None  # in a worker process: the byte counter its parent polls (`_in_workers`)


def _share_counter(counter: Any) -> None:
    global _shared_consumed
    _shared_consumed = counter


def _counting() -> Progress | None:
    """A LinePass progress callback adding a range's newly consumed bytes to the shared counter, if any."""
    counter = _shared_consumed
    if counter is None:
        return None
    reported = 0

    def report(consumed: int) -> None:
        nonlocal reported
        with counter.get_lock():
            counter.value += consumed - reported
        reported = consumed

    return report


def _merge(
    options: ValidationOptions,
    source: str,
    ranges: list[_Range],
    parts: list[_Part],
    progress: Progress | None,
    stable: bool,
) -> ValidationReport:
    builder = ReportBuilder(options, source, stable_keys=stable)
    for part in parts:  # this process owns their spill files now (removed once merged or dropped)
        part.builder.adopt_duplicates(part.runs)
    method, first_record = options.method, True
    shift = crlf_lines = first_crlf = consumed = 0
    for task, part in zip(ranges, parts, strict=True):
        wrong_method = method is not None and part.method not in (None, method)
        if wrong_method or first_record != task.first_record:
            part = validate_range(replace(task, first_record=first_record, method=method))
            part.builder.adopt_duplicates(part.runs)
        method = method or part.method
        first_record = part.first_record_left
        builder.merge(part.builder, shift)
        crlf_lines += part.tally.crlf_lines
        first_crlf = first_crlf or (part.tally.first_crlf and part.tally.first_crlf + shift)
        shift += part.tally.lines
        consumed += part.tally.consumed
        if part.tally.stopped:  # a JSON array file: the single pass stops at its first record too
            break
    builder.crlf(crlf_lines, first_crlf)
    if progress is not None:
        progress(consumed)
    return builder.finish(method)


def validate_range(task: _Range) -> _Part:
    """Validates one byte range (in a worker process): its builder, tally and method."""
    validator = RecordValidator(task.options)
    if task.method is not None:
        validator.method = task.method
    builder = ReportBuilder(task.options, task.source, stable_keys=task.stable_keys)
    report = _counting()
    line_pass = LinePass(
        validator,
        builder,
        progress=report,
        file_start=task.start == 0,
        first_record=task.first_record,
        chunk_bytes=task.chunk_bytes,
        progress_bytes=task.progress_bytes,
    )
    with open(task.path, "rb") as stream:
        stream.seek(task.start)
        tally = line_pass.run(_Bounded(stream, task.end - task.start))
    if report is not None:
        report(tally.consumed)
    first_left = task.first_record and line_pass.first_record
    return _Part(builder, builder.export_duplicates(), tally, validator.method, first_left)


class _Bounded:
    """The next `left` bytes of a binary file, as a readable stream."""

    def __init__(self, stream: IO[bytes], left: int) -> None:
        self._read = stream.read
        self._left = left

    def read(self, size: int = -1, /) -> bytes:
        if self._left <= 0:
            return b""
        data = self._read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return data
