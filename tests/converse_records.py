"""Builders for Converse records in tests: a text block, a user and an assistant message."""

from __future__ import annotations

from typing import Any


def t(text: Any = "hi") -> dict[str, Any]:
    return {"text": text}


def u(*blocks: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks) or [t("question")]}


def a(*blocks: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks) or [t("answer")]}
