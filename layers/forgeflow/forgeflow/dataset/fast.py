"""The fast path of the record rules: the common valid shapes accepted in one tight pass.

Most records of a real dataset are valid and of a few shapes: text SFT or DPO, an optional system prompt,
image, video or document blocks in user turns. `FastPath.counts` walks such a record with no bookkeeping
and answers its counts, or None as soon as anything is unusual (an unknown key, a tool, reasoning, a
wrong type, any broken rule). The full walk in `record.py` then checks that record from scratch, so every
finding, JSON pointer and message still comes from one place. Tests prove the fast path accepts only
records the full walk finds nothing wrong with, and answers the same counts
(tests/unit/dataset/test_dataset_fast.py).

`raw_clear` tests a whole raw line for the reserved strings at once, before any per-text work
(field-notes.md, "Where validation time goes"): when it clears the line, no text of the record can hold
one and the fast path skips the per-text test. `unclear_lines` answers the same question for every line
of a whole read chunk at once (one fold, one search per chunk instead of per line).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from itertools import accumulate
from typing import Any

from forgeflow.dataset.blocks import S3_URI, BlockRules
from forgeflow.dataset.rules import DOCUMENT_FORMATS, MAX_IMAGES_PER_MESSAGE, RESERVED_STRINGS
from forgeflow.dataset.tokens import RecordCounts
from forgeflow.dataset.walk import holds_reserved, may_hold_reserved
from forgeflow.nova import NovaModel

_ANCHORS = ":]>"  # the last byte of every reserved string
assert all(s[-1] in _ANCHORS for s in RESERVED_STRINGS)


def _folded_pattern() -> re.Pattern[bytes]:
    """The reserved strings, each ending with ":" (see `_fold`), as one pattern led by the literal ":".

    The re engine finds a literal first byte by a tight scan and tries the rest only there: a
    case-insensitive lookbehind on the byte before the ":" (rejecting a JSON key's `":` at once), then
    one lookbehind per string. Bytes patterns fold ASCII only, as `str.lower` does for ASCII.
    """
    words = [s.lower()[:-1].encode() + b":" for s in RESERVED_STRINGS]
    before = b"".join(sorted({re.escape(word[-2:-1]) for word in words}))
    tests = b"|".join(b"(?<=" + re.escape(word) + b")" for word in words)
    return re.compile(b"(?i):(?<=[" + before + b"]:)(?:" + tests + b")")


def _fold(body: bytes) -> bytes:
    """`body` with every anchor made ":", so that one scan for one literal byte finds every candidate end.

    bytes.replace of one byte by one byte is a copy and a memchr per occurrence. Measured on 1 MiB of
    bench/validate.py's text SFT, multi-turn and multimodal corpora, `_suspects` takes 0.58, 0.91 and
    0.71 ms this way against 0.95, 1.20 and 1.04 with one scan per anchor (a folded "]" or ">" only makes
    more candidates, never fewer).
    """
    return body.replace(b"]", b":").replace(b">", b":")


_PATTERN = _folded_pattern()
# The only characters outside ASCII whose lower case holds ASCII (U+0130 → "i̇", U+212A KELVIN SIGN → "k"):
# str.lower() can make a reserved string of them, a bytes pattern cannot (a test checks every code point).
_FOLDS_TO_ASCII = ("\u0130".encode(), "\u212a".encode())


def raw_clear(raw: bytes) -> bool:
    """True when no text of the JSON line `raw` can hold a reserved string (False: test each text).

    A raw scan can only clear a line: a `\\u` escape can spell any character, so a line holding one, or
    a character that lowers to ASCII, or a hit, is left to the test of each decoded text.
    """
    return not _suspects(raw, 0, len(raw))


def unclear_lines(
    body: bytes, start: int = 0, end: int | None = None, lines: list[bytes] | None = None
) -> set[int]:
    """The 0-based indexes of the lines of `body[start:end]` (split at `\\n`, or `lines` when the caller
    has them) that `raw_clear` would not clear; the bounds spare a copy of a read chunk's lines."""
    return scan_lines(body, start, end, lines)[0]


def scan_lines(
    body: bytes, start: int = 0, end: int | None = None, lines: list[bytes] | None = None
) -> tuple[set[int], set[int]]:
    """(unclear, spelled): the lines `raw_clear` would not clear (see `unclear_lines`), and among them
    those where a reserved string is spelled out in plain ASCII.

    A spelled line almost always breaks RESERVED_TOKEN: the callers send it straight to the full walk,
    which would otherwise follow a fast walk that lowers each text, stops at the finding and is thrown
    away. No reserved string, `\\u` or folding character holds a newline, so a match never spans two
    lines: scanning the whole body finds exactly the lines a per-line `raw_clear` finds.
    """
    end = len(body) if end is None else end
    escapes = _escapes(body, start, end)
    spelled = [match.start() for match in _PATTERN.finditer(_fold(body), start, end)]
    if not escapes and not spelled:
        return set(), set()
    if lines is None:
        lines = body[start:end].split(b"\n")
    # Line i ends (at its newline) `sizes[i] + i` bytes after `start`; a bisection per suspect finds its
    # line, where counting the newlines before it would read the chunk byte by byte.
    sizes = list(accumulate(map(len, lines)))
    indexes = range(len(lines))

    def line_end(index: int) -> int:
        return sizes[index] + index

    hits = {bisect_left(indexes, position - start, key=line_end) for position in spelled}
    return hits | {bisect_left(indexes, position - start, key=line_end) for position in escapes}, hits


def _suspects(body: bytes, start: int, end: int) -> list[int]:
    """Positions in `body[start:end]` where a text may hold a reserved string (one at least per line)."""
    # A lookbehind never reaches a match into the line before `start`: no reserved string holds "\n".
    return _escapes(body, start, end) + [
        match.start() for match in _PATTERN.finditer(_fold(body), start, end)
    ]


def _escapes(body: bytes, start: int, end: int) -> list[int]:
    """Positions of `\\u` escapes and of characters lowering to ASCII: what a raw scan cannot read."""
    positions: list[int] = []
    if body.find(b"\\", start, end) >= 0:  # memchr: most buffers hold no escape at all
        positions += _line_hits(body, b"\\u", start, end)
    # Not two memchr of the needles' lead bytes instead: fewer instructions (callgrind) but 4-5 % more CPU
    # time on bench/validate.py's 25 MB multimodal and invalid corpora (alternating runs, same session).
    if not body.isascii():
        for needle in _FOLDS_TO_ASCII:
            positions += _line_hits(body, needle, start, end)
    return positions


def _line_hits(body: bytes, needle: bytes, start: int, end: int) -> list[int]:
    """The first position of `needle` in each line of `body[start:end]` holding it (once per line)."""
    hits = []
    position = body.find(needle, start, end)
    while position >= 0:
        hits.append(position)
        after = body.find(b"\n", position, end)
        if after < 0:
            break
        position = body.find(needle, after, end)
    return hits


_ROLES = ("user", "assistant")  # message i must have _ROLES[i & 1]
_LABELS = frozenset({"preferred", "non-preferred"})
_ABSENT: Any = object()
_new = tuple.__new__  # a RecordCounts without its Python-level __new__ (once per record)


class FastPath:
    """The fast path for one validator's options: `counts` of a common, valid record or None."""

    def __init__(self, model: NovaModel, blocks: BlockRules) -> None:
        # Media are checked here only without a probe (--check-media looks objects up: the full walk).
        self._media = not model.text_only and not blocks.probes
        self._lite_2 = model is NovaModel.LITE_2  # no DPO on Nova 2 Lite: the full walk reports it
        self._formats = {
            "image": blocks.image_formats,
            "video": blocks.video_formats,
            "document": DOCUMENT_FORMATS,
        }

    def counts(self, record: dict[str, Any], dpo_dataset: bool, clear: bool) -> RecordCounts | None:
        """The counts of `record` when it is of a common shape, of the dataset's method (`dpo_dataset`)
        and breaks no rule, else None. The pass calls it once the method is known (the first record's,
        `RecordValidator.fast_counts`): one call per record, not two."""
        messages = record.get("messages")
        if type(messages) is not list or len(messages) < 2 or len(messages) & 1:
            return None  # an odd count ends with a user turn
        last = messages[-1]
        is_dpo = type(last) is dict and "candidates" in last
        if is_dpo is not dpo_dataset or (is_dpo and self._lite_2):
            return None
        version = record.get("schemaVersion", _ABSENT)
        system = record.get("system", _ABSENT)
        # No key but these three: counting the ones present is cheaper than a keys-view subset test.
        if len(record) != 1 + (version is not _ABSENT) + (system is not _ABSENT):
            return None  # an unknown key
        if version is not _ABSENT and type(version) is not str:
            return None
        characters = 0
        if system is not _ABSENT:
            if type(system) is not list:
                return None
            for block in system:
                if type(block) is not dict or len(block) != 1:
                    return None
                text = block.get("text")
                if type(text) is not str or (not clear and _reserved(text)):
                    return None
                characters += len(text)
        totals = self._messages(messages, is_dpo, clear)
        if totals is None:
            return None
        text, images, videos, documents = totals
        if documents > 1 or videos > 1 or (videos and (images or is_dpo)):
            return None
        has_system = system is not _ABSENT and len(system) > 0
        return _new(RecordCounts, (characters + text, len(messages), has_system, images, videos, documents))

    def _messages(self, messages: list[Any], is_dpo: bool, clear: bool) -> tuple[int, int, int, int] | None:
        """(characters, images, videos, documents) of well-formed, alternating messages, else None."""
        characters = images = videos = documents = 0
        last = len(messages) - 1
        for index, message in enumerate(messages):
            if type(message) is not dict or len(message) != 2 or message.get("role") != _ROLES[index & 1]:
                return None
            if index == last and is_dpo:
                candidates = self._candidates(message.get("candidates"), clear)
                if candidates is None:
                    return None
                characters += candidates
                continue
            content = message.get("content")
            if type(content) is not list:
                return None
            if len(content) == 1:  # the commonest turn, one text block: inline
                block = content[0]
                text = block.get("text") if type(block) is dict and len(block) == 1 else None
                if type(text) is str and text and not text.isspace() and (clear or not _reserved(text)):
                    characters += len(text)
                    continue
            counts = self._content(content, not index & 1, clear)
            if counts is None:
                return None
            characters += counts[0]
            images += counts[1]
            videos += counts[2]
            documents += counts[3]
        return characters, images, videos, documents

    def _content(self, blocks: list[Any], user: bool, clear: bool) -> tuple[int, int, int, int] | None:
        """(characters, images, videos, documents) of one message's content, None unless fine."""
        characters = images = videos = documents = 0
        written = False  # some text holds more than whitespace
        media_here, formats_of = user and self._media, self._formats
        for block in blocks:
            if type(block) is not dict or len(block) != 1:
                return None
            text = block.get("text", _ABSENT)
            if text is _ABSENT:
                if not media_here:
                    return None  # media in an assistant turn, or a tool or reasoning block: the full walk
                [(kind, value)] = block.items()
                formats = formats_of.get(kind)
                if formats is None or not _media_ok(value, formats):
                    return None
                if kind == "image":
                    images += 1
                elif kind == "video":
                    videos += 1
                else:
                    documents += 1
                continue
            if type(text) is not str or (not clear and _reserved(text)):
                return None
            characters += len(text)
            if not written and text and not text.isspace():
                written = True
        media = images or videos or documents
        if not (written or media) or images > MAX_IMAGES_PER_MESSAGE:
            return None  # EMPTY_MESSAGE / EMPTY_TEXT / TOO_MANY_IMAGES
        if videos and (videos > 1 or images or documents):
            return None  # TOO_MANY_VIDEOS / VIDEO_WITH_OTHER_MEDIA
        return characters, images, videos, documents

    def _candidates(self, candidates: Any, clear: bool) -> int | None:
        """The characters of two or more well-formed, differently labelled text candidates, else None."""
        if type(candidates) is not list or len(candidates) < 2:
            return None
        characters = 0
        labels: set[str] = set()
        for candidate in candidates:
            if type(candidate) is not dict or len(candidate) != 2:
                return None
            label = candidate.get("preferenceLabel")
            content = candidate.get("content")
            if type(label) is not str or type(content) is not list:
                return None
            label = label.lower()
            if label not in _LABELS:
                return None
            labels.add(label)
            written = False
            for block in content:
                if type(block) is not dict or len(block) != 1:
                    return None
                text = block.get("text")
                if type(text) is not str or (not clear and _reserved(text)):
                    return None
                characters += len(text)
                written = written or (text != "" and not text.isspace())
            if not written:
                return None  # EMPTY_TEXT
        return characters if len(labels) == 2 else None


def _reserved(text: str) -> bool:
    return may_hold_reserved(text) and holds_reserved(text)


def _media_ok(value: Any, formats: frozenset[str]) -> bool:
    """Whether a media block's value passes `BlockRules._media` (format, s3Location, bucketOwner)."""
    try:  # a missing key or a non-object on the way: the full walk says which
        fmt = value["format"]
        source = value["source"]
        location = source["s3Location"]
        uri = location["uri"]
    except (KeyError, TypeError):
        return False
    if type(value) is not dict or type(source) is not dict or type(location) is not dict:
        return False  # only JSON objects (a list or a string subscripted by a str raises TypeError)
    # `formats` are lower case: a format found as it is needs no lowered copy.
    if type(fmt) is not str or (fmt not in formats and fmt.lower() not in formats) or type(uri) is not str:
        return False
    if not S3_URI.fullmatch(uri):
        return False
    owner = location.get("bucketOwner", _ABSENT)
    # ACCOUNT_ID's [0-9]{12} without the regex: isdigit() of ASCII text is exactly [0-9] (a test agrees).
    return owner is _ABSENT or (
        type(owner) is str and len(owner) == 12 and owner.isascii() and owner.isdigit()
    )
