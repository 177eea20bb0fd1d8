"""Fuzzing: no input crashes the validator, and each single rule violation is caught with its own code."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from forgeflow.dataset.converse import DPORecord, SFTRecord
from forgeflow.dataset.rules import RESERVED_PATTERN, RESERVED_STRINGS
from forgeflow.dataset.validation import RecordValidator, ValidationOptions, validate_stream
from forgeflow.dataset.walk import first_reserved, holds_reserved
from forgeflow.nova import Method

VOCABULARY = [
    "messages", "role", "content", "text", "image", "video", "document", "format", "source", "s3Location",
    "uri", "bucketOwner", "candidates", "preferenceLabel", "toolUse", "toolResult", "toolUseId", "name",
    "input", "json", "reasoningContent", "reasoningText", "system", "toolConfig", "tools", "toolSpec",
    "description", "inputSchema", "type", "schemaVersion",
]  # fmt: skip
VALUES = [
    "user",
    "assistant",
    "system",
    "png",
    "mp4",
    "pdf",
    "preferred",
    "non-preferred",
    "s3://b/k.png",
    "t1",
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(VALUES)
)
converse_like = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(VOCABULARY) | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), cap=st.sampled_from([16, 100, 1 << 20]))
def test_arbitrary_bytes_never_crash(data: bytes, cap: int) -> None:
    report = validate_stream(io.BytesIO(data), ValidationOptions(max_line_bytes=cap, max_error_details=5))
    orjson.dumps(report.to_dict())
    assert report.error_count >= len(report.errors)


@settings(max_examples=300, deadline=None)
@given(value=converse_like, method=st.sampled_from([None, Method.SFT, Method.DPO]))
def test_arbitrary_json_never_crashes(value: Any, method: Method | None) -> None:
    validator = RecordValidator(ValidationOptions(method=method))
    outcome = validator.check(1, orjson.dumps(value))
    assert outcome.valid == (outcome.canonical is not None)
    for model in (SFTRecord, DPORecord):
        try:
            model.model_validate(value)
        except ValidationError:
            continue


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(converse_like.map(orjson.dumps) | st.binary(max_size=50), max_size=6))
def test_arbitrary_lines_never_crash(lines: list[bytes]) -> None:
    report = validate_stream(io.BytesIO(b"\n".join(lines)), ValidationOptions(platform="bedrock"))
    orjson.dumps(report.to_dict())
    assert report.valid_records <= report.records
    assert report.valid == (report.error_count == 0)


# -- valid records, and one rule broken at a time --------------------------------------------------------

safe_text = st.text(min_size=1, max_size=40).filter(
    lambda t: (
        not any(s.lower() in t.lower() for s in RESERVED_STRINGS) and "\u212a" not in t and not t.isspace()
    )
)
image_block = st.builds(
    lambda fmt, name: {
        "image": {"format": fmt, "source": {"s3Location": {"uri": f"s3://media/{name}.{fmt}"}}}
    },
    st.sampled_from(["jpeg", "png", "gif", "webp", "PNG"]),
    st.from_regex(r"[a-z0-9_\-]{1,12}", fullmatch=True),
)


@st.composite
def sft_records(draw: st.DrawFn, min_exchanges: int = 1) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if draw(st.booleans()):
        record["schemaVersion"] = "bedrock-conversation-2024"
    if draw(st.booleans()):
        record["system"] = [{"text": draw(safe_text)}]
    messages = []
    for _ in range(draw(st.integers(min_exchanges, 3))):
        content: list[dict[str, Any]] = [{"text": draw(safe_text)}]
        content += draw(st.lists(image_block, max_size=2))
        messages.append({"role": "user", "content": content})
        messages.append({"role": "assistant", "content": [{"text": draw(safe_text)}]})
    record["messages"] = messages
    return record


@st.composite
def dpo_records(draw: st.DrawFn) -> dict[str, Any]:
    # Two exchanges at least, so that messages[1] is an ordinary assistant turn the mutations can target.
    record = draw(sft_records(min_exchanges=2))
    last = record["messages"][-1]
    labels = [
        "preferred",
        "non-preferred",
        *draw(st.lists(st.sampled_from(["preferred", "Non-Preferred"]), max_size=2)),
    ]
    last.pop("content")
    last["candidates"] = [
        {"content": [{"text": draw(safe_text)}], "preferenceLabel": label} for label in labels
    ]
    return record


Mutation = Callable[[dict[str, Any], st.DataObject], None]


def _image(fmt: str = "png", uri: str = "s3://media/a.png") -> dict[str, Any]:
    return {"image": {"format": fmt, "source": {"s3Location": {"uri": uri}}}}


def _reserved(record: dict[str, Any], data: st.DataObject) -> None:
    word = data.draw(st.sampled_from(RESERVED_STRINGS))
    spelled = "".join(c.upper() if data.draw(st.booleans()) else c.lower() for c in word)
    block = record["messages"][0]["content"][0]
    # An earlier mutation may have made the text a non-string (WRONG_TYPE): the reserved word replaces it.
    text = block.get("text")
    block["text"] = f"{text} {spelled}" if isinstance(text, str) else spelled


COMMON: dict[str, Mutation] = {
    "ROLE_ORDER": lambda r, d: r["messages"][0].update(role="assistant"),
    "LAST_NOT_ASSISTANT": lambda r, d: r["messages"].append({"role": "user", "content": [{"text": "more"}]}),
    "INVALID_ROLE": lambda r, d: r["messages"][0].update(
        role=d.draw(st.sampled_from(["User", "human", "bot"]))
    ),
    "SYSTEM_ROLE": lambda r, d: r["messages"][0].update(role="system"),
    "MISSING_ROLE": lambda r, d: r["messages"][0].pop("role"),
    "MISSING_MESSAGES": lambda r, d: r.pop("messages"),
    "TOO_FEW_MESSAGES": lambda r, d: r.update(messages=r["messages"][:1]),
    "EMPTY_MESSAGE": lambda r, d: r["messages"][0].update(content=[]),
    "RESERVED_TOKEN": _reserved,
    "UNKNOWN_BLOCK": lambda r, d: r["messages"][0]["content"].append({"audio": {"format": "mp3"}}),
    "MULTIPLE_BLOCK_KEYS": lambda r, d: r["messages"][0]["content"][0].update(_image()),
    "MEDIA_IN_ASSISTANT": lambda r, d: r["messages"][1].setdefault("content", []).append(_image()),
    "IMAGE_FORMAT": lambda r, d: r["messages"][0]["content"].append(_image(fmt="bmp")),
    "MEDIA_URI": lambda r, d: r["messages"][0]["content"].append(_image(uri="s3://media/a b.png")),
    "TOO_MANY_IMAGES": lambda r, d: r["messages"][0]["content"].extend(_image() for _ in range(11)),
    "WRONG_TYPE": lambda r, d: r["messages"][0]["content"][0].update(
        text=d.draw(st.integers(-(2**63), 2**63 - 1) | st.none())
    ),
    "SYSTEM_BLOCK": lambda r, d: r.update(system=[{"text": "x", "lang": "en"}]),
    "REASONING_NOT_SUPPORTED": lambda r, d: (
        r["messages"][1]
        .setdefault("content", [{"text": "x"}])
        .append({"reasoningContent": {"reasoningText": {"text": "because"}}})
    ),
    "TOOL_RESULT_UNKNOWN_ID": lambda r, d: r["messages"][0]["content"].append(
        {"toolResult": {"toolUseId": "nope", "content": [{"text": "42"}]}}
    ),
    "TOOL_USE_ROLE": lambda r, d: r["messages"][0]["content"].append(
        {"toolUse": {"toolUseId": "u1", "name": "lookup", "input": {}}}
    ),
}
SFT_ONLY: dict[str, Mutation] = {
    "EMPTY_TEXT": lambda r, d: r["messages"][-1].update(content=[{"text": ""}]),
    "MISSING_CONTENT": lambda r, d: r["messages"][-1].pop("content"),
}
DPO_ONLY: dict[str, Mutation] = {
    "PREFERENCE_LABEL": lambda r, d: r["messages"][-1]["candidates"][0].update(preferenceLabel="best"),
    "SAME_PREFERENCE": lambda r, d: [
        c.update(preferenceLabel="preferred") for c in r["messages"][-1]["candidates"]
    ],
    "TOO_FEW_CANDIDATES": lambda r, d: r["messages"][-1].update(
        candidates=r["messages"][-1]["candidates"][:1]
    ),
    "CANDIDATE_MEDIA": lambda r, d: r["messages"][-1]["candidates"][0]["content"].append(_image()),
    "EMPTY_TEXT": lambda r, d: r["messages"][-1]["candidates"][1].update(content=[{"text": ""}]),
    "CANDIDATES_WITH_CONTENT": lambda r, d: r["messages"][-1].update(content=[{"text": "x"}]),
}


def _codes(record: dict[str, Any], method: Method) -> set[str]:
    outcome = RecordValidator(ValidationOptions(method=method)).check(1, orjson.dumps(record))
    return {issue.code for issue in outcome.errors}


@settings(max_examples=150, deadline=None)
@given(record=sft_records(), code=st.sampled_from(sorted({**COMMON, **SFT_ONLY})), data=st.data())
def test_one_violation_in_a_valid_sft_record_is_caught(
    record: dict[str, Any], code: str, data: st.DataObject
) -> None:
    outcome = RecordValidator(ValidationOptions(method=Method.SFT)).check(1, orjson.dumps(record))
    assert outcome.valid
    assert not outcome.warnings
    SFTRecord.model_validate(record)
    mutated = copy.deepcopy(record)
    {**COMMON, **SFT_ONLY}[code](mutated, data)
    assert code in _codes(mutated, Method.SFT)


@settings(max_examples=100, deadline=None)
@given(record=dpo_records(), code=st.sampled_from(sorted({**COMMON, **DPO_ONLY})), data=st.data())
def test_one_violation_in_a_valid_dpo_record_is_caught(
    record: dict[str, Any], code: str, data: st.DataObject
) -> None:
    assert _codes(record, Method.DPO) == set()
    DPORecord.model_validate(record)
    mutated = copy.deepcopy(record)
    {**COMMON, **DPO_ONLY}[code](mutated, data)
    assert code in _codes(mutated, Method.DPO)


# -- the reserved-string fast path agrees with the regex -------------------------------------------------

reserved_like = st.lists(
    st.sampled_from(
        [*RESERVED_STRINGS, "user", ":", "<", "[", "]", ">", "eos", "\u212a", "\u0130", "\u017f", "unk>", " "]
    )
    | st.text(max_size=4),
    max_size=8,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=reserved_like)
def test_the_reserved_fast_check_agrees_with_the_pattern(text: str) -> None:
    found = RESERVED_PATTERN.search(text.lower())
    assert holds_reserved(text) == (found is not None)
    spelling = {s.lower(): s for s in RESERVED_STRINGS}
    assert first_reserved(text) == (None if found is None else spelling[found.group()])
