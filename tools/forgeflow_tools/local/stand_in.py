"""The emulator's stand-in "model": nearest-neighbour retrieval over what it was trained on.

No model runs offline, so the emulated evaluation measures a transparent stand-in instead: a memory of
(prompt → response) pairs that answers a query with the response of the memory item whose prompt has
the highest word overlap with it (Jaccard similarity of the lower-cased word sets; on a tie, the item
that came first in the training data wins). An empty memory answers "".

- A trained checkpoint's memory is the `train` channel of the job that produced it: prompt = the
  record's system and user texts, response = the last assistant text (the preferred candidate of a DPO
  record). Records without such a text are skipped.
- The base model's memory is empty: it has never seen the customer's domain.

Scoring is exact and fast: an inverted index over words; words found in more than half of the items are
indexed by the items that *lack* them, so a word shared by every prompt (a common system prompt) costs
nothing per query.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

_WORD = re.compile(r"\w+")


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def _texts(blocks: Any) -> list[str]:
    if not isinstance(blocks, list):
        return []
    return [
        str(block["text"])
        for block in blocks
        if isinstance(block, dict) and isinstance(block.get("text"), str)
    ]


def converse_pair(record: Any) -> tuple[str, str] | None:
    """(prompt, response) of a Converse record (SFT or DPO), or None when it has no assistant text."""
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        return None
    prompt = _texts(record.get("system"))
    response: str | None = None
    for message in record["messages"]:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "user":
            prompt.extend(_texts(message.get("content")))
        elif message.get("role") == "assistant":
            if "candidates" in message:
                preferred = [
                    candidate
                    for candidate in message["candidates"] or []
                    if isinstance(candidate, dict)
                    and str(candidate.get("preferenceLabel", "")).lower() == "preferred"
                ]
                texts = _texts(preferred[0].get("content")) if preferred else []
            else:
                texts = _texts(message.get("content"))
            if texts:
                response = "\n".join(texts)
    if response is None:
        return None
    return "\n".join(prompt), response


class RetrievalModel:
    """Answers with the response of the most word-overlapping memorised prompt (see the module doc)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._responses: list[str] = []
        self._sizes: list[int] = []
        postings: dict[str, list[int]] = {}
        for index, (prompt, response) in enumerate(pairs):
            prompt_words = words(prompt)
            self._responses.append(response)
            self._sizes.append(len(prompt_words))
            for word in prompt_words:
                postings.setdefault(word, []).append(index)
        total = len(self._responses)
        self._present: dict[str, list[int]] = {}
        self._absent: dict[str, list[int]] = {}
        for word, items in postings.items():
            if 2 * len(items) > total:
                holding = set(items)
                self._absent[word] = [index for index in range(total) if index not in holding]
            else:
                self._present[word] = items
        # For items no indexed list touches: the best is the smallest prompt, then the earliest.
        self._by_size = sorted(range(total), key=lambda index: (self._sizes[index], index))

    def __len__(self) -> int:
        return len(self._responses)

    def answer(self, prompt: str) -> str:
        if not self._responses:
            return ""
        query = words(prompt)
        hits: Counter[int] = Counter()
        misses: Counter[int] = Counter()
        frequent = 0  # frequent query words: every item holds them except those in its `misses`
        for word in query:
            if word in self._present:
                hits.update(self._present[word])
            elif word in self._absent:
                frequent += 1
                misses.update(self._absent[word])

        size, sizes = len(query), self._sizes

        def score(index: int, shared: int) -> float:
            union = size + sizes[index] - shared
            return shared / union if union else 1.0

        best_score, best_index = -1.0, -1
        hits_get, misses_get = hits.get, misses.get
        touched = hits.keys() | misses.keys()
        for index in touched:  # the hot loop: inlined `score`
            shared = hits_get(index, 0) + frequent - misses_get(index, 0)
            union = size + sizes[index] - shared
            value = shared / union if union else 1.0
            if value > best_score or (value == best_score and index < best_index):
                best_score, best_index = value, index
        untouched = next((index for index in self._by_size if index not in touched), None)
        if untouched is not None:
            if score(untouched, frequent) == 0.0:
                # Every untouched item scores 0: the tie goes to the earliest of them.
                untouched = next(index for index in range(len(self)) if index not in touched)
            value = score(untouched, frequent)
            if value > best_score or (value == best_score and untouched < best_index):
                best_score, best_index = value, untouched
        return self._responses[best_index]
