"""The canonical bytes of a record and its content identity.

`canonical_line` is how ForgeFlow writes a record (compact, key order kept, no trailing newline);
`record_hash` is what two records must share to count as the same content: duplicates, the
train/validation split and the mix's provenance all use it, so it ignores key order and whitespace.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson


def canonical_line(record: Mapping[str, Any]) -> bytes:
    """Compact JSON, keys in their original order, no newline (the caller adds the line terminator)."""
    return orjson.dumps(record)


def sorted_dump(record: Mapping[str, Any]) -> bytes:
    """Compact JSON with keys sorted at every level: equal content gives equal bytes."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the key-sorted compact JSON: the record's content identity."""
    return hashlib.sha256(sorted_dump(record)).hexdigest()
