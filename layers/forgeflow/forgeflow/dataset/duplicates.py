"""Counting repeated records in bounded memory, however large the file.

Each valid record contributes an 8-byte content key (Python's `hash()` of its key-sorted JSON: stable
within one process, which is all one validation run needs). Keys collect in a flat `array`; when it
holds `buffer_keys` of them it is sorted and appended to a temporary spill file as one sorted run.
`count()` merges the runs and counts every key equal to its predecessor. Memory stays at the buffer plus
one read chunk per run; disk use is 8 bytes per record. A counter can hand its runs to another
(`export` / `adopt`): parallel validation merges the byte ranges' runs into one count.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import tempfile
import weakref
from array import array
from collections.abc import Iterator
from typing import IO

# 262,144 keys: a 2 MiB buffer (sorting it briefly makes a list of ~10 MiB). 1 GB of typical SFT data
# (~400,000 records) spills once.
DEFAULT_BUFFER_KEYS = 1 << 18
_READ_KEYS = 1 << 14  # keys read at once from each run while merging (128 KiB)
_KEY_BYTES = array("q").itemsize


class DuplicateCounter:
    """`add(key)` for every record, then `count()`: how many repeat an earlier record's key."""

    def __init__(self, buffer_keys: int = DEFAULT_BUFFER_KEYS) -> None:
        self._buffer_keys = buffer_keys
        self._buffer = array("q")
        self._runs: list[tuple[str, int, int]] = []  # (file, offset, keys) of each sorted run
        self._spill_path: str | None = None
        self._finalizers: list[weakref.finalize[[str], DuplicateCounter]] = []

    def add(self, key: int) -> None:
        self._buffer.append(key)
        if len(self._buffer) >= self._buffer_keys:
            self._spill()

    def add_many(self, keys: list[int]) -> None:
        """`add` of each key (spilling, like `add`, once the buffer is full)."""
        self._buffer.extend(keys)
        if len(self._buffer) >= self._buffer_keys:
            self._spill()

    def _spill(self) -> None:
        if self._spill_path is None:
            handle, self._spill_path = tempfile.mkstemp(prefix="forgeflow-duplicates-")
            os.close(handle)
            self._own(self._spill_path)
        with open(self._spill_path, "ab") as spill:
            offset = spill.tell()
            array("q", sorted(self._buffer)).tofile(spill)
        self._runs.append((self._spill_path, offset, len(self._buffer)))
        self._buffer = array("q")

    def _own(self, path: str) -> None:
        # Removed when the counter goes away, even if validation stops with an exception.
        self._finalizers.append(weakref.finalize(self, _remove, path))

    def export(self) -> list[tuple[str, int, int]]:
        """Spills every key and hands over the runs (and their files) for another counter to `adopt`."""
        if self._buffer:
            self._spill()
        for finalizer in self._finalizers:
            finalizer.detach()
        runs = self._runs
        self._runs, self._spill_path, self._finalizers = [], None, []
        return runs

    def adopt(self, runs: list[tuple[str, int, int]]) -> None:
        """Takes over another counter's exported runs: `count` merges them with this counter's keys."""
        for path in dict.fromkeys(path for path, _, _ in runs):
            self._own(path)
        self._runs += runs

    @staticmethod
    def _read(spill: IO[bytes], offset: int, keys: int) -> Iterator[int]:
        position, left = offset, keys
        while left:
            spill.seek(position)
            chunk = array("q", spill.read(min(left, _READ_KEYS) * _KEY_BYTES))
            position += len(chunk) * _KEY_BYTES
            left -= len(chunk)
            yield from chunk

    def count(self) -> int:
        """The number of keys equal to an earlier key; forgets every key added so far."""
        repeats = 0
        previous: int | None = None
        with contextlib.ExitStack() as files:
            runs: list[Iterator[int]] = [iter(sorted(self._buffer))]
            # One handle per run: the merge interleaves their reads.
            runs += [
                self._read(files.enter_context(open(path, "rb")), offset, keys)
                for path, offset, keys in self._runs
            ]
            for key in heapq.merge(*runs):
                if key == previous:
                    repeats += 1
                previous = key
        for finalizer in self._finalizers:
            finalizer()
        self._buffer, self._runs, self._spill_path, self._finalizers = array("q"), [], None, []
        return repeats


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
