"""An external sort of records by a 64-bit key through temporary bucket files, in bounded memory.

Records go to one of `2**bits` bucket files by the top bits of their key while they stream in; reading
back visits the buckets in key order and sorts one bucket at a time in memory. A bucket larger than the
memory limit is split again by the next 8 bits of the key (recursively), so memory stays bounded however
large the input, and the order produced depends only on the keys, never on fan-out or limits.

A bucket is two files: `.bin`, the records' canonical lines with their newlines (output-ready bytes),
and `.idx`, one fixed slot per record (key, p, start, length, q, est_tokens), sorted in place by
`Spill.finish` (in the scan's worker): the single-core write then takes a bucket's order with C-level
unpacking and slicing, no Python step per record (docs/mixing.md, "Resources and performance").
"""

from __future__ import annotations

import mmap
import shutil
import struct
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator
from itertools import compress, repeat
from operator import add, itemgetter
from pathlib import Path
from typing import BinaryIO, NamedTuple

# Big-endian: a slot's bytes sort as its numbers do ((key, p) first), so sorting needs no unpacking.
SLOT = struct.Struct(">6Q")
_ROW = struct.Struct(f"{SLOT.size}s")
_NATIVE = struct.Struct("=6Q")  # a slot in `_columns`' array
DEFAULT_LIMIT = 24 * 1024 * 1024
# Bucket files share a write-buffer budget: few buckets get large buffers (fewer write calls: ~6 % of
# bench/mix.py's CPU at 20 MB), 512 buckets keep 16 KiB each, so a spill never buffers more than 8 MiB.
_BUFFER_BUDGET = 4 * 1024 * 1024
_MIN_BUFFER = 16 * 1024
_MAX_BUFFER = 256 * 1024
_SPLIT_BITS = 8


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


class _Bucket:
    """A bucket's two open files and its lines' size so far (the next line's start)."""

    __slots__ = ("lines", "size", "slots")

    def __init__(self, lines: BinaryIO, slots: BinaryIO) -> None:
        self.lines, self.slots = lines, slots
        self.size = lines.tell()  # opened to append: a reopened bucket goes on where it ended


class Spill:
    """Bucket files under `directory`; bucket index = (key >> shift) & (2**bits − 1)."""

    def __init__(self, directory: Path, *, bits: int = 9, shift: int | None = None) -> None:
        self.directory = directory
        self.bits = bits
        self.shift = 64 - bits if shift is None else shift
        self._mask = (1 << bits) - 1
        buffer = max(_MIN_BUFFER, min(_MAX_BUFFER, _BUFFER_BUDGET >> bits))
        # The slots take 1/16 of a bucket's buffer (48 bytes a record against kilobytes of line).
        self._buffers = (buffer - buffer // 16, buffer // 16)
        self._files: dict[int, _Bucket] = {}
        self.sorted_upto = -1  # every `.idx` of a bucket this large or smaller is in (key, p) order
        self.count = 0
        self.bytes = 0
        self.longest = 0  # the longest line's bytes: how many lines the write may gather at once
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, key: int, p: int, q: int, tokens: int, line: bytes) -> None:
        bucket = (key >> self.shift) & self._mask
        files = self._files.get(bucket)
        if files is None:
            path = self.directory / f"{bucket:05d}.bin"
            lines, slots = self._buffers
            files = _Bucket(
                path.open("ab", buffering=lines), path.with_suffix(".idx").open("ab", buffering=slots)
            )
            self._files[bucket] = files
            self.sorted_upto = -1
        size = len(line)
        files.lines.write(line)
        files.slots.write(SLOT.pack(key, p, files.size, size, q, tokens))
        files.size += size
        self.count += 1
        self.bytes += size
        if size > self.longest:
            self.longest = size

    def close(self) -> None:
        for files in self._files.values():
            files.lines.close()
            files.slots.close()
        self._files.clear()

    def finish(self, limit: int = DEFAULT_LIMIT) -> None:
        """Close, and sort each bucket's slots (of a bucket ≤ `limit`; a larger one is split when read)."""
        self.close()
        for path in self._paths():
            if path.stat().st_size <= limit:
                slots = path.with_suffix(".idx")
                with slots.open("r+b") as stream:  # in place: truncating would free the pages first
                    ordered = _sort_slots(stream.read())
                    stream.seek(0)
                    stream.write(ordered)
        self.sorted_upto = limit

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

        `admit(p)`, when given, is asked once per entry, in that order, and keeps those it accepts.
        `consume` deletes each bucket's files as soon as they are read (the last read of this spill): its
        page-cache pages are freed at once, so the output written next reuses them instead of taking fresh
        memory from the kernel (docs/mixing.md, "Resources and performance"), and the work folder shrinks
        as the write goes.
        """
        for columns, data, kept in self._sorted_buckets(limit, admit, consume):
            for key, p, start, length, q, tokens in compress(_NATIVE.iter_unpack(columns), kept):
                yield Entry(key, p, q, tokens, data[start : start + length])

    def sorted_lines(
        self, admit: Callable[[int], bool] | None = None, *, consume: bool = False, tail: int = 0
    ) -> Iterator[tuple[list[bytes | memoryview], int]]:
        """`sorted_entries`' lines, a bucket at a time, and their tokens' sum: the write takes them with
        C-level iteration, not a generator per record. Lines are views of the bucket's bytes (no copy)
        but for the last `tail`, which are copies: a reader that holds at most `tail` lines at once then
        never keeps a finished bucket in memory while the next one is read."""
        for columns, data, kept in self._sorted_buckets(DEFAULT_LIMIT, admit, consume):
            starts = list(compress(columns[2::6], kept))
            ends = list(map(add, starts, compress(columns[3::6], kept)))
            cut = max(0, len(ends) - tail)
            view = memoryview(data)
            lines: list[bytes | memoryview] = [
                view[a:b] for a, b in zip(starts[:cut], ends[:cut], strict=True)
            ]
            lines += [data[a:b] for a, b in zip(starts[cut:], ends[cut:], strict=True)]
            tokens = sum(compress(columns[5::6], kept))
            del columns, data, view, kept, starts, ends  # only the lines hold the bucket now
            yield lines, tokens
            del lines

    def _sorted_buckets(
        self, limit: int, admit: Callable[[int], bool] | None, consume: bool
    ) -> Iterator[tuple[array[int], mmap.mmap, Iterable[bool]]]:
        if self.sorted_upto < 0:
            self.finish(limit)  # a spill written here, not by a scan worker
        for path in self._paths():
            yield from _sorted_bucket(path, self.shift, limit, admit, consume, self.sorted_upto)

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _read_entries(path: Path) -> Iterator[Entry]:
    """A bucket's entries in its slots' order (streamed: a chunk of slots at a time, the lines mapped)."""
    with path.open("rb") as stream, path.with_suffix(".idx").open("rb") as slots:
        data = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
        while chunk := slots.read(SLOT.size * 4096):
            for key, p, start, length, q, tokens in SLOT.iter_unpack(chunk):
                yield Entry(key, p, q, tokens, data[start : start + length])


def _sorted_bucket(
    path: Path,
    shift: int,
    limit: int,
    admit: Callable[[int], bool] | None,
    consume: bool,
    sorted_upto: int,
) -> Iterator[tuple[array[int], mmap.mmap, Iterable[bool]]]:
    """The bucket's admitted slots in (key, p) order (one `array("Q")`, six values a slot) and the bytes
    they point into, and which slots `admit` keeps (a split bucket: one such triple per part)."""
    if path.stat().st_size > limit and shift > 0:
        # Too large to sort in memory: split by the next bits of the key (the bits above are shared).
        sub_shift = max(shift - _SPLIT_BITS, 0)
        sub = Spill(path.with_suffix(".split"), bits=shift - sub_shift, shift=sub_shift)
        try:
            for entry in _read_entries(path):
                sub.add(*entry)
            if consume:
                _unlink(path)
            yield from sub._sorted_buckets(limit, admit, True)
        finally:
            sub.remove()
        return
    slots = path.with_suffix(".idx")
    if path.stat().st_size > sorted_upto:  # not sorted by `finish` (shift 0, or another limit)
        columns = _columns(_sort_slots(slots.read_bytes()))
    else:
        columns = _columns(slots.read_bytes())
    # Mapped, not read: the lines are taken from the page cache itself (no copy of the bucket into fresh
    # process memory, whose page faults were a third of the write's kernel time).
    with path.open("rb") as stream:
        data = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    if consume:
        _unlink(path)  # the mapping keeps the pages until its last view goes
    # Asked in (key, p) order: tied p are the same record's bytes, so which of them it takes is moot.
    kept = repeat(True) if admit is None else list(map(admit, columns[1::6]))
    yield columns, data, kept


def _sort_slots(raw: bytes) -> bytes:
    """Slots in (key, p) order: their big-endian bytes compared in C (no tuple of numbers per slot)."""
    return b"".join(sorted(map(itemgetter(0), _ROW.iter_unpack(raw))))


def _columns(raw: bytes) -> array[int]:
    """Slots as one native `array("Q")`, six values a slot (strided slices are its columns)."""
    columns = array("Q", raw)
    if sys.byteorder == "little":
        columns.byteswap()
    return columns


def _unlink(path: Path) -> None:
    path.unlink()
    path.with_suffix(".idx").unlink()
