"""Byte-level JSON Lines reader: bounded memory whatever the file, precise about every odd line.

The reader never decodes: it hands out raw line bytes (without the `\\n`) so the validator can report
invalid UTF-8, a BOM or a stray `\\r` exactly where they are. A line longer than `max_line_bytes` is not
buffered: the reader skips to its end and reports it with its size only, so a runaway line (a whole file
without newlines, an inlined video) costs no more memory than the cap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, Protocol

from forgeflow.errors import DataError

# No trainable Converse record comes near this (65,536 tokens are about 256 KiB of text; media are
# referenced by S3 URI), yet it is far above any legitimate line: larger lines are export mistakes.
MAX_LINE_BYTES = 8 * 1024 * 1024
# A read chunk, its folded copies (fast.scan_lines) and its lines' bytes stay in the 2 MiB L2 cache of a
# core: 128 KiB chunks took 7-19 % less CPU than 1 MiB on bench/validate.py's 25 MB corpora (64 KiB: a
# little more, 32 KiB: the per-chunk work shows; alternating runs, same session, docs/dataset.md).
CHUNK_BYTES = 128 * 1024
BOM = b"\xef\xbb\xbf"
_new = tuple.__new__  # builds a Line without its Python-level __new__ (half the cost, once per line)
GZIP_MAGIC = b"\x1f\x8b"  # RFC 1952 §2.3.1: ID1 = 31, ID2 = 139


class Readable(Protocol):
    """A binary stream's read(): files, S3 bodies, BytesIO."""

    def read(self, size: int = -1, /) -> bytes: ...


class Line(NamedTuple):
    number: int  # 1-based
    data: bytes | None  # None when the line exceeded the cap and was skipped
    size: int  # bytes in the line, without its `\n`
    terminated: bool  # False only for a last line without `\n`


class LineBlock(NamedTuple):
    """The complete lines of one read chunk, for consumers that work on many lines at once."""

    number: int  # the 1-based number of lines[0]
    chunk: bytes  # the read chunk: chunk[start:end] holds the lines joined by `\n` (for a whole-chunk scan)
    start: int
    end: int
    lines: list[bytes]  # chunk[start:end].split(b"\n"); their sizes are not checked against the cap


def iter_lines(
    stream: Readable, *, max_line_bytes: int = MAX_LINE_BYTES, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[Line]:
    for item in iter_blocks(stream, max_line_bytes=max_line_bytes, chunk_bytes=chunk_bytes):
        if not isinstance(item, LineBlock):
            yield item
            continue
        number = item.number
        for piece in item.lines:
            size = len(piece)
            yield _new(Line, (number, None if size > max_line_bytes else piece, size, True))
            number += 1


def iter_blocks(
    stream: Readable, *, max_line_bytes: int = MAX_LINE_BYTES, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[Line | LineBlock]:
    """Each chunk's complete lines as one LineBlock; a line spanning chunks, or the unterminated last
    line, as a Line (with the cap applied)."""
    number = 0
    pending: list[bytes] = []
    pending_size = 0
    overflow = False
    read = stream.read
    while chunk := read(chunk_bytes):
        start = 0
        if pending or overflow:
            end = chunk.find(b"\n")
            if end < 0:
                pending_size += len(chunk)
                if not overflow and pending_size > max_line_bytes:
                    overflow, pending = True, []
                elif not overflow:
                    pending.append(chunk)
                continue
            pending_size += end
            number += 1
            if overflow or pending_size > max_line_bytes:
                yield Line(number, None, pending_size, True)
            else:
                pending.append(chunk[:end])
                yield Line(number, b"".join(pending), pending_size, True)
            pending, pending_size, overflow = [], 0, False
            start = end + 1
        last = chunk.rfind(b"\n")
        if last >= start:
            lines = _split(chunk, start, last)
            yield LineBlock(number + 1, chunk, start, last, lines)
            number += len(lines)
            start = last + 1
        if start < len(chunk):
            pending_size = len(chunk) - start
            if pending_size > max_line_bytes:
                overflow = True
            else:
                pending = [chunk[start:]]
    if pending or overflow:
        yield Line(number + 1, None if overflow else b"".join(pending), pending_size, False)


def _split(chunk: bytes, start: int, end: int) -> list[bytes]:
    """`chunk[start:end].split(b"\\n")` without copying the body first, each newline found by memchr
    (bytes.split tests every byte: three times slower on bench/validate.py's corpora)."""
    lines: list[bytes] = []
    append, find = lines.append, chunk.find
    newline = find(b"\n", start, end)
    while newline >= 0:
        append(chunk[start:newline])
        start = newline + 1
        newline = find(b"\n", start, end)
    append(chunk[start:end])
    return lines


def text_error(data: bytes, where: str, *, first_line: bool) -> DataError | None:
    """INVALID_UTF8 for a line that is not UTF-8 text (naming gzip when it starts a gzip file); else None.

    Only asked after a line failed to parse, so valid data pays nothing for it.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        if first_line and data.startswith(GZIP_MAGIC):
            return DataError(
                f"{where}: this is gzip-compressed, not JSON Lines text",
                code="INVALID_UTF8",
                hint="decompress it first (gunzip); the forgeflow CLI reads .jsonl.gz itself",
            )
        return DataError(
            f"{where}: invalid UTF-8 byte at offset {error.start} (a binary file?)",
            code="INVALID_UTF8",
            hint="re-encode the file as UTF-8 text",
        )
    return None
