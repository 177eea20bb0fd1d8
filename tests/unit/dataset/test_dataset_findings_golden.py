"""Every branch of the record walk (record.py, blocks.py), one bad record each, against a golden report.

Mutation testing (docs/mutation.md) found findings no test looked at: a WRONG_TYPE at a message, a role,
a candidate list, a block could lose its code, path or message and every test still passed. Here each
record breaks one rule (the comment says which) and the golden report holds every finding's line, JSON
pointer, code and message, and the statistics; any change to what a user reads shows up as a diff.
Regenerate after an intended change with FORGEFLOW_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from converse_records import a, t, u

from forgeflow.dataset.validation import ValidationOptions, validate_stream

GOLDEN = Path(__file__).parent / "golden" / "findings"


def media(kind: str, fmt: str = "png", uri: str = "s3://m/x", **location: Any) -> dict[str, Any]:
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": uri, **location}}}}


IMAGE, VIDEO, DOC = media("image"), media("video", "mp4"), media("document", "pdf")


def cand(*blocks: Any, label: Any = "preferred") -> dict[str, Any]:
    return {"content": list(blocks) or [t("reply")], "preferenceLabel": label}


def dpo(*candidates: Any) -> dict[str, Any]:
    pair = candidates or (cand(), cand(label="non-preferred"))
    return {"messages": [u(), {"role": "assistant", "candidates": list(pair)}]}


TOOLS = {
    "tools": [
        {"toolSpec": {"name": "track", "description": "d", "inputSchema": {"json": {"type": "object"}}}}
    ]
}
USE = {"toolUse": {"toolUseId": "t1", "name": "track", "input": {"id": 7}}}
RESULT = {"toolResult": {"toolUseId": "t1", "content": [{"json": {"ok": True}}, t("done")]}}
DEEP = "deep"  # replaced by 300 nested arrays in the line: orjson parses them but never writes them

SFT_RECORDS: list[Any] = [
    {"system": [t("You classify.")], "messages": [u(), a()]},  # valid: the file is SFT
    {"schemaVersion": 3, "extra": 1, "messages": [u(), a()]},  # unknown key, schemaVersion type
    {"system": "s", "messages": [u(), a()]},  # system not an array
    {"system": [{"text": "a", "x": 1}, "s", {"no": 1}, t(5)], "messages": [u(), a()]},  # system blocks
    {"system": [t("only")]},  # no messages
    {"messages": {}},  # messages not an array
    {"messages": [u()]},  # one message, ends with user
    {"messages": []},  # no message at all
    {"messages": ["m", a()]},  # a message that is not an object
    {"messages": [{"content": [t()], "extra": 1}, {"role": 5, "content": [t()]}]},  # role missing, not str
    {"messages": [{"role": "System", "content": [t()]}, u(), {"role": "bot", "content": [t()]}]},
    {"messages": [u(), u(), a(), a()]},  # alternation broken twice
    {"messages": [{"role": "user", "candidates": [cand(), cand(label="non-preferred")]}, a()]},
    {"messages": [u(), {"role": "assistant", "content": [t()], "candidates": "x"}]},  # DPO in SFT file
    {"messages": [{"role": "user"}, {"role": "assistant", "content": "answer"}]},  # content missing, str
    {"messages": [u("s", {"text": "a", "image": IMAGE["image"]}, {"foo": 1}, {"text": "x", "bar": 2}), a()]},
    {"messages": [u(), {"role": "assistant", "content": []}]},  # empty message
    {"messages": [u(t("")), a(t("  "), t("\n"))]},  # empty and whitespace text
    {"messages": [u(t(5)), a(t("User: hi"), {"text": "a Bot: b", "x": 1})]},  # text type, reserved
    {"messages": [u(t("see"), IMAGE), a(IMAGE)]},  # image in an assistant message
    {"messages": [u(t("see"), media("image", "bmp"), {"image": "x"}), a()]},  # format, not an object
    {
        "messages": [
            u(t("see"), {"image": {"format": "png"}}, {"image": {"format": "png", "source": {}}}),
            a(),
        ]
    },
    {"messages": [u(t("see"), {"image": {"format": "png", "source": {"s3Location": {}}}}), a()]},
    {"messages": [u(t("see"), media("image", uri="http://x/y"), media("image", bucketOwner="me")), a()]},
    {"messages": [u(t("see"), media("image", bucketOwner=123456789012)), a()]},  # owner not a string
    {"messages": [u(t("read"), DOC, media("document", "docx")), a()]},  # two documents, a bad format
    {"messages": [u(t("see"), *[IMAGE] * 11), a()]},  # eleven images in one message
    {"messages": [u(t("see"), VIDEO, VIDEO), a()]},  # two videos in one message
    {"messages": [u(t("see"), VIDEO, IMAGE), a()]},  # a video with an image
    {"messages": [u(t("see"), VIDEO), a(), u(t("and"), VIDEO), a()]},  # two videos in the record
    {"messages": [u(t("see"), IMAGE), a(), u(t("and"), VIDEO), a()]},  # images and a video
    {"messages": [u(t("see"), media("video", "avi")), a()]},  # video format
    {"messages": [u({"reasoningContent": {"reasoningText": t("why")}}), a()]},  # reasoning by the user
    {"messages": [u(), a(t("x"), {"reasoningContent": "r"}, {"reasoningContent": {"reasoningText": t("")}})]},
    {"toolConfig": "x", "messages": [u(), a()]},  # toolConfig not an object
    {"toolConfig": {"tools": []}, "messages": [u(), a()]},  # no tools
    {
        "toolConfig": {
            "tools": [
                "x",
                {"toolSpec": {"name": "", "description": "", "inputSchema": {}}},
                {"toolSpec": {"name": "a", "description": "d", "inputSchema": {"json": {"type": "object"}}}},
                {"toolSpec": {"name": "a", "description": 5, "inputSchema": {"json": []}}},
            ]
        },
        "messages": [u(), a()],
    },
    {"toolConfig": TOOLS, "messages": [u(t("where?")), a(USE), u(RESULT), a()]},  # valid tool use
    {"toolConfig": TOOLS, "messages": [u(USE), a(RESULT)]},  # toolUse by the user, toolResult by assistant
    {
        "toolConfig": TOOLS,
        "messages": [
            u(),
            a({"toolUse": "x"}, {"toolUse": {"toolUseId": "", "name": "", "input": []}}, USE, USE),
            u({"toolUse": {"toolUseId": "t2", "name": "other", "input": {}}}),
            a(),
        ],
    },
    {
        "messages": [
            u(),
            a(USE),
            u(
                {"toolResult": "x"},
                {"toolResult": {"toolUseId": "", "content": []}},
                {"toolResult": {"toolUseId": "t9", "content": [{"text": "a", "json": {}}, "s"]}},
                RESULT,
                RESULT,
            ),
            a(),
        ]
    },
    {"messages": [u(), a({"toolUse": {"toolUseId": "t1", "name": "n", "input": {"d": DEEP}}})]},  # too deep
    {"messages": [u(t("  User: x")), a()]},  # a reserved string after spaces
    {"messages": [u(t(" "), t("")), a(t(" "), t(5))]},  # whitespace then empty or not a string
    # Valid records take the fast path (fast.py); an unknown key sends these edges through the walk.
    {"x": 1, "messages": [u(t("read"), DOC), a(), u(t("see"), VIDEO), a()]},  # the document elsewhere
    {"x": 1, "messages": [u(t("see"), *[IMAGE] * 10), a()]},  # ten images: the limit
    {"messages": [u(["text"]), a()]},  # a block that is an array holding the string "text"
    # A text block with another key takes the general path of the content walk.
    {"messages": [u({"text": "hello", "x": 1}), a()]},  # its only text is written
    {"messages": [u({"text": 5, "x": 1}), a()]},  # not a string
    {"messages": [u({"text": "", "x": 1}), a()]},  # empty
    {"messages": [u(t(" "), {"text": "", "x": 1}), a()]},  # whitespace before it: not empty
    {"messages": [u({"text": "see", "image": {"format": "bmp"}}), a()]},  # the kind after the text checked
]
RAW_LINES = [b"[1, 2]", b"{bad", b"\xff\xfe{}", b'{"messages": ']  # the last one has no newline

DPO_RECORDS: list[Any] = [
    dpo(),  # valid: the file is DPO
    {"messages": [u(), a()]},  # no candidates in a DPO file
    {"messages": [u(), {"role": "assistant", "candidates": "x"}]},  # candidates not an array
    dpo(cand()),  # one candidate
    dpo("x", {"content": [t()], "preferenceLabel": "best", "score": 1}, {"preferenceLabel": "preferred"}),
    dpo(cand(label=None), {"content": "x", "preferenceLabel": "non-preferred"}),  # no label, content str
    dpo(cand(), cand()),  # both preferred
    dpo(cand(label="Preferred"), cand(label="NON-PREFERRED")),  # labels are case-insensitive: valid
    dpo(cand(t("see"), IMAGE), cand(t(""), label="non-preferred")),  # media in a candidate, empty text
    dpo(cand({"reasoningContent": {"reasoningText": t("r")}}), cand(t("  "), label="non-preferred")),
    {
        "messages": [
            u(t("see"), VIDEO),
            {"role": "assistant", "candidates": [cand(), cand(label="non-preferred")]},
        ]
    },
    dpo("x", cand(), cand()),  # the two that are objects agree, but one candidate is no object
    dpo({"preferenceLabel": "preferred"}, cand(label="worst")),  # no content, then a bad label
    dpo(
        {"content": "x", "preferenceLabel": "preferred"}, cand(label="worst")
    ),  # content not an array, then a bad label
    dpo(cand(t("ok"), RESULT), cand(label="non-preferred")),  # a candidate speaks as the assistant
]

LITE_2_RECORDS: list[Any] = [
    {"messages": [u(), a()]},  # valid
    dpo(),  # DPO is not trained on Nova 2 Lite
    {"messages": [u(t("see"), media("image", "webp")), a()]},  # a format Nova 1 takes, Nova 2 not
    {"messages": [u(t("see"), media("video", "webm")), a()]},
    {"messages": [u(), a({"reasoningContent": {"reasoningText": t("because")}}, t("answer"))]},  # valid
    {"toolConfig": TOOLS, "messages": [u(t("where?")), a(USE), u(RESULT), a()]},  # tools: a warning
]


def _jsonl(records: list[Any]) -> bytes:
    lines = b"".join(orjson.dumps(r) + b"\n" for r in records)
    return lines.replace(b'"deep"', b"[" * 300 + b"1" + b"]" * 300)


CASES: dict[str, tuple[dict[str, Any], bytes]] = {
    "sft": ({}, _jsonl(SFT_RECORDS) + b"\n".join(RAW_LINES)),
    "sft_strict": ({"strict": True}, _jsonl(SFT_RECORDS[:20])),
    "dpo": ({}, _jsonl(DPO_RECORDS)),
    "lite_2": ({"model": "lite-2"}, _jsonl(LITE_2_RECORDS)),
    "micro": ({"model": "micro"}, _jsonl(SFT_RECORDS[18:31])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_finding_of_the_walk_matches_the_golden_report(name: str) -> None:
    options, data = CASES[name]
    report = validate_stream(io.BytesIO(data), ValidationOptions(max_error_details=1000, **options))
    rendered = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"
    golden = GOLDEN / f"{name}.report.json"
    if os.environ.get("FORGEFLOW_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(rendered)
    assert rendered.decode() == golden.read_text()


MIB = 1_000_000


def test_the_media_probe_finds_missing_and_oversized_objects_at_their_limits() -> None:
    sizes = {"s3://m/ok.png": 10 * MIB, "s3://m/big.png": 10 * MIB + 1, "s3://m/ok.mp4": 50 * MIB}
    sizes |= {"s3://m/big.mp4": 50 * MIB + 1, "s3://m/big.pdf": 10 * MIB + 1, "s3://m/ok.pdf": 10 * MIB}
    asked: list[str] = []

    def probe(uri: str) -> int | None:
        asked.append(uri)
        return sizes.get(uri)

    def one(block: dict[str, Any]) -> bytes:
        return orjson.dumps({"messages": [u(t("see"), block), a()]}) + b"\n"

    blocks = [media("image", uri=f"s3://m/{n}.png") for n in ("ok", "big", "gone", "ok")]
    blocks += [media("video", "mp4", uri=f"s3://m/{n}.mp4") for n in ("ok", "big")]
    blocks += [media("document", "pdf", uri=f"s3://m/{n}.pdf") for n in ("ok", "big")]
    report = validate_stream(io.BytesIO(b"".join(one(b) for b in blocks)), media_probe=probe)
    found = [(i.line, i.path.split("/")[5], i.code, i.message.split("; fix: ")[0]) for i in report.errors]
    assert found == [
        (2, "image", "MEDIA_TOO_LARGE", "the image is 10,000,001 bytes, over the 10,000,000-byte limit"),
        (3, "image", "MEDIA_NOT_FOUND", "s3://m/gone.png does not exist"),
        (6, "video", "MEDIA_TOO_LARGE", "the video is 50,000,001 bytes, over the 50,000,000-byte limit"),
        (
            8,
            "document",
            "MEDIA_TOO_LARGE",
            "the document is 10,000,001 bytes, over the 10,000,000-byte limit",
        ),
    ]
    assert {i.path.removeprefix("/messages/0/content/1/").split("/", 1)[1] for i in report.errors} == {
        "source/s3Location/uri"
    }
    assert asked.count("s3://m/ok.png") == 1  # each URI is looked up once


def test_check_and_check_record_give_the_canonical_dump_of_a_valid_record_only() -> None:
    from forgeflow.dataset.record import RecordValidator

    good, bad = {"messages": [u(), a()]}, {"messages": [u()]}
    validator = RecordValidator()
    assert validator.check(1, orjson.dumps(good)).canonical == orjson.dumps(good)
    assert validator.check_record(1, good).canonical == orjson.dumps(good)
    assert validator.check(2, orjson.dumps(bad)).canonical is None
    assert validator.check_record(2, bad).canonical is None
    assert validator.check(3, b"{bad").canonical is None
