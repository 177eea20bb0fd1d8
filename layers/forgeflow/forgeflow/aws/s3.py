"""S3 adapter: streaming reads, prefix listings and multipart writes, in bounded memory."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from forgeflow.errors import InputError

# S3's minimum part size is 5 MiB (except the last part); 8 MiB keeps memory small and requests few.
PART_SIZE = 8 * 1024 * 1024


def default_client() -> Any:
    """The S3 client for the ambient credentials and region (imported late: boto3 is slow to load)."""
    import boto3  # deferred: `forgeflow --help` and the pure modules must not pay for it

    return boto3.client("s3")


class S3ObjectReader(io.RawIOBase):
    """A raw, read-only stream over one S3 object's body; wrap it in io.BufferedReader."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3MultipartWriter(io.RawIOBase):
    """Writes one S3 object through a multipart upload; nothing is visible until `close()` succeeds.

    Small objects (under one part) are sent with a single PutObject. `abort()` discards every uploaded
    part, so a failed write never leaves a partial object behind.
    """

    def __init__(self, client: Any, bucket: str, key: str, part_size: int = PART_SIZE) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._aborted = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._buffer.extend(chunk)
        while len(self._buffer) >= self._part_size:
            self._upload_part(bytes(self._buffer[: self._part_size]))
            del self._buffer[: self._part_size]
        return len(chunk)

    def _upload_part(self, data: bytes) -> None:
        if self._upload_id is None:
            started = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
            self._upload_id = started["UploadId"]
        number = len(self._parts) + 1
        answer = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=data
        )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def abort(self) -> None:
        self._aborted = True
        if self._upload_id is not None:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
        self._buffer.clear()
        super().close()

    def close(self) -> None:
        if self.closed or self._aborted:
            return
        if self._upload_id is None:
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer.clear()
        super().close()


class S3Objects:
    """The S3 operations ForgeFlow needs, with errors turned into actionable InputErrors."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = default_client()
        return self._client

    def open_read(self, bucket: str, key: str, version_id: str | None = None) -> io.BufferedReader:
        request = {"Bucket": bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
        try:
            answer = self.client.get_object(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}:
                version = f" (version {version_id})" if version_id else ""
                raise InputError(
                    f"s3://{bucket}/{key}{version} does not exist",
                    code="NOT_FOUND",
                    hint="check the bucket and key",
                ) from error
            raise InputError(f"cannot read s3://{bucket}/{key}: {code or error}", code="S3_READ") from error
        return io.BufferedReader(S3ObjectReader(answer["Body"]), buffer_size=1024 * 1024)

    def head(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
        extra = {"VersionId": version_id} if version_id else {}
        try:
            answer: dict[str, Any] = self.client.head_object(Bucket=bucket, Key=key, **extra)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise InputError(f"cannot inspect s3://{bucket}/{key}: {error}", code="S3_READ") from error
        return answer

    def list_keys(self, bucket: str, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    yield entry["Key"]
        except ClientError as error:
            raise InputError(f"cannot list s3://{bucket}/{prefix}: {error}", code="S3_LIST") from error

    def writer(self, bucket: str, key: str) -> S3MultipartWriter:
        return S3MultipartWriter(self.client, bucket, key)
