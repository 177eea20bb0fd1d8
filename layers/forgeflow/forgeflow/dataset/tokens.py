"""The one token heuristic ForgeFlow uses: validator statistics, `unit: tokens` mixing, recipe pre-flight.

Nova's tokenizer is not public, so ForgeFlow plans with a documented estimate that errs on the high side
for English text:

    est_tokens = ceil(characters / 4)
               + 4 per message (plus 4 for a non-empty `system` list)   # role and turn markers
               + 1,600 per image + 8,000 per video + 2,000 per document  # media placeholders

`characters` counts every text a model reads: system texts, text blocks, reasoning texts, candidate texts,
tool-result texts, and the compact JSON of tool inputs, tool-result JSON and the tool configuration.
Media are referenced by S3 URI, so their tokens are planning constants, not measurements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import orjson

CHARS_PER_TOKEN = 4
MESSAGE_TOKENS = 4
IMAGE_TOKENS = 1_600
VIDEO_TOKENS = 8_000
DOCUMENT_TOKENS = 2_000


class RecordCounts(NamedTuple):  # a tuple: built once per record on the validator's hot path
    """What a record holds, as far as the token estimate and the statistics care."""

    characters: int = 0
    messages: int = 0
    has_system: bool = False
    images: int = 0
    videos: int = 0
    documents: int = 0


def tokens_from_counts(
    characters: int,
    messages: int,
    *,
    has_system: bool = False,
    images: int = 0,
    videos: int = 0,
    documents: int = 0,
) -> int:
    """The heuristic itself, from counts (the validator's hot path gathers them while it checks)."""
    text_tokens = -(-characters // CHARS_PER_TOKEN)
    turns = messages + (1 if has_system else 0)
    return (
        text_tokens
        + MESSAGE_TOKENS * turns
        + IMAGE_TOKENS * images
        + VIDEO_TOKENS * videos
        + DOCUMENT_TOKENS * documents
    )


def tokens_of_many(counts: Iterable[RecordCounts]) -> list[int]:
    """`tokens_from_counts` of each record's counts, in one comprehension (the fast path's batches)."""
    return [
        -(-characters // CHARS_PER_TOKEN)
        + MESSAGE_TOKENS * (messages + has_system)
        + IMAGE_TOKENS * images
        + VIDEO_TOKENS * videos
        + DOCUMENT_TOKENS * documents
        for characters, messages, has_system, images, videos, documents in counts
    ]


def _json_chars(value: Any) -> int:
    try:
        return len(orjson.dumps(value).decode())
    except orjson.JSONEncodeError:
        return 0


def _content_counts(blocks: Any, totals: list[int]) -> None:
    """Adds characters, images, videos, documents of a content list into `totals` (in that order)."""
    if not isinstance(blocks, list):
        return
    for block in blocks:
        if not isinstance(block, dict):
            continue
        text = block.get("text")
        if isinstance(text, str):
            totals[0] += len(text)
        if "image" in block:
            totals[1] += 1
        if "video" in block:
            totals[2] += 1
        if "document" in block:
            totals[3] += 1
        reasoning = block.get("reasoningContent")
        if isinstance(reasoning, dict):
            reasoning_text = reasoning.get("reasoningText")
            if isinstance(reasoning_text, dict) and isinstance(reasoning_text.get("text"), str):
                totals[0] += len(reasoning_text["text"])
        tool_use = block.get("toolUse")
        if isinstance(tool_use, dict):
            name = tool_use.get("name")
            totals[0] += (len(name) if isinstance(name, str) else 0) + _json_chars(tool_use.get("input"))
        tool_result = block.get("toolResult")
        if isinstance(tool_result, dict) and isinstance(tool_result.get("content"), list):
            for item in tool_result["content"]:
                if isinstance(item, dict):
                    if isinstance(item.get("text"), str):
                        totals[0] += len(item["text"])
                    if "json" in item:
                        totals[0] += _json_chars(item["json"])


def count_record(record: Mapping[str, Any]) -> RecordCounts:
    """Counts any record tolerantly: missing or mistyped parts count as nothing."""
    totals = [0, 0, 0, 0]
    system = record.get("system")
    has_system = isinstance(system, list) and len(system) > 0
    if isinstance(system, list):
        for block in system:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                totals[0] += len(block["text"])
    if "toolConfig" in record:
        totals[0] += _json_chars(record["toolConfig"])
    messages = record.get("messages")
    message_count = 0
    if isinstance(messages, list):
        message_count = len(messages)
        for message in messages:
            if not isinstance(message, dict):
                continue
            _content_counts(message.get("content"), totals)
            candidates = message.get("candidates")
            if isinstance(candidates, list):
                for candidate in candidates:
                    if isinstance(candidate, dict):
                        _content_counts(candidate.get("content"), totals)
    return RecordCounts(
        characters=totals[0],
        messages=message_count,
        has_system=has_system,
        images=totals[1],
        videos=totals[2],
        documents=totals[3],
    )


def estimate_tokens(record: Mapping[str, Any]) -> int:
    """Estimated tokens of one Converse record (SFT or DPO): see the module docstring for the formula."""
    counts = count_record(record)
    return tokens_from_counts(
        counts.characters,
        counts.messages,
        has_system=counts.has_system,
        images=counts.images,
        videos=counts.videos,
        documents=counts.documents,
    )
