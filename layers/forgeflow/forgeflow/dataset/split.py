"""Deterministic train/validation assignment by seeded content hash.

A record's side depends only on its content hash, the seed and the fraction, never on its position, so
the same input yields the same split in any line order, and duplicate records always land on the same
side (no validation record can leak into training through a copy of itself).
"""

from __future__ import annotations

import hashlib

from forgeflow.errors import DataError

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
