"""The scan of one object: its lines validated a read chunk at a time, then hashed and spilled.

It takes the validator's block-level fast path (dataset/passes.py, issue 14): each chunk's complete lines
are scanned once for reserved strings (`fast.scan_lines`); a plain line (`{…}`, within the cap, past
line 1) is parsed and accepted by `RecordValidator.fast_counts` with no outcome object. Every other line,
and every fast-path refusal, takes the validator's general path, which alone makes findings: verdicts and
messages are the validator's (tests/unit/mixing/test_mixing_scan_blocks.py compares them).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from forgeflow.dataset.canonical import record_hash
from forgeflow.dataset.fast import scan_lines
from forgeflow.dataset.lines import BOM, CHUNK_BYTES, MAX_LINE_BYTES, LineBlock, Readable, iter_blocks
from forgeflow.dataset.split import in_validation
from forgeflow.dataset.tokens import tokens_from_counts
from forgeflow.dataset.validation import RecordOutcome, RecordValidator
from forgeflow.errors import DataError
from forgeflow.mixing.plan import SourceSpec
from forgeflow.mixing.selection import PoolIndex
from forgeflow.mixing.spill import Spill
from forgeflow.nova import Method

TokenEstimator = Callable[[dict[str, Any]], int]
# content hash → True when a non-customer record must stay out of the blend (the general eval slice).
Exclusion = Callable[[str], bool]

MAX_REPORTED_ERRORS = 10
_PQ = struct.Struct(">QQ")  # a record's selection hash p and shuffle hash q, from one 16-byte digest
_LINE = orjson.OPT_APPEND_NEWLINE  # the canonical line and its newline in one dump, no concatenation


def method_mismatch(spec: SourceSpec, uri: str, number: int, found: Method, blend: Method) -> DataError:
    return DataError(
        f"{spec.role} source {spec.name!r} holds {found.value.upper()} records "
        f"({uri} line {number}) but the blend is {blend.value.upper()}",
        code="METHOD_MISMATCH",
        hint="mix sources of one training method only (SFT with SFT, DPO with DPO)",
    )


def invalid_record(uri: str, number: int, outcome: RecordOutcome) -> str:
    """One entry of the invalid-records error: where, and the validator's first complaint."""
    first = outcome.errors[0] if outcome.errors else None
    where = f" at {first.path}" if first is not None and first.path else ""
    what = first.message if first is not None else "not a valid record"
    return f"{uri} line {number}{where}: {what}"


@dataclass
class ObjectScan:
    """One object's records into the source's pool index and spill (customer hold-out: `validation`)."""

    uri: str
    spec: SourceSpec
    validator: RecordValidator
    method: Method
    keyed: Any  # the seeded blake2b that each record's copy digests into (p, q)
    pool: PoolIndex
    spill: Spill
    validation: Spill
    fraction: float  # the customer hold-out share (0 for curated sources)
    seed: int
    estimate: TokenEstimator | None  # None: the documented estimate, from the validator's counts
    errors: list[str]
    exclude: Exclusion | None = None  # curated sources: the general eval slice stays out of the blend
    records: int = 0
    blank: int = 0
    held_out: int = 0
    excluded: int = 0

    def run(self, stream: Readable, chunk_bytes: int = CHUNK_BYTES) -> None:
        for item in iter_blocks(stream, chunk_bytes=chunk_bytes):
            if isinstance(item, LineBlock):
                if not self.block(item):
                    return
            elif not self.line(*item):
                return

    def block(self, block: LineBlock) -> bool:
        """The lines of one chunk; False when the object's scan must stop."""
        # The hot loop of the whole mix: locals only, one dump and one keyed hash per record.
        unclear, spelled = scan_lines(block.chunk, block.start, block.end, block.lines)
        validator, estimate, keep = self.validator, self.estimate, self.keep
        loads, dumps, fast_counts = orjson.loads, orjson.dumps, validator.fast_counts
        fast, dpo = validator.fast.counts, Method.DPO
        number = block.number - 1
        for index, data in enumerate(block.lines):
            number += 1
            if number == 1 or len(data) > MAX_LINE_BYTES or not data.endswith(b"}"):
                if not self.line(number, data, len(data), True):
                    return False
                continue
            try:
                record = loads(data)  # a dict: "}" ends no other JSON value
            except orjson.JSONDecodeError:  # the general path parses it again, for the exact finding
                if not self.outcome(number, validator.check_line(number, data, last_unterminated=False)):
                    return False
                continue
            clear = index not in unclear
            # A spelled reserved string: the full walk at once (the fast path would refuse the record).
            method = validator.method
            if method is None:  # the first record with messages fixes it (fast_counts)
                counts = fast_counts(record, clear)
            elif clear or index not in spelled:
                counts = fast(record, method is dpo, clear)
            else:
                counts = None
            if counts is None:
                if not self.outcome(number, validator.check_record_walk(number, record, clear)):
                    return False
                continue
            if estimate is None:
                characters, messages, system, images, videos, documents = counts
                tokens = tokens_from_counts(
                    characters, messages, has_system=system, images=images, videos=videos, documents=documents
                )
            else:
                tokens = estimate(record)
            keep(record, dumps(record, option=_LINE), tokens, None)
        return True

    def line(self, number: int, data: bytes | None, size: int, terminated: bool) -> bool:
        """One line by the validator's general path; False when the object's scan must stop."""
        if data is None or size > MAX_LINE_BYTES:
            self.errors.append(f"{self.uri} line {number}: line of {size:,} bytes is too long")
            return False
        if number == 1 and data.startswith(BOM):
            self.errors.append(f"{self.uri} line 1: the file starts with a UTF-8 byte-order mark")
            return False
        if data.endswith(b"\r"):
            data = data[:-1]
        if not data or data.isspace():
            self.blank += 1
            return True
        return self.outcome(number, self.validator.check_line(number, data, last_unterminated=not terminated))

    def outcome(self, number: int, outcome: RecordOutcome) -> bool:
        """A general-path outcome: kept, or one more invalid record (False once ten are named)."""
        if outcome.method is not self.method and outcome.method is not None:
            raise method_mismatch(self.spec, self.uri, number, outcome.method, self.method)
        record = outcome.record
        if record is None or outcome.errors:
            self.errors.append(invalid_record(self.uri, number, outcome))
            return len(self.errors) < MAX_REPORTED_ERRORS
        tokens = outcome.est_tokens if self.estimate is None else self.estimate(record)
        self.keep(record, orjson.dumps(record, option=_LINE), tokens, outcome.sorted_json)
        return True

    def keep(self, record: dict[str, Any], line: bytes, tokens: int, sorted_json: bytes | None) -> None:
        """A valid record: indexed by p and spilled by q, or held out for validation."""
        self.records += 1
        hasher = self.keyed.copy()
        hasher.update(memoryview(line)[:-1])  # the canonical bytes, without the newline
        p, q = _PQ.unpack(hasher.digest())
        if self.fraction or self.exclude is not None:
            # The contract's record_hash, from the key-sorted dump the full walk already made when it did.
            content = hashlib.sha256(sorted_json).hexdigest() if sorted_json else record_hash(record)
            if self.exclude is not None and self.exclude(content):
                self.excluded += 1
                return
            if self.fraction and in_validation(content, self.seed, self.fraction):
                self.held_out += 1
                self.validation.add(q, p, q, tokens, line)
                return
        self.pool.add(p, tokens)
        self.spill.add(q, p, q, tokens, line)
