"""The report of one validated file: `ValidationReport` and `ReportBuilder`, which fills it.

The builder accumulates line findings and record outcomes (counts, duplicates, statistics) and, at the
end, the dataset-wide checks (`finish`). `validation.py` drives it over a stream; `parallel.py` merges
the builders of byte ranges into one, in line order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from forgeflow.dataset.duplicates import DuplicateCounter
from forgeflow.dataset.options import ValidationOptions
from forgeflow.dataset.record import RecordOutcome
from forgeflow.dataset.stats import StatsCollector, ValidationStats
from forgeflow.dataset.tokens import RecordCounts, tokens_of_many
from forgeflow.dataset.walk import Issue, make_issue
from forgeflow.nova import Method, NovaModel
from forgeflow.wording import plural

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

    def __init__(self, options: ValidationOptions, source: str, *, stable_keys: bool = False) -> None:
        self.options = options
        self.report = ValidationReport(source=source, options=options)
        self.stats = StatsCollector()
        self._duplicates = DuplicateCounter()  # bounded memory: sorted runs spill to temporary files
        # hash() is salted per process (PYTHONHASHSEED): builders whose keys meet (parallel ranges) need a
        # digest that is the same in every process.
        self.key: Callable[[bytes], int] = _stable_key if stable_keys else hash
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
        if outcome.errors:
            self._media_lines(number, counts)
            return
        dump = outcome.sorted_json
        if dump is None:  # a fast-path record: the full walk alone makes the dump
            dump = orjson.dumps(outcome.record, option=orjson.OPT_SORT_KEYS)
        self._valid(number, counts, outcome.est_tokens, dump)

    def fast_batch(self, lines: list[int], counts: list[RecordCounts], keys: list[int]) -> None:
        """The records the fast path accepted in one chunk (`passes.LinePass.block`), lines ascending, with
        the duplicate keys of their sorted dumps (`key`, taken as each dump is made); the chunk's other
        records may have come before: nothing here depends on that order."""
        if not lines:
            return
        stats = self.stats
        media = stats.images + stats.videos
        stats.add_batch(lines, counts, tokens_of_many(counts))
        if stats.images + stats.videos > media:
            for number, record_counts in zip(lines, counts, strict=True):
                self._media_lines(number, record_counts)
        self.report.valid_records += len(lines)
        self._duplicates.add_many(keys)

    def _valid(self, number: int, counts: RecordCounts, tokens: int, dump: bytes) -> None:
        if counts.images or counts.videos:
            self._media_lines(number, counts)
        self.report.valid_records += 1
        self._duplicates.add(self.key(dump))
        self.stats.add(number, counts, tokens)

    def _media_lines(self, number: int, counts: RecordCounts) -> None:
        # The smallest line, whatever the order records come in (see `fast_batch`).
        if counts.images and not 0 < self.first_image_line < number:
            self.first_image_line = number
        if counts.videos and not 0 < self.first_video_line < number:
            self.first_video_line = number

    def merge(self, part: ReportBuilder, shift: int) -> None:
        """Appends the findings and counts of `part`, a builder of the lines after this one's, `shift`
        lines further into the file (its line numbers start at 1)."""
        mine, theirs = self.report, part.report
        mine.records += theirs.records
        mine.valid_records += theirs.valid_records
        limit = self.options.max_error_details
        for issues, more in ((mine.errors, theirs.errors), (mine.warnings, theirs.warnings)):
            issues += [replace(issue, line=issue.line + shift) for issue in more[: limit - len(issues)]]
        mine.error_count += theirs.error_count
        mine.warning_count += theirs.warning_count
        for codes, more_codes in (
            (mine.error_codes, theirs.error_codes),
            (mine.warning_codes, theirs.warning_codes),
        ):
            for code, count in more_codes.items():
                codes[code] = codes.get(code, 0) + count
        self.stats.merge(part.stats, shift)
        self._duplicates.adopt(part.export_duplicates())
        if part.first_image_line and not self.first_image_line:
            self.first_image_line = part.first_image_line + shift
        if part.first_video_line and not self.first_video_line:
            self.first_video_line = part.first_video_line + shift

    def export_duplicates(self) -> list[tuple[str, int, int]]:
        """The duplicate keys' sorted runs (in files), handed over: to ship the builder to another process."""
        return self._duplicates.export()

    def adopt_duplicates(self, runs: list[tuple[str, int, int]]) -> None:
        """Takes the runs `export_duplicates` handed over (and removes their files when done)."""
        self._duplicates.adopt(runs)

    def crlf(self, lines: int, first: int) -> None:
        """The one CRLF_LINE_ENDING warning for `lines` lines ending with CRLF, the first at line `first`."""
        if lines:
            verb = "ends" if lines == 1 else "end"
            detail = f"{plural(lines, 'line')} {verb} with CRLF, the first is line {first}"
            self.issue(make_issue(first, "", "CRLF_LINE_ENDING", detail), warning=True)

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


def _stable_key(dump: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(dump, digest_size=8).digest(), "little", signed=True)
