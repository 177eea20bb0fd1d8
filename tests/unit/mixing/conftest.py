"""Helpers for the mixing tests: small, unique, valid SFT/DPO records tagged with their source."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest


class MixData:
    """Builds source files whose every record names its source and index, so tests can trace lines."""

    @staticmethod
    def record(source: str, index: int, *, padding: int = 0, dpo: bool = False) -> dict[str, Any]:
        user = {"role": "user", "content": [{"text": f"{source} question {index} " + "w" * padding}]}
        if dpo:
            last: dict[str, Any] = {
                "role": "assistant",
                "candidates": [
                    {"content": [{"text": f"good answer {index}"}], "preferenceLabel": "preferred"},
                    {"content": [{"text": f"bad answer {index}"}], "preferenceLabel": "non-preferred"},
                ],
            }
        else:
            last = {"role": "assistant", "content": [{"text": f"{source} answer {index}"}]}
        return {"schemaVersion": "bedrock-conversation-2024", "messages": [user, last]}

    @staticmethod
    def line(record: dict[str, Any]) -> bytes:
        return orjson.dumps(record)

    @classmethod
    def write(
        cls,
        folder: Path,
        source: str,
        count: int,
        *,
        files: int = 1,
        paddings: list[int] | None = None,
        dpo: bool = False,
        spaced: bool = False,
        shuffle: int | None = None,
    ) -> list[bytes]:
        """`count` records of `source` spread round-robin over `files` files under folder/source/.

        Returns the canonical lines. `spaced` writes them with non-canonical whitespace; `shuffle` (a seed)
        writes them in another order.
        """
        directory = folder / source
        directory.mkdir(parents=True, exist_ok=True)
        chunks: list[list[bytes]] = [[] for _ in range(files)]
        canonical = []
        indices = list(range(count))
        if shuffle is not None:
            random.Random(shuffle).shuffle(indices)
        for index in indices:
            padding = paddings[index % len(paddings)] if paddings else 0
            record = cls.record(source, index, padding=padding, dpo=dpo)
            canonical.append(cls.line(record))
            raw = orjson.dumps(record, option=orjson.OPT_INDENT_2).replace(b"\n", b"") if spaced else None
            chunks[index % files].append(raw if raw is not None else canonical[-1])
        for number, chunk in enumerate(chunks):
            (directory / f"part-{number:03d}.jsonl").write_bytes(b"".join(line + b"\n" for line in chunk))
        return sorted(canonical)

    @staticmethod
    def source_of(line: bytes) -> str:
        text = orjson.loads(line)["messages"][0]["content"][0]["text"]
        return str(text.split(" ", 1)[0])

    @staticmethod
    def read_lines(path: Path) -> list[bytes]:
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n")
        return data.splitlines()


@pytest.fixture(scope="session")
def mixdata() -> type[MixData]:
    return MixData
