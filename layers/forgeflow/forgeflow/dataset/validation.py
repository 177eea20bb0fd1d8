"""The streaming Converse validator: every rule of the format, one pass, bounded memory.

This module is the file side and the public entry: reading lines, byte-level faults (BOM, CRLF, blank,
over-long and truncated lines, a JSON-array file), duplicates, statistics, the dataset-wide checks and
the `ValidationReport`; `validate_stream` / `validate_uri` run it all. The rules of one record are in
`record.py` (the walk: record → messages → content blocks) and `blocks.py` (each non-text block kind);
their public names are re-exported here, where callers import them.

The hot path is a hand-written structural checker over orjson-parsed dicts (pydantic models per record
would cost the 50 MB/s target; `forgeflow.dataset.converse` holds the same schema as typed models and the
tests prove the two agree). Common valid records take `fast.py` (one raw-line reserved-string scan, one
tight pass); the full walk in `record.py` checks the rest and alone builds findings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from forgeflow.dataset.duplicates import DuplicateCounter
from forgeflow.dataset.lines import BOM, iter_lines
from forgeflow.dataset.options import MediaProbe, Platform, ValidationOptions
from forgeflow.dataset.record import RecordOutcome, RecordValidator
from forgeflow.dataset.stats import StatsCollector, ValidationStats
from forgeflow.dataset.walk import Issue, make_issue
from forgeflow.nova import Method, NovaModel
from forgeflow.storage import Storage, parse_uri
from forgeflow.wording import plural

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

# Bedrock customization jobs' record-count bounds; SageMaker's come from the recipe's limit tables.
BEDROCK_MIN_RECORDS = 8
BEDROCK_LITE_2_SFT_MIN_RECORDS = 200
BEDROCK_MAX_RECORDS = 20_000


@dataclass
class ValidationReport:
    """The outcome for one file: counts, the first `max_error_details` findings, statistics."""

    source: str
    options: ValidationOptions
    records: int = 0
    valid_records: int = 0
    error_count: int = 0
    warning_count: int = 0
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    error_codes: dict[str, int] = field(default_factory=dict)
    warning_codes: dict[str, int] = field(default_factory=dict)
    stats: ValidationStats = field(default_factory=ValidationStats.empty)

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def add(self, issue: Issue, *, warning: bool = False) -> None:
        limit = self.options.max_error_details
        if warning and not self.options.strict:
            self.warning_count += 1
            self.warning_codes[issue.code] = self.warning_codes.get(issue.code, 0) + 1
            if len(self.warnings) < limit:
                self.warnings.append(issue)
            return
        self.error_count += 1
        self.error_codes[issue.code] = self.error_codes.get(issue.code, 0) + 1
        if len(self.errors) < limit:
            self.errors.append(issue)

    def to_dict(self) -> dict[str, Any]:
        stats = self.stats.to_dict()
        return {
            "valid": self.valid,
            "source": self.source,
            "target": {
                "method": stats["method"],
                "model": self.options.model.value,
                "platform": self.options.platform,
                "strict": self.options.strict,
            },
            "records": self.records,
            "valid_records": self.valid_records,
            "error_count": self.error_count,
            "errors": [issue.to_dict() for issue in self.errors],
            "errors_truncated": self.error_count > len(self.errors),
            "error_codes": dict(sorted(self.error_codes.items())),
            "warning_count": self.warning_count,
            "warnings": [issue.to_dict() for issue in self.warnings],
            "warning_codes": dict(sorted(self.warning_codes.items())),
            "stats": stats,
        }


class ReportBuilder:
    """Accumulates line findings and record outcomes into a report: counts, duplicates, statistics."""

    def __init__(self, options: ValidationOptions, source: str) -> None:
        self.options = options
        self.report = ValidationReport(source=source, options=options)
        self.stats = StatsCollector()
        self._duplicates = DuplicateCounter()  # bounded memory: sorted runs spill to temporary files
        self.first_image_line = 0  # the first record (valid or not) holding an image, and a video
        self.first_video_line = 0

    def issue(self, issue: Issue, *, warning: bool = False) -> None:
        self.report.add(issue, warning=warning)

    def blank(self, number: int) -> None:
        self.stats.blank_lines += 1
        self.report.add(make_issue(number, "", "BLANK_LINE", "blank line"), warning=True)

    def outcome(self, number: int, outcome: RecordOutcome) -> None:
        report = self.report
        for issue in outcome.errors:
            report.add(issue)
        for issue in outcome.warnings:
            report.add(issue, warning=True)
        counts = outcome.counts
        if counts is None:
            return
        if counts.images and not self.first_image_line:
            self.first_image_line = number
        if counts.videos and not self.first_video_line:
            self.first_video_line = number
        if outcome.errors:
            return
        report.valid_records += 1
        dump = outcome.sorted_json
        if dump is None:  # a fast-path record: the full walk alone makes the dump
            dump = orjson.dumps(outcome.record, option=orjson.OPT_SORT_KEYS)
        self._duplicates.add(hash(dump))
        self.stats.add(number, counts, outcome.est_tokens)

    def finish(self, method: Method | None) -> ValidationReport:
        self.stats.method = method
        self.stats.duplicates = self._duplicates.count()
        _dataset_checks(self.report, self.options, method)
        if self.options.model is NovaModel.LITE_2 and self.first_image_line and self.first_video_line:
            # Nova 2.0 SFT data prep ("Fine-tune Nova 2.0", SageMaker dg/nova-fine-tune-2.html): "You cannot
            # mix images and videos within the same dataset or across different turns".
            images, videos = self.first_image_line, self.first_video_line
            detail = (
                f"line {images} has images and line {videos} a video; Nova 2 Lite trains one kind per dataset"
            )
            self.report.add(make_issue(max(images, videos), "", "IMAGES_AND_VIDEOS_IN_DATASET", detail))
        self.report.stats = self.stats.result()
        return self.report


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
    report = builder.report
    consumed = 0
    next_progress = 1 << 24
    crlf_lines = 0
    first_crlf = 0
    first_record = True
    check = validator.check_line
    for number, data, size, terminated in iter_lines(stream, max_line_bytes=options.max_line_bytes):
        consumed += size + 1
        if progress is not None and consumed >= next_progress:
            progress(consumed)
            next_progress = consumed + (1 << 24)
        if data is None:
            report.records += 1
            detail = f"line of {size:,} bytes, over the {options.max_line_bytes:,}-byte cap"
            builder.issue(make_issue(number, "", "LINE_TOO_LONG", detail))
            continue
        if number == 1 and data.startswith(BOM):
            data = data[len(BOM) :]
            builder.issue(make_issue(1, "", "BOM", "the file starts with a UTF-8 byte-order mark"))
        if data.endswith(b"\r"):
            data = data[:-1]
            crlf_lines += 1
            first_crlf = first_crlf or number
        if not data or data.isspace():
            builder.blank(number)
            continue
        report.records += 1
        if first_record:
            first_record = False
            if data.lstrip().startswith(b"["):
                builder.issue(
                    make_issue(number, "", "JSON_ARRAY_FILE", "the file is a JSON array, not JSON Lines")
                )
                break
        builder.outcome(number, check(number, data, last_unterminated=not terminated))
    if crlf_lines:
        verb = "ends" if crlf_lines == 1 else "end"
        detail = f"{plural(crlf_lines, 'line')} {verb} with CRLF, the first is line {first_crlf}"
        builder.issue(make_issue(first_crlf, "", "CRLF_LINE_ENDING", detail), warning=True)
    if progress is not None:
        progress(consumed)
    return builder.finish(validator.method)


def _dataset_checks(report: ValidationReport, options: ValidationOptions, method: Method | None) -> None:
    if report.records == 0:
        report.add(make_issue(0, "", "EMPTY_FILE", "the file holds no records"))
        return
    if options.platform != "bedrock":
        return
    minimum = BEDROCK_MIN_RECORDS
    if options.model is NovaModel.LITE_2 and method is not Method.DPO:
        minimum = BEDROCK_LITE_2_SFT_MIN_RECORDS
    if report.records < minimum:
        detail = f"{report.records} records, Bedrock needs at least {minimum} for {options.model}"
        report.add(make_issue(0, "", "TOO_FEW_RECORDS", detail))
    elif report.records > BEDROCK_MAX_RECORDS:
        detail = f"{report.records} records, Bedrock accepts at most {BEDROCK_MAX_RECORDS:,}"
        report.add(make_issue(0, "", "TOO_MANY_RECORDS", detail))


def validate_uri(
    storage: Storage,
    uri: str,
    options: ValidationOptions | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> ValidationReport:
    """Validates the file at a local path or s3:// URI (InputError when it cannot be read).

    With `options.check_media`, every referenced media object is looked up (HEAD) through `storage`.
    """
    options = options or ValidationOptions()
    probe = storage_media_probe(storage) if options.check_media else None
    with storage.open_input(uri) as stream:
        return validate_stream(stream, options, source=uri, progress=progress, media_probe=probe)


def storage_media_probe(storage: Storage) -> MediaProbe:
    """A MediaProbe answering with S3 HEAD requests through `storage`."""

    def probe(uri: str) -> int | None:
        location = parse_uri(uri)
        assert location.bucket is not None  # the URI passed the s3:// check
        head = storage.s3.head(location.bucket, location.key)
        return None if head is None else int(head.get("ContentLength", 0))

    return probe
