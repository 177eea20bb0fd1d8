"""An in-memory `forgeflow.ports.ObjectStore`: S3 objects with versions and ETags, for step tests on fakes.

`Storage(MemoryS3())` reads and writes `s3://` URIs without moto, so a step's unit tests run in
milliseconds (the boto3 adapter itself is tested against moto in tests/adapters/).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from forgeflow.errors import InputError


@dataclass
class _Object:
    data: bytes
    version_id: str | None
    etag: str
    size: int  # what HEAD reports: len(data), or a size given for a huge object never read


@dataclass
class _Writer:
    store: MemoryS3
    bucket: str
    key: str
    parts: list[bytes] = field(default_factory=list)

    def write(self, data: bytes, /) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def abort(self) -> None:
        self.parts.clear()

    def close(self) -> None:
        self.store.put(self.bucket, self.key, b"".join(self.parts))


@dataclass
class MemoryS3:
    """Objects by (bucket, key): the current one, plus every version when `versioned`."""

    versioned: bool = True
    objects: dict[tuple[str, str], _Object] = field(default_factory=dict)
    versions: dict[tuple[str, str, str], _Object] = field(default_factory=dict)
    heads: list[tuple[str, str, str | None]] = field(default_factory=list)

    def put(
        self, bucket: str, key: str, data: bytes, *, version_id: str | None = None, size: int | None = None
    ) -> _Object:
        if self.versioned and version_id is None:
            version_id = f"v{len(self.versions) + 1}"
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        stored = _Object(
            data, version_id if self.versioned else None, etag, len(data) if size is None else size
        )
        self.objects[(bucket, key)] = stored
        if stored.version_id:
            self.versions[(bucket, key, stored.version_id)] = stored
        return stored

    def _find(self, bucket: str, key: str, version_id: str | None) -> _Object | None:
        if version_id is not None:
            return self.versions.get((bucket, key, version_id))
        return self.objects.get((bucket, key))

    def open_read(self, bucket: str, key: str, version_id: str | None = None) -> IO[bytes]:
        found = self._find(bucket, key, version_id)
        if found is None:
            raise InputError(f"s3://{bucket}/{key} does not exist", code="NOT_FOUND")
        return io.BytesIO(found.data)

    def head(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
        self.heads.append((bucket, key, version_id))
        found = self._find(bucket, key, version_id)
        if found is None:
            return None
        head: dict[str, Any] = {"ContentLength": found.size, "ETag": f'"{found.etag}"'}
        if found.version_id:
            head["VersionId"] = found.version_id
        return head

    def list_keys(self, bucket: str, prefix: str) -> Iterable[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))

    def writer(self, bucket: str, key: str) -> _Writer:
        return _Writer(self, bucket, key)
