"""How the CLI reads its inputs: `-` is stdin, gzip is decompressed on the fly, every byte read is counted.

gzip is recognised by its magic bytes (RFC 1952 §2.3.1: ID1 = 0x1f, ID2 = 0x8b), not by the file name, so
`data.jsonl.gz`, a gzip saved as `.jsonl` and `gzip -c data.jsonl | forgeflow validate -` all read the
same. This is the CLI's convenience only: the pipeline reads `incoming/*.jsonl` as it is (a gzip there is
reported as invalid UTF-8), so what runs on AWS never depends on it.
"""

from __future__ import annotations

import contextlib
import gzip
import sys
import zlib
from collections.abc import Iterator
from typing import IO, Any, cast

from forgeflow.dataset.lines import GZIP_MAGIC, Readable
from forgeflow.errors import DataError
from forgeflow.ports import ObjectStore
from forgeflow.storage import Storage
from forgeflow_tools.cli.progress import ProgressLine

STDIN = "-"


class CliStorage(Storage):
    """Storage whose inputs may be stdin (`-`) or gzip-compressed; reads advance `progress` when given."""

    def __init__(
        self,
        s3: ObjectStore | None = None,
        *,
        stdin: IO[bytes] | None = None,
        progress: ProgressLine | None = None,
    ) -> None:
        super().__init__(s3)
        self._stdin = stdin
        self.progress = progress

    @contextlib.contextmanager
    def open_input(self, uri: str) -> Iterator[IO[bytes]]:
        if uri == STDIN:
            yield self._decoded(self._stdin or sys.stdin.buffer, "stdin")
            return
        with super().open_input(uri) as stream:
            yield self._decoded(stream, uri)

    def _decoded(self, stream: IO[bytes], uri: str) -> IO[bytes]:
        source: Readable = stream if self.progress is None else _Counted(stream, self.progress)
        head = source.read(len(GZIP_MAGIC))
        rest = _Prefixed(head, source)
        if head == GZIP_MAGIC:
            return cast(IO[bytes], _Gunzipped(rest, uri))
        return cast(IO[bytes], rest)


class _Prefixed:
    """A read() over bytes already read followed by the rest of the stream."""

    def __init__(self, head: bytes, stream: Readable) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if 0 <= size < len(self._head):
            data, self._head = self._head[:size], self._head[size:]
            return data
        head, self._head = self._head, b""
        rest = self._stream.read(-1 if size < 0 else size - len(head))
        return head + rest


class _Counted:
    """Passes reads through, advancing the progress line by the bytes read (compressed bytes for gzip)."""

    def __init__(self, stream: Readable, progress: ProgressLine) -> None:
        self._stream = stream
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._progress.advance(len(data))
        return data


class _Gunzipped:
    """The decompressed bytes of a gzip stream; damaged data is a DataError naming the input."""

    def __init__(self, stream: Readable, uri: str) -> None:
        self._file = gzip.GzipFile(fileobj=cast(Any, stream), mode="rb")
        self._uri = uri

    def read(self, size: int = -1) -> bytes:
        try:
            return self._file.read(size)
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise DataError(
                f"{self._uri} is gzip-compressed but cannot be decompressed: {error or 'it is truncated'}",
                code="BAD_GZIP",
                hint="check the file with `gzip -t`, or give the uncompressed .jsonl",
            ) from None


def cli_storage(progress: ProgressLine | None = None) -> CliStorage:
    """The CLI's storage over local disk and S3 (ambient AWS credentials), as `default_storage` builds it."""
    from forgeflow.composition import default_storage  # deferred: boto3 loads only when a command runs

    return CliStorage(default_storage().s3, progress=progress)


def input_size(storage: Storage, uri: str) -> int | None:
    """The input's size in bytes for a progress total; None for stdin."""
    from forgeflow.storage import object_identity

    if uri == STDIN:
        return None
    size = object_identity(storage, uri).get("size")
    return int(size) if size is not None else None
