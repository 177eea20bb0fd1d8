"""Dataset statistics gathered while validating: what downstream steps (mixing, recipe pre-flight) need.

Statistics describe the valid records only: those are what a training job would read. `StatsCollector`
is their writer (cheap counters on the hot path); `ValidationStats` is the typed, frozen result that
crosses module boundaries: `to_dict()` is the report's `stats` object, `from_dict()` reads one back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from forgeflow.dataset.tokens import RecordCounts
from forgeflow.nova import Method

# Context lengths the recipes offer; `tokens_over[n]` counts records whose estimate exceeds n.
CONTEXT_LENGTHS = (1024, 2048, 4096, 8192, 16384, 32768, 65536)

Modality = Literal["text", "multimodal"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TurnStats(_Frozen):
    total: int
    max: int


class TokenStats(_Frozen):
    """Estimated tokens of the valid records: sum, mean per record (one decimal), largest."""

    total: int
    mean: float
    max: int


class LongestRecord(_Frozen):
    """The record with the largest token estimate (the first such, by line)."""

    line: int
    est_tokens: int
    characters: int


class ValidationStats(_Frozen):
    """The statistics of one validated file; fields and order are those of the report's `stats` object."""

    method: Method | None
    modality: Modality
    records: int
    turns: TurnStats
    images: int
    videos: int
    documents: int
    characters: int
    est_tokens: TokenStats
    longest_record: LongestRecord | None
    tokens_over: dict[int, int]  # context length → records whose estimate exceeds it
    duplicates: int
    blank_lines: int

    @classmethod
    def empty(cls) -> ValidationStats:
        """The statistics of no records (a report's until its run finishes)."""
        return StatsCollector().result()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationStats:
        """Reads a report's `stats` object back (pydantic's ValidationError when it is not one)."""
        return cls.model_validate(data)

    def to_dict(self) -> dict[str, Any]:
        """The report's `stats` object, JSON-ready (`tokens_over` keys as strings)."""
        return self.model_dump(mode="json")


class StatsCollector:
    """Accumulates the valid records' counts during the pass; `result()` freezes them."""

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
        self.method: Method | None = None
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
        if self._longer(est_tokens, line):
            self.max_tokens = est_tokens
            self.longest = {"line": line, "est_tokens": est_tokens, "characters": counts.characters}
        if est_tokens > CONTEXT_LENGTHS[0]:
            for index, limit in enumerate(CONTEXT_LENGTHS):
                if est_tokens > limit:
                    self._over[index] += 1

    def add_batch(self, lines: list[int], counts: list[RecordCounts], tokens: list[int]) -> None:
        """`add` of each (line, counts, tokens), lines ascending, summed in C (the fast path's batch)."""
        characters, messages, _, images, videos, documents = zip(*counts, strict=True)
        self.records += len(lines)
        self.turns += sum(messages)
        self.max_turns = max(self.max_turns, *messages)
        self.images += sum(images)
        self.videos += sum(videos)
        self.documents += sum(documents)
        self.characters += sum(characters)
        self.tokens += sum(tokens)
        top = max(tokens)
        first = tokens.index(top)  # the first record of the batch with its largest estimate
        if self._longer(top, lines[first]):
            self.max_tokens = top
            self.longest = {"line": lines[first], "est_tokens": top, "characters": characters[first]}
        if top > CONTEXT_LENGTHS[0]:
            for index, limit in enumerate(CONTEXT_LENGTHS):
                self._over[index] += sum(1 for estimate in tokens if estimate > limit)

    def _longer(self, tokens: int, line: int) -> bool:
        """Whether a record is the new longest: the largest estimate, the first by line among equals (so
        records may arrive in any order: the fast path's batch comes after a chunk's other records)."""
        longest = self.longest
        if longest is None or tokens > self.max_tokens:
            return True
        return tokens == self.max_tokens and line < longest["line"]

    def merge(self, other: StatsCollector, shift: int) -> None:
        """Adds the counts of `other`, a collector of later lines numbered from 1, `shift` lines on."""
        self.records += other.records
        self.turns += other.turns
        self.max_turns = max(self.max_turns, other.max_turns)
        self.images += other.images
        self.videos += other.videos
        self.documents += other.documents
        self.characters += other.characters
        self.tokens += other.tokens
        longest = other.longest
        if longest is not None and (other.max_tokens > self.max_tokens or self.longest is None):
            self.max_tokens = other.max_tokens  # the first record of the largest estimate, as in add()
            self.longest = {**longest, "line": longest["line"] + shift}
        self._over = [mine + theirs for mine, theirs in zip(self._over, other._over, strict=True)]
        self.duplicates += other.duplicates
        self.blank_lines += other.blank_lines

    def result(self) -> ValidationStats:
        multimodal = self.images or self.videos or self.documents
        longest = self.longest
        return ValidationStats(
            method=self.method,
            modality="multimodal" if multimodal else "text",
            records=self.records,
            turns=TurnStats(total=self.turns, max=self.max_turns),
            images=self.images,
            videos=self.videos,
            documents=self.documents,
            characters=self.characters,
            est_tokens=TokenStats(
                total=self.tokens,
                mean=round(self.tokens / self.records, 1) if self.records else 0.0,
                max=self.max_tokens,
            ),
            longest_record=None if longest is None else LongestRecord(**longest),
            tokens_over=dict(zip(CONTEXT_LENGTHS, self._over, strict=True)),
            duplicates=self.duplicates,
            blank_lines=self.blank_lines,
        )
