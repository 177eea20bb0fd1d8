"""One pass over the lines of a stream into a `ReportBuilder`: byte-level faults, then each record.

The pass reads whole chunks (`lines.iter_blocks`) and scans each chunk once for reserved strings
(`fast.scan_lines`). A plain line of a chunk (`{…}`, within the cap, not the first record) takes the
inline fast path: parse, `RecordValidator.fast_counts`, no outcome object; the chunk's accepted records
reach the builder as one batch (`ReportBuilder.fast_batch`).
Every other line (the first record, BOM, CRLF, blank, over-long, unterminated, a fast-path refusal) takes
the general path, which alone makes findings. `parallel.py` runs one pass per byte range (numbering
its lines from 1; `file_start` and `first_record` False past the first range) and shifts the line
numbers when it merges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from forgeflow.dataset.fast import scan_lines
from forgeflow.dataset.lines import BOM, CHUNK_BYTES, LineBlock, Readable, iter_blocks
from forgeflow.dataset.record import RecordValidator
from forgeflow.dataset.report import ReportBuilder
from forgeflow.dataset.tokens import RecordCounts
from forgeflow.dataset.walk import make_issue
from forgeflow.nova import Method

PROGRESS_BYTES = 1 << 24


@dataclass(slots=True)
class LineTally:
    """What a pass leaves besides the builder: lines and bytes read, CRLF lines, whether a JSON array
    stopped it."""

    lines: int = 0
    consumed: int = 0
    crlf_lines: int = 0
    first_crlf: int = 0
    stopped: bool = False


class LinePass:
    """Validates the lines of one stream (or byte range) into `builder`."""

    def __init__(
        self,
        validator: RecordValidator,
        builder: ReportBuilder,
        *,
        progress: Callable[[int], None] | None = None,
        file_start: bool = True,
        first_record: bool | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        progress_bytes: int = PROGRESS_BYTES,
    ) -> None:
        self.validator = validator
        self.builder = builder
        self.cap = builder.options.max_line_bytes
        self.progress = progress
        self.file_start = file_start  # the stream starts the file (the BOM check)
        # The next record is the file's first (the JSON-array check): by default, when the stream starts it.
        self.first_record = file_start if first_record is None else first_record
        self.chunk_bytes = chunk_bytes
        self.tally = LineTally()
        self.progress_bytes = progress_bytes  # `progress` is called each time this many more are consumed
        self._next_progress = progress_bytes

    def run(self, stream: Readable) -> LineTally:
        tally = self.tally
        for item in iter_blocks(stream, max_line_bytes=self.cap, chunk_bytes=self.chunk_bytes):
            if isinstance(item, LineBlock):
                if not self.block(item):
                    break
            else:
                number, data, size, terminated = item
                tally.lines = number
                tally.consumed += size + 1
                if not self.line(number, data, size, terminated):
                    break
            if self.progress is not None and tally.consumed >= self._next_progress:
                self.progress(tally.consumed)
                self._next_progress = tally.consumed + self.progress_bytes
        return tally

    def block(self, block: LineBlock) -> bool:
        """The lines of one chunk; False when the pass must stop (a JSON array file)."""
        self.tally.consumed += block.end - block.start + 1
        self.tally.lines = block.number + len(block.lines) - 1
        unclear, spelled = scan_lines(block.chunk, block.start, block.end, block.lines)
        validator, builder, cap = self.validator, self.builder, self.cap
        loads, dumps, fast_counts = orjson.loads, orjson.dumps, validator.fast_counts
        fast, dpo = validator.fast.counts, Method.DPO
        # Fast-path records gather here and reach the builder as one batch at the end of the chunk (what
        # the builder keeps from them does not depend on the order records come in).
        lines: list[int] = []
        counts: list[RecordCounts] = []
        keys: list[int] = []  # the duplicate key of each sorted dump, taken at once (the dump is freed)
        key = builder.key
        plain = 0  # records of plain lines (the general path counts its own)
        going, first = True, self.first_record
        number = block.number - 1
        for index, data in enumerate(block.lines):
            number += 1
            if first or len(data) > cap or not data.endswith(b"}"):
                going = self.line(number, data, len(data), True)
                if not going:  # a JSON array file
                    break
                first = self.first_record
                continue
            plain += 1
            try:
                record = loads(data)  # a dict: "}" ends no other JSON value
            except orjson.JSONDecodeError:  # the general path parses it again, for the exact finding
                builder.outcome(number, validator.check_line(number, data, last_unterminated=False))
                continue
            clear = index not in unclear
            # A spelled reserved string: the full walk at once (the fast path would refuse the record).
            method = validator.method
            if method is None:  # the first record with messages fixes it (fast_counts)
                record_counts = fast_counts(record, clear)
            elif clear or index not in spelled:
                record_counts = fast(record, method is dpo, clear)
            else:
                record_counts = None
            if record_counts is None:
                builder.outcome(number, validator.check_record_walk(number, record, clear))
            else:
                lines.append(number)
                counts.append(record_counts)
                keys.append(key(dumps(record, option=orjson.OPT_SORT_KEYS)))
        builder.fast_batch(lines, counts, keys)
        builder.report.records += plain
        return going

    def line(self, number: int, data: bytes | None, size: int, terminated: bool) -> bool:
        """One line by the general path; False when the pass must stop (a JSON array file)."""
        builder = self.builder
        report = builder.report
        if data is None or size > self.cap:
            report.records += 1
            detail = f"line of {size:,} bytes, over the {self.cap:,}-byte cap"
            builder.issue(make_issue(number, "", "LINE_TOO_LONG", detail))
            return True
        if number == 1 and self.file_start and data.startswith(BOM):
            data = data[len(BOM) :]
            builder.issue(make_issue(1, "", "BOM", "the file starts with a UTF-8 byte-order mark"))
        if data.endswith(b"\r"):
            data = data[:-1]
            self.tally.crlf_lines += 1
            self.tally.first_crlf = self.tally.first_crlf or number
        if not data or data.isspace():
            builder.blank(number)
            return True
        report.records += 1
        if self.first_record:
            self.first_record = False
            if data.lstrip().startswith(b"["):
                builder.issue(
                    make_issue(number, "", "JSON_ARRAY_FILE", "the file is a JSON array, not JSON Lines")
                )
                self.tally.stopped = True
                return False
        builder.outcome(number, self.validator.check_line(number, data, last_unterminated=not terminated))
        return True
