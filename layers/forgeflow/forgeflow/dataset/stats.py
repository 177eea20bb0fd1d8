"""Dataset statistics gathered while validating: what downstream steps (mixing, recipe pre-flight) need.

Statistics describe the valid records only: those are what a training job would read.
"""

from __future__ import annotations

from typing import Any

from forgeflow.dataset.tokens import RecordCounts

# Context lengths the recipes offer; `tokens_over[n]` counts records whose estimate exceeds n.
CONTEXT_LENGTHS = (1024, 2048, 4096, 8192, 16384, 32768, 65536)


class StatsCollector:
    __slots__ = (
        "_over",
        "blank_lines",
        "characters",
        "documents",
        "duplicates",
        "images",
        "longest",
        "max_tokens",
        "max_turns",
        "method",
        "records",
        "tokens",
        "turns",
        "videos",
    )

    def __init__(self) -> None:
        self.method: str | None = None
        self.records = 0
        self.turns = 0
        self.max_turns = 0
        self.images = 0
        self.videos = 0
        self.documents = 0
        self.characters = 0
        self.tokens = 0
        self.max_tokens = 0
        self.longest: dict[str, int] | None = None
        self._over = [0] * len(CONTEXT_LENGTHS)
        self.duplicates = 0
        self.blank_lines = 0

    def add(self, line: int, counts: RecordCounts, est_tokens: int) -> None:
        self.records += 1
        self.turns += counts.messages
        if counts.messages > self.max_turns:
            self.max_turns = counts.messages
        self.images += counts.images
        self.videos += counts.videos
        self.documents += counts.documents
        self.characters += counts.characters
        self.tokens += est_tokens
        if est_tokens > self.max_tokens or self.longest is None:
            self.max_tokens = est_tokens
            self.longest = {"line": line, "est_tokens": est_tokens, "characters": counts.characters}
        if est_tokens > CONTEXT_LENGTHS[0]:
            for index, limit in enumerate(CONTEXT_LENGTHS):
                if est_tokens > limit:
                    self._over[index] += 1

    def to_dict(self) -> dict[str, Any]:
        multimodal = self.images or self.videos or self.documents
        return {
            "method": self.method,
            "modality": "multimodal" if multimodal else "text",
            "records": self.records,
            "turns": {"total": self.turns, "max": self.max_turns},
            "images": self.images,
            "videos": self.videos,
            "documents": self.documents,
            "characters": self.characters,
            "est_tokens": {
                "total": self.tokens,
                "mean": round(self.tokens / self.records, 1) if self.records else 0.0,
                "max": self.max_tokens,
            },
            "longest_record": self.longest,
            "tokens_over": {str(limit): n for limit, n in zip(CONTEXT_LENGTHS, self._over, strict=True)},
            "duplicates": self.duplicates,
            "blank_lines": self.blank_lines,
        }
