"""The rules of every content block kind but plain text: media, reasoning, tool use and tool results.

`BlockRules.checks` maps each such kind to its checker (all with one signature), so the content walk in
`record.py` dispatches a block by one table lookup. The toolConfig rules live here too: they declare the
tool names that toolUse blocks are checked against.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from forgeflow.dataset.options import MediaProbe, ValidationOptions
from forgeflow.dataset.rules import (
    DOCUMENT_FORMATS,
    IMAGE_FORMATS,
    LITE_2_IMAGE_FORMATS,
    LITE_2_VIDEO_FORMATS,
    VIDEO_FORMATS,
)
from forgeflow.dataset.walk import Walk, json_chars, type_name
from forgeflow.nova import NovaModel
from forgeflow.wording import a_or_an

S3_URI = re.compile(r"s3://[A-Za-z0-9_\-/.]+")
ACCOUNT_ID = re.compile(r"[0-9]{12}")

# Object-size limits of referenced media (the stricter decimal reading of "10 MB" / "50 MB").
MEDIA_MAX_BYTES = {"image": 10_000_000, "video": 50_000_000, "document": 10_000_000}
MEDIA_PROBE_CACHE = 100_000  # URIs remembered by --check-media (bounded memory)

# (value, JSON pointer of the block's value, role of the message or None, walk, inside a DPO candidate)
BlockCheck = Callable[[Any, str, str | None, Walk, bool], None]


class BlockRules:
    """The checkers of non-text content blocks for one target model (and media probe, if any)."""

    def __init__(self, options: ValidationOptions, media_probe: MediaProbe | None) -> None:
        self._model = options.model
        self._probe = media_probe
        self._media_sizes: dict[str, int | None] = {}
        lite_2 = options.model is NovaModel.LITE_2
        self.image_formats = LITE_2_IMAGE_FORMATS if lite_2 else IMAGE_FORMATS
        self.video_formats = LITE_2_VIDEO_FORMATS if lite_2 else VIDEO_FORMATS
        self.probes = media_probe is not None  # media are looked up (the fast path leaves them to us)
        self.checks: dict[str, BlockCheck] = {
            "image": self._image,
            "video": self._video,
            "document": self._document,
            "reasoningContent": self._reasoning,
            "toolUse": self._tool_use,
            "toolResult": self._tool_result,
        }

    def _image(self, value: Any, path: str, role: str | None, walk: Walk, candidate: bool) -> None:
        walk.images += 1
        if walk.videos:
            walk.media_path = walk.media_path or path
        self._media(value, path, "IMAGE_FORMAT", self.image_formats, role, walk, candidate)

    def _video(self, value: Any, path: str, role: str | None, walk: Walk, candidate: bool) -> None:
        walk.videos += 1
        if walk.videos == 2 or walk.images:
            walk.media_path = walk.media_path or path
        self._media(value, path, "VIDEO_FORMAT", self.video_formats, role, walk, candidate)
        if walk.is_dpo:
            walk.add(path, "DPO_VIDEO", "a video in a DPO record")

    def _document(self, value: Any, path: str, role: str | None, walk: Walk, candidate: bool) -> None:
        walk.documents += 1
        self._media(value, path, "DOCUMENT_FORMAT", DOCUMENT_FORMATS, role, walk, candidate)

    def _media(
        self,
        value: Any,
        path: str,
        format_code: str,
        formats: frozenset[str],
        role: str | None,
        walk: Walk,
        candidate: bool,
    ) -> None:
        kind = path.rsplit("/", 1)[1]
        if candidate:
            walk.add(path, "CANDIDATE_MEDIA", f"{a_or_an(kind)} in a DPO candidate")
        elif role == "assistant":
            walk.add(path, "MEDIA_IN_ASSISTANT", f"{a_or_an(kind)} in an assistant message")
        if self._model.text_only:
            walk.add(path, "MEDIA_NOT_SUPPORTED", f"{a_or_an(kind)} in a dataset for text-only Nova Micro")
        if type(value) is not dict:
            walk.add(path, "WRONG_TYPE", f"{kind} is {type_name(value)}, expected an object")
            return
        fmt = value.get("format")
        if type(fmt) is not str or fmt.lower() not in formats:
            allowed = ", ".join(sorted(formats))
            walk.add(f"{path}/format", format_code, f"{kind} format {fmt!r} is not one of {allowed}")
        source = value.get("source")
        if type(source) is not dict:
            walk.add(f"{path}/source", "MEDIA_SOURCE", f"the {kind} has no source object")
            return
        location = source.get("s3Location")
        if type(location) is not dict:
            walk.add(
                f"{path}/source/s3Location", "MEDIA_SOURCE", f"the {kind} source has no s3Location object"
            )
            return
        uri = location.get("uri")
        if type(uri) is not str:
            walk.add(f"{path}/source/s3Location/uri", "MEDIA_SOURCE", f"the {kind} has no S3 uri string")
        elif not S3_URI.fullmatch(uri):
            walk.add(f"{path}/source/s3Location/uri", "MEDIA_URI", f"{uri!r} is not a valid s3:// URI")
        elif self._probe is not None:
            self._probe_media(uri, kind, f"{path}/source/s3Location/uri", walk)
        if "bucketOwner" in location:
            owner = location["bucketOwner"]
            if type(owner) is not str or not ACCOUNT_ID.fullmatch(owner):
                walk.add(
                    f"{path}/source/s3Location/bucketOwner",
                    "BUCKET_OWNER",
                    f"bucketOwner {owner!r} is not an account id",
                )

    def _probe_media(self, uri: str, kind: str, path: str, walk: Walk) -> None:
        assert self._probe is not None
        if uri in self._media_sizes:
            size = self._media_sizes[uri]
        else:
            size = self._probe(uri)
            if len(self._media_sizes) >= MEDIA_PROBE_CACHE:
                self._media_sizes.clear()
            self._media_sizes[uri] = size
        if size is None:
            walk.add(path, "MEDIA_NOT_FOUND", f"{uri} does not exist")
        elif size > MEDIA_MAX_BYTES[kind]:
            limit = MEDIA_MAX_BYTES[kind]
            walk.add(path, "MEDIA_TOO_LARGE", f"the {kind} is {size:,} bytes, over the {limit:,}-byte limit")

    def _reasoning(self, value: Any, path: str, role: str | None, walk: Walk, candidate: bool) -> None:
        if role == "user":
            walk.add(path, "REASONING_NOT_ASSISTANT", "reasoningContent in a user message")
        if self._model is not NovaModel.LITE_2:
            walk.add(path, "REASONING_NOT_SUPPORTED", f"reasoningContent in a dataset for {self._model}")
        inner = value.get("reasoningText") if type(value) is dict else None
        if type(inner) is not dict or "text" not in inner:
            walk.add(path, "REASONING_SHAPE", "expected {'reasoningText': {'text': ...}}")
            return
        if walk.text(inner["text"], f"{path}/reasoningText/text") == 0 and type(inner["text"]) is str:
            walk.add(f"{path}/reasoningText/text", "EMPTY_REASONING", "the reasoning text is empty")

    def tool_config(self, config: Any, walk: Walk) -> None:
        names: set[str] = set()
        walk.tool_names = names
        walk.tool_path = walk.tool_path or "/toolConfig"
        tools = config.get("tools") if type(config) is dict else None
        if type(tools) is not list or not tools:
            walk.add("/toolConfig/tools", "TOOL_CONFIG", "toolConfig needs a non-empty 'tools' array")
        else:
            for index, tool in enumerate(tools):
                where = f"/toolConfig/tools/{index}/toolSpec"
                spec = tool.get("toolSpec") if type(tool) is dict else None
                if type(spec) is not dict:
                    walk.add(where, "TOOL_CONFIG", "the tool has no toolSpec object")
                    continue
                name = spec.get("name")
                if type(name) is not str or not name:
                    walk.add(f"{where}/name", "TOOL_CONFIG", "the tool needs a non-empty name")
                elif name in names:
                    walk.add(f"{where}/name", "DUPLICATE_TOOL_NAME", f"tool {name!r} is declared twice")
                else:
                    names.add(name)
                description = spec.get("description")
                if type(description) is not str or not description:
                    walk.add(f"{where}/description", "TOOL_CONFIG", "the tool needs a non-empty description")
                schema = spec.get("inputSchema")
                json_schema = schema.get("json") if type(schema) is dict else None
                if type(json_schema) is not dict or "type" not in json_schema:
                    walk.add(
                        f"{where}/inputSchema",
                        "TOOL_CONFIG",
                        "inputSchema.json must be an object with 'type'",
                    )
        try:
            walk.characters += json_chars(config)
        except orjson.JSONEncodeError:
            return  # reported once for the whole record as NESTING_TOO_DEEP

    def _tool_use(self, value: Any, path: str, role: str | None, walk: Walk, candidate: bool) -> None:
        walk.tool_path = walk.tool_path or path
        if role == "user":
            walk.add(path, "TOOL_USE_ROLE", "toolUse in a user message")
        if type(value) is not dict:
            walk.add(path, "TOOL_USE_SHAPE", f"toolUse is {type_name(value)}, expected an object")
            return
        use_id = value.get("toolUseId")
        if type(use_id) is not str or not use_id:
            walk.add(f"{path}/toolUseId", "TOOL_USE_SHAPE", "toolUseId must be a non-empty string")
        elif use_id in walk.tool_use_ids:
            walk.add(f"{path}/toolUseId", "DUPLICATE_TOOL_USE_ID", f"toolUseId {use_id!r} is used twice")
        else:
            walk.tool_use_ids.add(use_id)
        name = value.get("name")
        if type(name) is not str or not name:
            walk.add(f"{path}/name", "TOOL_USE_SHAPE", "name must be a non-empty string")
        else:
            walk.characters += len(name)
            if walk.tool_names is not None and name not in walk.tool_names:
                walk.add(f"{path}/name", "UNKNOWN_TOOL", f"tool {name!r} is not declared in toolConfig")
        tool_input = value.get("input")
        if type(tool_input) is not dict:
            walk.add(
                f"{path}/input", "TOOL_USE_SHAPE", f"input is {type_name(tool_input)}, expected an object"
            )
        else:
            try:
                walk.characters += json_chars(tool_input)
            except orjson.JSONEncodeError:
                return  # reported once for the whole record as NESTING_TOO_DEEP

    def _tool_result(self, value: Any, path: str, role: str | None, walk: Walk, candidate: bool) -> None:
        walk.tool_path = walk.tool_path or path
        if role == "assistant":
            walk.add(path, "TOOL_RESULT_ROLE", "toolResult in an assistant message")
        if type(value) is not dict:
            walk.add(path, "TOOL_RESULT_SHAPE", f"toolResult is {type_name(value)}, expected an object")
            return
        use_id = value.get("toolUseId")
        if type(use_id) is not str or not use_id:
            walk.add(f"{path}/toolUseId", "TOOL_RESULT_SHAPE", "toolUseId must be a non-empty string")
        elif use_id not in walk.tool_use_ids:
            walk.add(f"{path}/toolUseId", "TOOL_RESULT_UNKNOWN_ID", f"no earlier toolUse has id {use_id!r}")
        elif use_id in walk.answered:
            walk.add(f"{path}/toolUseId", "DUPLICATE_TOOL_RESULT", f"toolUse {use_id!r} is answered twice")
        else:
            walk.answered.add(use_id)
        content = value.get("content")
        if type(content) is not list or not content:
            walk.add(f"{path}/content", "TOOL_RESULT_SHAPE", "content must be a non-empty array")
            return
        for index, item in enumerate(content):
            where = f"{path}/content/{index}"
            if type(item) is not dict or len(item) != 1 or not ("text" in item or "json" in item):
                walk.add(where, "TOOL_RESULT_SHAPE", "each item is exactly {'text': ...} or {'json': ...}")
            elif "text" in item:
                walk.text(item["text"], f"{where}/text")
            else:
                try:
                    walk.characters += json_chars(item["json"])
                except orjson.JSONEncodeError:
                    continue  # reported once for the whole record as NESTING_TOO_DEEP


# -- the file --------------------------------------------------------------------------------------------
