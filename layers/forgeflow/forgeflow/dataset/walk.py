"""The vocabulary the record rules share: findings (`Issue`), JSON pointers, and the per-record `Walk`.

`Walk` collects (path, code, detail) triples while the rules in `record.py` and `blocks.py` descend one
record; `Issue`s, with their fix text, are built from them only after the walk, so the success path
allocates nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from forgeflow.dataset.codes import fix_for
from forgeflow.dataset.rules import RESERVED_STRINGS

_RESERVED_SPELLING = {s.lower(): s for s in RESERVED_STRINGS}


# Every reserved string holds ":", "[" or "<": a text without any of them (three memchr scans of the
# decoded string) needs no case-folded search. Decoded text also covers JSON \u escapes, and the only
# character whose lower case is ASCII and matters (the Kelvin sign, "k") appears in "<unk>", after "<".
def may_hold_reserved(text: str) -> bool:
    return ":" in text or "[" in text or "<" in text


_WORDS = tuple(s.lower() for s in RESERVED_STRINGS)


def _folded_pattern() -> re.Pattern[str]:
    """The lowered reserved strings with their last character made ":" (see `holds_reserved`), as one
    pattern led by the literal ":" and testing each string by a lookbehind."""
    words = [word[:-1] + ":" for word in _WORDS]
    before = re.escape("".join(sorted({word[-2] for word in words})))
    tests = "|".join(f"(?<={re.escape(word)})" for word in words)
    return re.compile(":(?<=[" + before + "]:)(?:" + tests + ")")


_FOLDED_PATTERN = _folded_pattern()
# The same scan folding ASCII case itself: on ASCII text (str.isascii is a flag test) `lower` folds
# only A-Z, so the lowered copy is needed only on a hit (0.46 against 0.68 µs on 800 characters).
_ASCII_FOLDED_PATTERN = re.compile(_FOLDED_PATTERN.pattern, re.IGNORECASE | re.ASCII)


def holds_reserved(text: str) -> bool:
    """Whether `rules.RESERVED_PATTERN` finds a reserved string in the lowered text, without that regex.

    The lowered text with "]" and ">" made ":" (str.replace: a memchr per occurrence) is scanned once
    for the literal ":", whose lookbehinds find every reserved string (the raw-chunk scan of `fast.py`,
    on decoded text); only on a hit, which may be a folded "[eos:", a substring test per string decides.
    On the texts of bench/validate.py's text SFT corpus (~840 characters holding ":", "[" and "<") this
    takes 0.6 µs against 4.2 µs for the substring tests alone.
    """
    lowered = text.lower()
    if _FOLDED_PATTERN.search(lowered.replace("]", ":").replace(">", ":")) is None:
        return False
    return any(word in lowered for word in _WORDS)


def first_reserved(text: str) -> str | None:
    """The spelling (as in RESERVED_STRINGS) of what `rules.RESERVED_PATTERN` finds first in `text.lower()`.

    The folded scan of `holds_reserved` on the same lowered text (the full walk lowers each text it
    tests once) yields each candidate's last character; the first candidate that a word really ends at
    is the answer. No reserved string is a prefix of another, and none overlaps another (each ends in
    ":", "]" or ">", which none starts with), so the leftmost end is the leftmost start, the regex's
    answer. An `endswith` per word at the candidates, where a `find` per word over the whole text took
    3.8 µs on an 800-character text (0.7 µs for the scan itself).
    """
    if text.isascii() and _ASCII_FOLDED_PATTERN.search(text.replace("]", ":").replace(">", ":")) is None:
        return None
    lowered = text.lower()
    for match in _FOLDED_PATTERN.finditer(lowered.replace("]", ":").replace(">", ":")):
        end = match.end()
        for word in _WORDS:
            if lowered.endswith(word, 0, end):
                return _RESERVED_SPELLING[word]
    return None


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding: 1-based line (0: the file as a whole), JSON pointer, stable code, message with fix."""

    line: int
    path: str
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "path": self.path, "code": self.code, "message": self.message}


def make_issue(line: int, path: str, code: str, detail: str) -> Issue:
    return Issue(line, path, code, f"{detail}; fix: {fix_for(code)}")


def pointer_token(key: str) -> str:
    """RFC 6901 escaping of one key."""
    return key.replace("~", "~0").replace("/", "~1")


def type_name(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
    }.get(type(value), type(value).__name__)


def json_chars(value: Any) -> int:
    """Characters of a value's compact JSON (what a tool input or schema costs in tokens)."""
    return len(orjson.dumps(value).decode())


class Walk:
    """Per-record state of one check: findings and counts."""

    __slots__ = (
        "answered",
        "characters",
        "clear",
        "documents",
        "findings",
        "images",
        "is_dpo",
        "media_path",
        "tool_names",
        "tool_path",
        "tool_use_ids",
        "videos",
    )

    def __init__(self, is_dpo: bool, clear: bool = False) -> None:
        self.findings: list[tuple[str, str, str]] = []
        self.is_dpo = is_dpo
        self.clear = clear  # the raw line holds no reserved string (`fast.raw_clear`): texts need no test
        self.characters = 0
        self.images = 0
        self.videos = 0
        self.documents = 0
        self.media_path: str | None = None  # where a record first exceeds one video or mixes images and video
        self.tool_names: set[str] | None = None
        self.tool_path: str | None = None  # the first toolConfig/toolUse/toolResult of the record
        self.tool_use_ids: set[str] = set()
        self.answered: set[str] = set()

    def add(self, path: str, code: str, detail: str) -> None:
        self.findings.append((path, code, detail))

    def text(self, value: Any, path: str) -> int:
        """Checks one text value; returns its length (0 when it is not a string)."""
        if type(value) is not str:
            self.add(path, "WRONG_TYPE", f"text is {type_name(value)}, expected a string")
            return 0
        if not self.clear and may_hold_reserved(value):
            found = first_reserved(value)
            if found is not None:
                self.add(path, "RESERVED_TOKEN", f"text contains the reserved string {found!r}")
        length = len(value)
        self.characters += length
        return length
