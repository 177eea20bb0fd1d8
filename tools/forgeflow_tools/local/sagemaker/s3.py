"""The few S3 reads and writes an emulated job makes, on the emulated account's S3 client."""

from __future__ import annotations

from typing import Any


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class S3Objects:
    """Objects addressed by `s3://` URI, as a job sees its channels and output path."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def exists(self, uri: str) -> bool:
        """Whether any object has this URI as prefix (a channel may name a file or a folder)."""
        bucket, key = split_s3(uri)
        answer = self._client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return bool(answer.get("KeyCount", 0))

    def read(self, uri: str) -> bytes:
        bucket, key = split_s3(uri)
        return bytes(self._client.get_object(Bucket=bucket, Key=key)["Body"].read())

    def put(self, uri: str, body: bytes) -> None:
        bucket, key = split_s3(uri)
        self._client.put_object(Bucket=bucket, Key=key, Body=body)

    def first_key(self, uri: str, suffix: str) -> str | None:
        """The URI of the first object under `uri` whose key ends in `suffix` (first listing page)."""
        bucket, key = split_s3(uri)
        answer = self._client.list_objects_v2(Bucket=bucket, Prefix=key)
        for entry in answer.get("Contents", []):
            if str(entry["Key"]).endswith(suffix):
                return f"s3://{bucket}/{entry['Key']}"
        return None

    def jsonl_keys(self, uri: str) -> list[str]:
        """Every `.jsonl` object of a channel, sorted: the URI itself when it names one file."""
        if uri.endswith(".jsonl"):
            return [uri]
        bucket, prefix = split_s3(uri)
        keys: list[str] = []
        arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            answer = self._client.list_objects_v2(**arguments)
            keys.extend(str(e["Key"]) for e in answer.get("Contents", []) if str(e["Key"]).endswith(".jsonl"))
            if not answer.get("IsTruncated"):
                break
            arguments["ContinuationToken"] = answer["NextContinuationToken"]
        return [f"s3://{bucket}/{key}" for key in sorted(keys)]

    def lines(self, uri: str, limit: int | None) -> list[bytes]:
        """The non-blank lines of an object, at most `limit` of them (read as a stream)."""
        bucket, key = split_s3(uri)
        body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
        lines: list[bytes] = []
        try:
            for line in body.iter_lines():
                if limit is not None and len(lines) >= limit:
                    break
                if line.strip():
                    lines.append(bytes(line))
        finally:
            body.close()
        return lines
