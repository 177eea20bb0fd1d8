"""An external sort of records by a 64-bit key through temporary bucket files, in bounded memory.

Records go to one of `2**bits` bucket files by the top bits of their key while they stream in; reading
back visits the buckets in key order and sorts one bucket at a time in memory. A bucket larger than the
memory limit is split again by the next 8 bits of the key (recursively), so memory stays bounded however
large the input, and the order produced depends only on the keys, never on fan-out or limits.

Each stored entry is a fixed header (key, p, q, est_tokens, length) followed by the record's canonical
line with its newline, so reading back yields output-ready bytes.
"""

from __future__ import annotations

import mmap
import shutil
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

HEADER = struct.Struct("<QQQII")
DEFAULT_LIMIT = 24 * 1024 * 1024
# Bucket files share a write-buffer budget: few buckets get large buffers (fewer write calls: ~6 % of
# bench/mix.py's CPU at 20 MB), 512 buckets keep 16 KiB each, so a spill never buffers more than 8 MiB.
_BUFFER_BUDGET = 4 * 1024 * 1024
_MIN_BUFFER = 16 * 1024
_MAX_BUFFER = 256 * 1024
_SPLIT_BITS = 8
_Slot = tuple[int, int, int, int, int, int]  # key, p, start, length, q, tokens of an entry in its bucket


def fan_out_bits(expected_bytes: int, bucket_bytes: int = 8 * 1024 * 1024, max_bits: int = 9) -> int:
    """How many key bits pick a bucket so that buckets hold about `bucket_bytes` (at most 2**max_bits)."""
    bits = 0
    while bits < max_bits and expected_bytes > bucket_bytes << bits:
        bits += 1
    return bits


class Entry(NamedTuple):
    """One stored record: its sort key, selection hash `p`, shuffle hash `q`, tokens and line bytes."""

    key: int
    p: int
    q: int
    tokens: int
    line: bytes


class Spill:
    """Bucket files under `directory`; bucket index = (key >> shift) & (2**bits − 1)."""

    def __init__(self, directory: Path, *, bits: int = 9, shift: int | None = None) -> None:
        self.directory = directory
        self.bits = bits
        self.shift = 64 - bits if shift is None else shift
        self._mask = (1 << bits) - 1
        self._buffer = max(_MIN_BUFFER, min(_MAX_BUFFER, _BUFFER_BUDGET >> bits))
        self._files: dict[int, BinaryIO] = {}
        self.count = 0
        self.bytes = 0
        self.longest = 0  # the longest line's bytes: how many lines the write may gather at once
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, key: int, p: int, q: int, tokens: int, line: bytes) -> None:
        bucket = (key >> self.shift) & self._mask
        stream = self._files.get(bucket)
        if stream is None:
            stream = (self.directory / f"{bucket:05d}.bin").open("ab", buffering=self._buffer)
            self._files[bucket] = stream
        size = len(line)
        stream.write(HEADER.pack(key, p, q, tokens, size) + line)
        self.count += 1
        self.bytes += size
        if size > self.longest:
            self.longest = size

    def close(self) -> None:
        for stream in self._files.values():
            stream.close()
        self._files.clear()

    def _paths(self) -> list[Path]:
        return sorted(self.directory.glob("*.bin"))

    def entries(self) -> Iterator[Entry]:
        """Every entry, in no particular order (streaming, one read buffer at a time)."""
        self.close()
        for path in self._paths():
            yield from _read_entries(path)

    def sorted_entries(
        self,
        limit: int = DEFAULT_LIMIT,
        admit: Callable[[int], bool] | None = None,
        *,
        consume: bool = False,
    ) -> Iterator[Entry]:
        """Entries in (key, p) order; equal (key, p) means equal bytes, so ties need no order.

        `admit(p)`, when given, is asked once per entry and keeps only those it accepts (before sorting,
        so unselected records cost no memory). `consume` deletes each bucket file as soon as it is read
        (the last read of this spill): its page-cache pages are freed at once, so the output written next
        reuses them instead of taking fresh memory from the kernel (docs/mixing.md, "Resources and
        performance"), and the work folder shrinks as the write goes.
        """
        for index, data in self._sorted_buckets(limit, admit, consume):
            for key, p, start, length, q, tokens in index:
                yield Entry(key, p, q, tokens, data[start : start + length])

    def sorted_lines(
        self, admit: Callable[[int], bool] | None = None, *, consume: bool = False, tail: int = 0
    ) -> Iterator[tuple[list[bytes | memoryview], int]]:
        """`sorted_entries`' lines, a bucket at a time, and their tokens' sum: the write takes them with
        C-level iteration, not a generator per record. Lines are views of the bucket's bytes (no copy)
        but for the last `tail`, which are copies: a reader that holds at most `tail` lines at once then
        never keeps a finished bucket in memory while the next one is read."""
        for index, data in self._sorted_buckets(DEFAULT_LIMIT, admit, consume):
            view = memoryview(data)
            cut = max(0, len(index) - tail)
            lines: list[bytes | memoryview] = [view[s[2] : s[2] + s[3]] for s in index[:cut]]
            lines += [data[s[2] : s[2] + s[3]] for s in index[cut:]]
            tokens = sum(slot[5] for slot in index)
            del index, data, view  # only the lines hold the bucket now
            yield lines, tokens
            del lines

    def _sorted_buckets(
        self, limit: int, admit: Callable[[int], bool] | None, consume: bool
    ) -> Iterator[tuple[list[_Slot], mmap.mmap]]:
        self.close()
        for path in self._paths():
            yield from _sorted_bucket(path, self.shift, limit, admit, consume)

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _read_entries(path: Path) -> Iterator[Entry]:
    with path.open("rb", buffering=1024 * 1024) as stream:
        while True:
            header = stream.read(HEADER.size)
            if not header:
                return
            key, p, q, tokens, length = HEADER.unpack(header)
            yield Entry(key, p, q, tokens, stream.read(length))


def _sorted_bucket(
    path: Path, shift: int, limit: int, admit: Callable[[int], bool] | None, consume: bool
) -> Iterator[tuple[list[_Slot], mmap.mmap]]:
    """The bucket's admitted slots in (key, p) order and the bytes they point into (a split bucket: one
    such pair per part)."""
    if path.stat().st_size > limit and shift > 0:
        # Too large to sort in memory: split by the next bits of the key (the bits above are shared).
        sub_shift = max(shift - _SPLIT_BITS, 0)
        sub = Spill(path.with_suffix(".split"), bits=shift - sub_shift, shift=sub_shift)
        try:
            for entry in _read_entries(path):
                sub.add(*entry)
            if consume:
                path.unlink()
            yield from sub._sorted_buckets(limit, admit, True)
        finally:
            sub.remove()
        return
    # Mapped, not read: the lines are taken from the page cache itself (no copy of the bucket into fresh
    # process memory, whose page faults were a third of the write's kernel time).
    with path.open("rb") as stream:
        data = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    if consume:
        path.unlink()  # the mapping keeps the pages until its last view goes
    index: list[_Slot] = []
    offset = 0
    size = len(data)
    unpack = HEADER.unpack_from
    while offset < size:
        key, p, q, tokens, length = unpack(data, offset)
        start = offset + HEADER.size
        if admit is None or admit(p):
            index.append((key, p, start, length, q, tokens))
        offset = start + length
    index.sort()
    yield index, data
