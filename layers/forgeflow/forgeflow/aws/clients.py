"""boto3 clients, built on first use: importing boto3 costs ~0.3 s, paid only by code that talks to AWS."""

from __future__ import annotations

from typing import Any


class LazyClient:
    """A boto3 client built on first use (a poll that only describes a job never builds the S3 client)."""

    def __init__(self, service: str, region: str | None = None) -> None:
        self._service = service
        self._region = region
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            import boto3  # deferred: see the module docstring

            self._client = boto3.client(self._service, region_name=self._region)
        return getattr(self._client, name)
