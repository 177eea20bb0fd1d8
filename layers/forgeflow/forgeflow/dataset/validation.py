"""The streaming Converse validator: every rule of the format, one pass, bounded memory.

This module is the public entry: `validate_stream` / `validate_uri` run it all. The pass over the lines
(byte-level faults: BOM, CRLF, blank, over-long and truncated lines, a JSON-array file) is in `passes.py`,
the report (duplicates, statistics, the dataset-wide checks) in `report.py`. The rules of one record are in
`record.py` (the walk: record → messages → content blocks) and `blocks.py` (each non-text block kind);
their public names are re-exported here, where callers import them.

The hot path is a hand-written structural checker over orjson-parsed dicts (pydantic models per record
would cost the 50 MB/s target; `forgeflow.dataset.converse` holds the same schema as typed models and the
tests prove the two agree). Common valid records take `fast.py` (one reserved-string scan per read chunk,
one tight pass); the full walk in `record.py` checks the rest and alone builds findings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

from forgeflow.dataset.lines import GZIP_MAGIC
from forgeflow.dataset.options import MediaProbe, Platform, ValidationOptions
from forgeflow.dataset.parallel import validate_file, worker_count
from forgeflow.dataset.passes import LinePass
from forgeflow.dataset.record import RecordOutcome, RecordValidator
from forgeflow.dataset.report import ReportBuilder, ValidationReport
from forgeflow.dataset.stats import ValidationStats
from forgeflow.dataset.walk import Issue
from forgeflow.storage import Storage, parse_uri

__all__ = [
    "Issue",
    "MediaProbe",
    "Platform",
    "RecordOutcome",
    "RecordValidator",
    "ReportBuilder",
    "ValidationOptions",
    "ValidationReport",
    "ValidationStats",
    "storage_media_probe",
    "validate_stream",
    "validate_uri",
]


def validate_stream(
    stream: IO[bytes],
    options: ValidationOptions | None = None,
    source: str = "<stream>",
    *,
    progress: Callable[[int], None] | None = None,
    media_probe: MediaProbe | None = None,
) -> ValidationReport:
    """Validates a JSON Lines stream in one pass; memory stays bounded whatever its size.

    `progress`, when given, is called with the number of bytes consumed so far (every ~16 MiB);
    `media_probe`, when given, checks that every referenced media object exists and is within its limit.
    """
    options = options or ValidationOptions()
    validator = RecordValidator(options, media_probe=media_probe)
    builder = ReportBuilder(options, source)
    tally = LinePass(validator, builder, progress=progress).run(stream)
    builder.crlf(tally.crlf_lines, tally.first_crlf)
    if progress is not None:
        progress(tally.consumed)
    return builder.finish(validator.method)


def validate_uri(
    storage: Storage,
    uri: str,
    options: ValidationOptions | None = None,
    *,
    progress: Callable[[int], None] | None = None,
    workers: int | None = 1,
) -> ValidationReport:
    """Validates the file at a local path or s3:// URI (InputError when it cannot be read).

    With `options.check_media`, every referenced media object is looked up (HEAD) through `storage`.
    `workers`: processes for a plain local file (None: one per CPU above `parallel.PARALLEL_MIN_BYTES`;
    1: this process); the report is the same whatever the count.
    """
    options = options or ValidationOptions()
    local = _splittable(uri, options)
    if local is not None and workers != 1:
        count = worker_count(workers, local.stat().st_size)
        if count > 1:
            return validate_file(local, options, uri, count, progress=progress)
    probe = storage_media_probe(storage) if options.check_media else None
    with storage.open_input(uri) as stream:
        return validate_stream(stream, options, source=uri, progress=progress, media_probe=probe)


def _splittable(uri: str, options: ValidationOptions) -> Path | None:
    """The local file `uri` names when byte ranges of it can be validated apart (not gzip, no probe)."""
    if options.check_media or uri.startswith("s3://"):
        return None
    path = parse_uri(uri).path
    if path is None or not path.is_file():
        return None
    with path.open("rb") as head:
        return None if head.read(len(GZIP_MAGIC)) == GZIP_MAGIC else path


def storage_media_probe(storage: Storage) -> MediaProbe:
    """A MediaProbe answering with S3 HEAD requests through `storage`."""

    def probe(uri: str) -> int | None:
        location = parse_uri(uri)
        assert location.bucket is not None  # the URI passed the s3:// check
        head = storage.s3.head(location.bucket, location.key)
        return None if head is None else int(head.get("ContentLength", 0))

    return probe
