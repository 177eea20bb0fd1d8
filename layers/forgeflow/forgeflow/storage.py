"""One way to read, list and write datasets, whether they live on local disk or in S3.

Every command and handler names data by URI: a local path (`data/train.jsonl`, `file:///…`) or an
`s3://bucket/key` URI. Reads stream (bounded memory); writes are atomic: a local file is written to a
temporary sibling and renamed, an S3 object is a multipart upload completed only on success, so a failed
run never leaves a half-written output behind or overwrites good data with a partial one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from forgeflow.errors import InputError
from forgeflow.ports import ObjectStore

JSONL_SUFFIX = ".jsonl"


class BinaryWriter(Protocol):
    """What `open_output` yields: a local file or an S3 multipart upload."""

    def write(self, data: bytes, /) -> int: ...


@dataclass(frozen=True)
class Location:
    """A parsed URI: either a local path or an S3 bucket and key."""

    uri: str
    bucket: str | None = None
    key: str = ""
    path: Path | None = None

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None


def parse_uri(uri: str) -> Location:
    if uri.startswith("s3://"):
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise InputError(f"{uri!r} names no bucket", code="BAD_URI", hint="use s3://bucket/key")
        return Location(uri=uri, bucket=bucket, key=key)
    if uri.startswith("file://"):
        return Location(uri=uri, path=Path(uri[len("file://") :]))
    if "://" in uri:
        raise InputError(f"unsupported URI scheme in {uri!r}", code="BAD_URI", hint="use a path or s3://")
    return Location(uri=uri, path=Path(uri))


def join(uri: str, name: str) -> str:
    """`join("s3://b/out", "train.jsonl")` → `s3://b/out/train.jsonl`; the same for local folders."""
    location = parse_uri(uri)
    if location.is_s3:
        return f"{uri.rstrip('/')}/{name}"
    assert location.path is not None
    return str(location.path / name)


class Storage:
    """URI-addressed reads, listings and atomic writes over local disk and S3.

    S3 goes through the `ObjectStore` port given here; `forgeflow.composition.default_storage()` gives
    one backed by boto3. Without it, only local paths work (and the AWS SDK is never loaded).
    """

    def __init__(self, s3: ObjectStore | None = None) -> None:
        self._s3 = s3
        self._pinned_versions: dict[str, str] = {}

    @property
    def s3(self) -> ObjectStore:
        if self._s3 is None:
            raise InputError(
                "this Storage has no S3 access",
                code="NO_S3",
                hint="build it with forgeflow.composition.default_storage() to read or write s3:// URIs",
            )
        return self._s3

    def pin_version(self, uri: str, version_id: str | None) -> None:
        """Read exactly this S3 object version of `uri` from now on (no-op for None or local paths).

        A pipeline run is about the object version that triggered it: pinning keeps every later read of
        that dataset on the same bytes even if someone uploads a new version under the same key meanwhile.
        """
        if version_id and parse_uri(uri).is_s3:
            self._pinned_versions[uri] = version_id

    @contextlib.contextmanager
    def open_input(self, uri: str) -> Iterator[IO[bytes]]:
        """A binary stream over one object or file; InputError when it does not exist."""
        location = parse_uri(uri)
        if location.is_s3:
            assert location.bucket is not None
            version_id = self._pinned_versions.get(uri)
            stream: IO[bytes] = self.s3.open_read(location.bucket, location.key, version_id)
        else:
            assert location.path is not None
            if location.path.is_dir():
                raise InputError(f"{uri} is a directory", code="NOT_A_FILE", hint="name a .jsonl file")
            try:
                stream = location.path.open("rb")
            except FileNotFoundError as error:
                raise InputError(f"{uri} does not exist", code="NOT_FOUND") from error
            except OSError as error:
                raise InputError(f"cannot read {uri}: {error.strerror}", code="READ_ERROR") from error
        with stream:
            yield stream

    def read_bytes(self, uri: str) -> bytes:
        with self.open_input(uri) as stream:
            return stream.read()

    def exists(self, uri: str) -> bool:
        location = parse_uri(uri)
        if location.is_s3:
            assert location.bucket is not None
            return self.s3.head(location.bucket, location.key) is not None
        assert location.path is not None
        return location.path.is_file()

    def head(self, uri: str, version_id: str | None = None) -> dict[str, Any] | None:
        """An S3 object's (or version's) metadata, None when absent; a local file's size as ContentLength."""
        location = parse_uri(uri)
        if location.is_s3:
            assert location.bucket is not None
            return self.s3.head(location.bucket, location.key, version_id)
        assert location.path is not None
        return {"ContentLength": location.path.stat().st_size} if location.path.is_file() else None

    def list_jsonl(self, uri: str) -> list[str]:
        """The `.jsonl` files a URI names, sorted: the file itself, or every one under a folder/prefix.

        Sorting makes every consumer independent of the order a file system or S3 happens to list in.
        """
        location = parse_uri(uri)
        if location.is_s3:
            assert location.bucket is not None
            names_object = location.key and not location.key.endswith("/")
            if names_object and self.s3.head(location.bucket, location.key):
                return [uri]
            prefix = location.key if not location.key or location.key.endswith("/") else location.key + "/"
            keys = sorted(k for k in self.s3.list_keys(location.bucket, prefix) if k.endswith(JSONL_SUFFIX))
            found = [f"s3://{location.bucket}/{key}" for key in keys]
        else:
            assert location.path is not None
            if location.path.is_file():
                return [uri]
            if not location.path.is_dir():
                raise InputError(f"{uri} does not exist", code="NOT_FOUND")
            found = sorted(str(p) for p in location.path.rglob(f"*{JSONL_SUFFIX}") if p.is_file())
        if not found:
            raise InputError(
                f"no {JSONL_SUFFIX} files under {uri}", code="NOT_FOUND", hint="check the prefix or folder"
            )
        return found

    def list_under(self, uri: str) -> list[str]:
        """Every file under a folder/prefix, in listing order (S3: its key order); NOT_FOUND when none."""
        location = parse_uri(uri)
        if location.is_s3:
            assert location.bucket is not None
            prefix = location.key if location.key.endswith("/") else location.key + "/"
            found = [f"s3://{location.bucket}/{key}" for key in self.s3.list_keys(location.bucket, prefix)]
        else:
            assert location.path is not None
            paths = location.path.rglob("*") if location.path.is_dir() else []
            found = sorted(str(path) for path in paths if path.is_file())
        if not found:
            raise InputError(f"nothing under {uri}", code="NOT_FOUND", hint="check the prefix or folder")
        return found

    @contextlib.contextmanager
    def open_output(self, uri: str) -> Iterator[BinaryWriter]:
        """A binary writer whose result appears at `uri` only if the `with` block succeeds."""
        location = parse_uri(uri)
        if location.is_s3:
            assert location.bucket is not None
            writer = self.s3.writer(location.bucket, location.key)
            try:
                yield writer
            except BaseException:
                writer.abort()
                raise
            writer.close()
            return
        assert location.path is not None
        handle, temporary = _temporary_sibling(location.path)
        try:
            with os.fdopen(handle, "wb", buffering=1024 * 1024) as stream:
                yield stream
            # mkstemp creates 0600; the output gets the mode `open()` would give it (or keeps its own).
            os.chmod(temporary, _output_mode(location.path))
            os.replace(temporary, location.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def write_bytes(self, uri: str, data: bytes) -> None:
        with self.open_output(uri) as stream:
            stream.write(data)


def _temporary_sibling(path: Path) -> tuple[int, str]:
    """A temporary file next to `path` (so the final rename is atomic); InputError naming `path`."""
    if path.is_dir():
        raise InputError(f"{path} is a folder", code="NOT_A_FILE", hint="give a file path for the output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except (FileExistsError, NotADirectoryError):
        raise InputError(
            f"cannot write {path}: a file is in the way of its folder {path.parent}",
            code="NOT_A_FOLDER",
            hint="remove that file or give another output path",
        ) from None
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror or error}", code="WRITE_ERROR") from None


def _output_mode(path: Path) -> int:
    """An existing file keeps its mode (an in-place convert); a new one gets 0666 minus the umask."""
    with contextlib.suppress(FileNotFoundError):
        return path.stat().st_mode & 0o7777
    return 0o666 & ~_umask()


def _umask() -> int:
    # The only portable way to read the umask is to set it; set it straight back.
    current = os.umask(0o022)
    os.umask(current)
    return current


def object_identity(storage: Storage, uri: str) -> dict[str, Any]:
    """What identifies one version of an input: size and ETag/version for S3, size and mtime locally."""
    location = parse_uri(uri)
    if location.is_s3:
        assert location.bucket is not None
        head = storage.s3.head(location.bucket, location.key)
        if head is None:
            raise InputError(f"{uri} does not exist", code="NOT_FOUND")
        return {
            "uri": uri,
            "size": head.get("ContentLength"),
            "etag": str(head.get("ETag", "")).strip('"'),
            "version_id": head.get("VersionId"),
        }
    assert location.path is not None
    stat = location.path.stat()
    return {"uri": uri, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
