"""The non-text block rules (blocks.py) at the places the golden corpus does not reach: media in an
assistant message or a DPO candidate for every media kind, the record-wide media mix in either order,
texts nested in reasoning and tool results, a tool without an inputSchema, the probe cache's bound.

Rules: shared/reference/converse-format.md ("Media": only in user messages; "DPO record": candidate
content has no media, no video anywhere; "Tools": the toolSpec shape) and codes.yaml's
TOO_MANY_VIDEOS_IN_RECORD / IMAGES_AND_VIDEOS_IN_RECORD (Nova understanding-model data prep: one video,
and no images beside it, per record). Each test asserts the finding's code and JSON pointer.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from converse_records import a, t, u

from forgeflow.dataset import blocks
from forgeflow.dataset.record import RecordValidator
from forgeflow.dataset.validation import ValidationOptions, validate_stream
from forgeflow.dataset.walk import json_chars
from forgeflow.nova import NovaModel


def media(kind: str, fmt: str, **location: Any) -> dict[str, Any]:
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": f"s3://m/{kind}", **location}}}}


IMAGE, VIDEO, DOC = media("image", "png"), media("video", "mp4"), media("document", "pdf")


def findings(record: Any, model: NovaModel = NovaModel.LITE) -> list[tuple[str, str]]:
    outcome = RecordValidator(ValidationOptions(model=model)).check(1, orjson.dumps(record))
    return [(i.path, i.code) for i in outcome.errors + outcome.warnings]


def _dpo(*blocks: Any) -> dict[str, Any]:
    pair = [
        {"content": list(blocks), "preferenceLabel": "preferred"},
        {"content": [t("b")], "preferenceLabel": "non-preferred"},
    ]
    return {"messages": [u(), {"role": "assistant", "candidates": pair}]}


@pytest.mark.parametrize("block", [IMAGE, VIDEO, DOC], ids=["image", "video", "document"])
def test_dataset_blocks_media_in_an_assistant_message_is_refused(block: dict[str, Any]) -> None:
    kind = next(iter(block))
    assert findings({"messages": [u(), a(t("see"), block)]}) == [
        (f"/messages/1/content/1/{kind}", "MEDIA_IN_ASSISTANT")
    ]


@pytest.mark.parametrize("block", [IMAGE, VIDEO, DOC], ids=["image", "video", "document"])
def test_dataset_blocks_media_in_a_dpo_candidate_is_refused(block: dict[str, Any]) -> None:
    kind = next(iter(block))
    where = f"/messages/1/candidates/0/content/1/{kind}"
    expected = [(where, "CANDIDATE_MEDIA")] + ([(where, "DPO_VIDEO")] if kind == "video" else [])
    assert findings(_dpo(t("a"), block)) == expected


def test_dataset_blocks_an_image_after_a_video_in_another_message_is_named_where_it_comes() -> None:
    record = {"messages": [u(VIDEO), a(), u(t("and"), IMAGE), a()]}
    assert findings(record) == [("/messages/2/content/1/image", "IMAGES_AND_VIDEOS_IN_RECORD")]


def test_dataset_blocks_the_record_media_mix_is_named_at_its_first_break() -> None:
    # The second video breaks the rule first; the image after it does not move the pointer.
    record = {"messages": [u(VIDEO), a(), u(VIDEO), a(), u(IMAGE), a()]}
    assert findings(record) == [("/messages/2/content/0/video", "TOO_MANY_VIDEOS_IN_RECORD")]


def test_dataset_blocks_a_valid_bucket_owner_is_no_finding_on_the_full_walk() -> None:
    owned = media("image", "png", bucketOwner="123456789012")
    bad_owner = media("image", "png", bucketOwner="12345678901")  # 11 digits
    # The second message's empty text sends the record down the full walk, past the fast path.
    record = {"messages": [u(owned, bad_owner), a(t(""))]}
    assert findings(record) == [
        ("/messages/0/content/1/image/source/s3Location/bucketOwner", "BUCKET_OWNER"),
        ("/messages/1/content", "EMPTY_TEXT"),
    ]


def test_dataset_blocks_a_reserved_string_in_reasoning_is_named_at_its_text() -> None:
    reasoning = {"reasoningContent": {"reasoningText": {"text": "Thought: then"}}}
    assert findings({"messages": [u(), a(reasoning, t("x"))]}, NovaModel.LITE_2) == [
        ("/messages/1/content/0/reasoningContent/reasoningText/text", "RESERVED_TOKEN")
    ]


def test_dataset_blocks_a_reserved_string_in_a_tool_result_is_named_at_its_text() -> None:
    use = {"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}
    result = {"toolResult": {"toolUseId": "t1", "content": [t("User: hi")]}}
    record = {"messages": [u(), a(use), u(result), a()]}
    assert findings(record) == [("/messages/2/content/0/toolResult/content/0/text", "RESERVED_TOKEN")]


def test_dataset_blocks_a_too_deep_tool_result_item_does_not_hide_the_next_items() -> None:
    use = {"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}
    result = {"toolResult": {"toolUseId": "t1", "content": [{"json": "DEEP"}, {"bad": 1}, t("<unk>")]}}
    line = orjson.dumps({"messages": [u(), a(use), u(result), a()]}).replace(
        b'"DEEP"', b"[" * 300 + b"]" * 300
    )
    outcome = RecordValidator().check(1, line)
    where = "/messages/2/content/0/toolResult/content"
    assert [(i.path, i.code) for i in outcome.errors] == [
        (f"{where}/1", "TOOL_RESULT_SHAPE"),
        (f"{where}/2/text", "RESERVED_TOKEN"),
        ("", "NESTING_TOO_DEEP"),
    ]


@pytest.mark.parametrize("schema", [None, "object", ["json"]], ids=["missing", "string", "array"])
def test_dataset_blocks_a_tool_without_an_input_schema_object(schema: Any) -> None:
    spec: dict[str, Any] = {"name": "f", "description": "d"}
    if schema is not None:
        spec["inputSchema"] = schema
    outcome = RecordValidator().check(
        1, orjson.dumps({"toolConfig": {"tools": [{"toolSpec": spec}]}, "messages": [u(), a()]})
    )
    assert [(i.path, i.code, i.message.split("; fix: ")[0]) for i in outcome.errors] == [
        (
            "/toolConfig/tools/0/toolSpec/inputSchema",
            "TOOL_CONFIG",
            "inputSchema.json must be an object with 'type'",
        )
    ]


def test_dataset_blocks_tool_config_characters_add_to_the_texts() -> None:
    # The token estimate counts every character: system text, the toolConfig's JSON, the messages.
    config = {
        "tools": [
            {"toolSpec": {"name": "f", "description": "d", "inputSchema": {"json": {"type": "object"}}}}
        ]
    }
    record = {"system": [t("sys")], "toolConfig": config, "messages": [u(t("q")), a(t("an"))]}
    outcome = RecordValidator().check_record_walk(1, record, clear=False)
    assert outcome.errors == []
    assert outcome.counts is not None
    assert outcome.counts.characters == 3 + json_chars(config) + 1 + 2


def test_dataset_blocks_the_media_probe_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # At most MEDIA_PROBE_CACHE URIs are remembered (--check-media: bounded memory); here 2.
    monkeypatch.setattr(blocks, "MEDIA_PROBE_CACHE", 2)
    probed: list[str] = []

    def probe(uri: str) -> int | None:
        probed.append(uri)
        return 10

    uris = ["s3://m/a", "s3://m/b", "s3://m/c", "s3://m/a"]
    lines = [
        orjson.dumps(
            {"messages": [u({"image": {"format": "png", "source": {"s3Location": {"uri": uri}}}}), a()]}
        )
        for uri in uris
    ]
    report = validate_stream(io.BytesIO(b"\n".join(lines) + b"\n"), ValidationOptions(), media_probe=probe)
    assert report.valid
    # a and b fill the cache; c clears it, so a is probed again.
    assert probed == uris
