"""The walk's vocabulary (walk.py): the reserved-string test, JSON pointers, type names in messages.

Reserved strings: shared/reference/converse-format.md (the "Text" rule: `System:`, `User:`, `Bot:`,
`Assistant:`, `Thought:`, `[EOS]`, `<image>`, `<video>`, `<unk>`, case-insensitive, anywhere in a text;
rules.py RESERVED_STRINGS). `holds_reserved` must answer
exactly as RESERVED_PATTERN does: a miss lets a reserved string through the fast path unreported, a false
alarm sends the record down the slow full walk (field-notes.md, "Where validation time goes").
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from forgeflow.dataset import walk
from forgeflow.dataset.record import RecordValidator
from forgeflow.dataset.rules import RESERVED_PATTERN, RESERVED_STRINGS
from forgeflow.dataset.walk import first_reserved, holds_reserved, may_hold_reserved, pointer_token, type_name

# Texts a reserved-string test must clear: each anchor character (":", "<", "[") without its word,
# words without their anchor, and words cut short.
NEAR_MISSES = [
    "",
    "plain words",
    "a: b",
    "system - user - bot",
    "<b>bold</b>",
    "[x] done",
    "<unk",
    "unk>",
    "[EOS",
    "System :",
    "Thought;",
    "a: <b> [c]",
    # folded candidates ("]" and ">" scan as ":") that are no reserved string: the substring test decides
    "[eos: not the end",
    "thought] no",
    "<unk: <image:",
    "user> bot>",
]


@pytest.mark.parametrize("word", RESERVED_STRINGS)
@pytest.mark.parametrize("spell", [str, str.upper, str.lower], ids=["as-listed", "upper", "lower"])
def test_dataset_walk_every_reserved_string_is_found_in_any_case(word: str, spell: Any) -> None:
    text = f"before {spell(word)} after"
    assert may_hold_reserved(text)
    assert holds_reserved(text)
    assert holds_reserved(spell(word))


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_dataset_walk_near_misses_are_cleared(text: str) -> None:
    assert RESERVED_PATTERN.search(text.lower()) is None  # the table's own premise
    assert not holds_reserved(text)


@pytest.mark.parametrize(
    "text",
    [
        "[eos: then user: and <unk>",  # a folded candidate ("[eos:") before the first real string
        "<unk: <UNK> system:",
        "THOUGHT] bot: assistant:",  # "thought]" folds to a candidate, "bot:" is the first real one
        "x" * 3 + "bot:",  # a candidate near the start (no negative offsets)
        "ot: t: [eos:",  # candidates only, cut short of their words
        "assistant: bot:",  # one word ends inside another's text? no: leftmost wins
        "\u0130 <\u212aNK> \u212a",
    ],
)
def test_dataset_walk_first_reserved_is_the_leftmost_spelling(text: str) -> None:
    # first_reserved names what RESERVED_PATTERN finds first in the lowered text (the RESERVED_TOKEN
    # message), walking the folded scan's candidates, false ones ("[eos:") included.
    text = text.encode().decode("unicode_escape")
    found = RESERVED_PATTERN.search(text.lower())
    spelling = {s.lower(): s for s in RESERVED_STRINGS}
    assert first_reserved(text) == (None if found is None else spelling[found.group()])


def _fold(text: str) -> str:
    return text.lower().replace("]", ":").replace(">", ":")


@pytest.mark.parametrize(
    "text",
    [*NEAR_MISSES, *RESERVED_STRINGS, "before System: and [EOS] then <video>", "bot:user:[eos]<unk>", "::"],
)
def test_dataset_walk_the_folded_pattern_ends_exactly_where_a_folded_string_ends(text: str) -> None:
    # The scan's one pattern (built at import; built again here so that a change to how it is built
    # shows): its matches end exactly at the ends of the folded reserved strings in the folded text.
    pattern = walk._folded_pattern()
    folded = _fold(text)
    words = [_fold(word) for word in RESERVED_STRINGS]
    ends = {end for end in range(len(folded) + 1) if any(folded[:end].endswith(word) for word in words)}
    assert {match.end() for match in pattern.finditer(folded)} == ends
    assert pattern.pattern == walk._FOLDED_PATTERN.pattern


def test_dataset_walk_the_anchor_prefilter() -> None:
    # Every reserved string holds ":", "[" or "<" (walk.py): a text without any needs no search.
    for anchor in (":", "[", "<"):
        assert may_hold_reserved(f"a{anchor}b")
    assert not may_hold_reserved("no anchors at all")
    assert not may_hold_reserved("")


def _findings(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    outcome = RecordValidator().check(1, orjson.dumps(record))
    return [(i.path, i.code, i.message.split("; fix: ")[0]) for i in outcome.errors + outcome.warnings]


def _sft(*user_blocks: Any) -> dict[str, Any]:
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [
            {"role": "user", "content": list(user_blocks)},
            {"role": "assistant", "content": [{"text": "answer"}]},
        ],
    }


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("see <UNK> here", "<unk>"),
        ("done [eos]", "[EOS]"),
        ("assistant: hi", "Assistant:"),
        # The Kelvin sign lowers to an ASCII "k" (walk.py): "<UN\u212a>" is "<unk>" to the model.
        ("<UN\u212a>", "<unk>"),
    ],
)
def test_dataset_walk_a_reserved_string_is_one_error_named_as_listed(text: str, spelled: str) -> None:
    assert _findings(_sft({"text": text})) == [
        ("/messages/0/content/0/text", "RESERVED_TOKEN", f"text contains the reserved string {spelled!r}")
    ]


@pytest.mark.parametrize("text", NEAR_MISSES[1:])  # "" is EMPTY_TEXT
def test_dataset_walk_a_near_miss_is_no_finding(text: str) -> None:
    assert _findings(_sft({"text": text})) == []


@pytest.mark.parametrize(
    ("value", "name"),
    [(None, "null"), (True, "boolean"), (False, "boolean"), (1, "number"), (1.5, "number"), ([], "array")],
)
def test_dataset_walk_a_text_of_the_wrong_type_is_named_in_json_terms(value: Any, name: str) -> None:
    # A second, real text: the message is not also EMPTY_TEXT.
    assert _findings(_sft({"text": value}, {"text": "q"})) == [
        ("/messages/0/content/0/text", "WRONG_TYPE", f"text is {name}, expected a string")
    ]


def test_dataset_walk_a_non_json_value_is_named_by_its_python_type() -> None:
    # check_record takes parsed records (conversion output), which need not come from JSON.
    outcome = RecordValidator().check_record(1, {"messages": ("a", "b")})
    assert [(i.path, i.code) for i in outcome.errors] == [("/messages", "WRONG_TYPE")]
    assert outcome.errors[0].message.startswith("messages is tuple, expected an array; fix: ")
    assert type_name(b"x") == "bytes"


@pytest.mark.parametrize(
    ("key", "token"),
    [("a/b", "a~1b"), ("a~b", "a~0b"), ("~1", "~01"), ("/~", "~1~0"), ("plain", "plain")],
)
def test_dataset_walk_pointer_tokens_escape_as_rfc_6901(key: str, token: str) -> None:
    assert pointer_token(key) == token
    record = _sft({"text": "q"})
    record[key] = 1
    assert _findings(record) == [(f"/{token}", "UNKNOWN_KEY", f"unknown top-level key {key!r}")]


# Turns one test away from the plain turn `record._plain_turn` takes ({role, content: [one non-blank
# text]} in its turn): each must still get the general path's finding, at its pointer.
@pytest.mark.parametrize(
    ("assistant", "expected"),
    [
        ({"role": "assistant", "content": [{"text": "   "}]}, ("/messages/1/content", "EMPTY_TEXT")),
        ({"role": "assistant", "content": [{"text": ""}]}, ("/messages/1/content", "EMPTY_TEXT")),
        ({"role": "assistant", "content": [{"text": 7}]}, ("/messages/1/content/0/text", "WRONG_TYPE")),
        ({"role": "assistant", "content": []}, ("/messages/1/content", "EMPTY_MESSAGE")),
        ({"role": "user", "content": [{"text": "hi"}]}, ("/messages/1/role", "ROLE_ORDER")),
        ({"role": "assistant", "extra": [{"text": "hi"}]}, ("/messages/1/extra", "UNKNOWN_KEY")),
        (
            {"role": "assistant", "content": [{"text": "a", "image": {}}]},
            ("/messages/1/content/0", "MULTIPLE_BLOCK_KEYS"),
        ),
        (
            {"role": "assistant", "content": [{"text": "see User: here"}]},
            ("/messages/1/content/0/text", "RESERVED_TOKEN"),
        ),
    ],
)
def test_dataset_walk_near_plain_turns_take_the_general_path(
    assistant: dict[str, Any], expected: tuple[str, str]
) -> None:
    record = _sft({"text": "question"})
    record["messages"][1] = assistant
    assert expected in [(path, code) for path, code, _ in _findings(record)]
