"""Deterministic train/validation assignment by seeded content hash.

A record's side depends only on its content hash, the seed and the fraction, never on its position, so
the same input yields the same split in any line order, and duplicate records always land on the same
side (no validation record can leak into training through a copy of itself).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from forgeflow.dataset.canonical import record_hash
from forgeflow.dataset.lines import BOM, iter_lines, text_error
from forgeflow.errors import DataError
from forgeflow.storage import Storage, join

_SCALE = float(1 << 64)


def check_fraction(fraction: float) -> None:
    """A validation fraction is a share of the records, from 0 (no validation) up to but excluding 1."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(
            f"validation fraction {fraction!r} is out of range",
            code="BAD_VALIDATION_FRACTION",
            hint="use a number from 0 (no validation set) up to but excluding 1, e.g. 0.1",
        )


def bucket_of(record_hash: str, seed: int) -> float:
    """A uniform number in [0, 1) derived from the record hash and the seed."""
    digest = hashlib.sha256(f"{seed}:{record_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_validation(record_hash: str, seed: int, fraction: float) -> bool:
    """True when the record with this content hash belongs to the validation side."""
    check_fraction(fraction)
    return bucket_of(record_hash, seed) < fraction


@dataclass(frozen=True)
class SplitResult:
    train_uri: str
    validation_uri: str
    train: int
    validation: int
    blank_lines: int


def split_uri(storage: Storage, in_uri: str, out_uri: str, *, fraction: float, seed: int = 0) -> SplitResult:
    """Writes `train.jsonl` and `validation.jsonl` under `out_uri`; lines are copied unchanged.

    Each non-blank line must be a JSON object (run `forgeflow validate` first for the full rules). Both
    outputs appear only if the whole input was split: a bad line raises DataError and writes nothing.
    """
    check_fraction(fraction)
    train_uri = join(out_uri, "train.jsonl")
    validation_uri = join(out_uri, "validation.jsonl")
    counts = [0, 0]
    blank = 0
    with (
        storage.open_input(in_uri) as stream,
        storage.open_output(train_uri) as train,
        storage.open_output(validation_uri) as validation,
    ):
        writers = (train, validation)
        for line in iter_lines(stream):
            data = line.data
            if data is None:
                raise DataError(
                    f"{in_uri} line {line.number}: {line.size:,} bytes, over the line-size cap",
                    code="LINE_TOO_LONG",
                    hint="run forgeflow validate to see every problem",
                )
            if line.number == 1 and data.startswith(BOM):
                data = data[len(BOM) :]
            data = data.removesuffix(b"\r")
            if not data.strip():
                blank += 1
                continue
            try:
                record = orjson.loads(data)
            except orjson.JSONDecodeError as error:
                where = f"{in_uri} line {line.number}"
                raise text_error(data, where, first_line=line.number == 1) or DataError(
                    f"{where}: not valid JSON ({error})",
                    code="JSON_PARSE",
                    hint="run forgeflow validate to see every problem",
                ) from error
            if not isinstance(record, dict):
                raise DataError(
                    f"{in_uri} line {line.number}: not a JSON object",
                    code="NOT_AN_OBJECT",
                    hint="run forgeflow validate to see every problem",
                )
            try:
                identity = record_hash(record)
            except orjson.JSONEncodeError as error:
                raise DataError(
                    f"{in_uri} line {line.number}: the record nests too deeply to be written back",
                    code="NESTING_TOO_DEEP",
                    hint="run forgeflow validate to see every problem",
                ) from error
            side = 1 if bucket_of(identity, seed) < fraction else 0
            writers[side].write(data + b"\n")
            counts[side] += 1
    return SplitResult(train_uri, validation_uri, counts[0], counts[1], blank)
