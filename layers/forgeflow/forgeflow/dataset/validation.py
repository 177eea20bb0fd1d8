"""The streaming Converse validator: every rule of the format, one pass, bounded memory.

The hot path is a hand-written structural checker over orjson-parsed dicts (pydantic models per record
would cost the 50 MB/s target; `forgeflow.dataset.converse` holds the same schema as typed models and the
tests prove the two agree). It allocates only when something is wrong: JSON pointers and messages are
built on the error path. Reserved strings are searched (case-folded) only in texts holding ":", "[" or
"<", which every reserved string contains.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from forgeflow.dataset.codes import fix_for, is_warning
from forgeflow.dataset.duplicates import DuplicateCounter
from forgeflow.dataset.lines import BOM, MAX_LINE_BYTES, iter_lines
from forgeflow.dataset.rules import (
    DOCUMENT_FORMATS,
    IMAGE_FORMATS,
    LITE_2_IMAGE_FORMATS,
    LITE_2_VIDEO_FORMATS,
    MAX_IMAGES_PER_MESSAGE,
    RESERVED_PATTERN,
    RESERVED_STRINGS,
    VIDEO_FORMATS,
)
from forgeflow.dataset.stats import StatsCollector
from forgeflow.dataset.tokens import RecordCounts, tokens_from_counts
from forgeflow.nova import Method, NovaModel
from forgeflow.storage import Storage, parse_uri

Platform = Literal["sagemaker", "bedrock"]

_RESERVED_SPELLING = {s.lower(): s for s in RESERVED_STRINGS}


# Every reserved string holds ":", "[" or "<": a text without any of them (three memchr scans of the
# decoded string) needs no case-folded search. Decoded text also covers JSON \u escapes, and the only
# character whose lower case is ASCII and matters (the Kelvin sign, "k") appears in "<unk>", after "<".
def may_hold_reserved(text: str) -> bool:
    return ":" in text or "[" in text or "<" in text


_S3_URI = re.compile(r"s3://[A-Za-z0-9_\-/.]+")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")

TOP_KEYS = frozenset({"schemaVersion", "system", "messages", "toolConfig"})
MESSAGE_KEYS = frozenset({"role", "content", "candidates"})
CANDIDATE_KEYS = frozenset({"content", "preferenceLabel"})
BLOCK_KINDS = frozenset({"text", "image", "video", "document", "reasoningContent", "toolUse", "toolResult"})
PAYLOAD_KINDS = frozenset({"text", "image", "video", "document", "toolUse", "toolResult"})
PREFERENCE_LABELS = frozenset({"preferred", "non-preferred"})

# Object-size limits of referenced media (the stricter decimal reading of "10 MB" / "50 MB").
MEDIA_MAX_BYTES = {"image": 10_000_000, "video": 50_000_000, "document": 10_000_000}
MEDIA_PROBE_CACHE = 100_000  # URIs remembered by --check-media (bounded memory)

# uri → the object's size in bytes, or None when it does not exist (see `storage_media_probe`).
MediaProbe = Callable[[str], int | None]

# Bedrock customization jobs' record-count bounds; SageMaker's come from the recipe's limit tables.
BEDROCK_MIN_RECORDS = 8
BEDROCK_LITE_2_SFT_MIN_RECORDS = 200
BEDROCK_MAX_RECORDS = 20_000


class ValidationOptions(BaseModel):
    """What to validate against: the method (None: the first record decides), the model, the platform."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method | None = None
    model: NovaModel = NovaModel.LITE
    platform: Platform = "sagemaker"
    strict: bool = False
    max_error_details: int = Field(default=100, ge=0)
    max_line_bytes: int = Field(default=MAX_LINE_BYTES, ge=1)
    check_media: bool = False  # HEAD every referenced media object (validate_uri supplies the probe)


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


@dataclass(slots=True)
class RecordOutcome:
    record: dict[str, Any] | None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    est_tokens: int = 0
    canonical: bytes | None = None
    method: Method | None = None
    counts: RecordCounts | None = None
    sorted_json: bytes | None = None  # key-sorted dump: what record_hash digests

    @property
    def valid(self) -> bool:
        return not self.errors


def pointer_token(key: str) -> str:
    """RFC 6901 escaping of one key."""
    return key.replace("~", "~0").replace("/", "~1")


def _type_name(value: Any) -> str:
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


class _Walk:
    """Per-record state of one check: findings and counts."""

    __slots__ = (
        "answered",
        "characters",
        "documents",
        "findings",
        "images",
        "is_dpo",
        "tool_names",
        "tool_use_ids",
        "videos",
    )

    def __init__(self, is_dpo: bool) -> None:
        self.findings: list[tuple[str, str, str]] = []
        self.is_dpo = is_dpo
        self.characters = 0
        self.images = 0
        self.videos = 0
        self.documents = 0
        self.tool_names: set[str] | None = None
        self.tool_use_ids: set[str] = set()
        self.answered: set[str] = set()

    def add(self, path: str, code: str, detail: str) -> None:
        self.findings.append((path, code, detail))

    def text(self, value: Any, path: str) -> int:
        """Checks one text value; returns its length (0 when it is not a string)."""
        if type(value) is not str:
            self.add(path, "WRONG_TYPE", f"text is {_type_name(value)}, expected a string")
            return 0
        if may_hold_reserved(value):
            found = RESERVED_PATTERN.search(value.lower())
            if found:
                self.add(
                    path,
                    "RESERVED_TOKEN",
                    f"text contains the reserved string {_RESERVED_SPELLING[found.group()]!r}",
                )
        length = len(value)
        self.characters += length
        return length


def _json_chars(value: Any) -> int:
    return len(orjson.dumps(value).decode())


class RecordValidator:
    """Checks one line at a time against the options; remembers the method of the first record."""

    def __init__(
        self, options: ValidationOptions | None = None, *, media_probe: MediaProbe | None = None
    ) -> None:
        self.options = options or ValidationOptions()
        self._probe = media_probe
        self._media_sizes: dict[str, int | None] = {}
        self.method: Method | None = self.options.method
        model = self.options.model
        self._image_formats = LITE_2_IMAGE_FORMATS if model is NovaModel.LITE_2 else IMAGE_FORMATS
        self._video_formats = LITE_2_VIDEO_FORMATS if model is NovaModel.LITE_2 else VIDEO_FORMATS

    # -- entry points --------------------------------------------------------------------------------

    def check(self, line_number: int, raw: bytes, *, last_unterminated: bool = False) -> RecordOutcome:
        """Parses and checks one line (without its newline); `canonical` is set when the record is valid."""
        outcome = self._check_line(line_number, raw, last_unterminated=last_unterminated)
        if outcome.record is not None and not outcome.errors:
            outcome.canonical = orjson.dumps(outcome.record)
        return outcome

    def check_record(self, line_number: int, record: dict[str, Any]) -> RecordOutcome:
        """Checks an already-parsed record (conversion output)."""
        outcome = self._check_object(line_number, record)
        if not outcome.errors:
            outcome.canonical = orjson.dumps(record)
        return outcome

    def _check_line(self, line_number: int, raw: bytes, *, last_unterminated: bool) -> RecordOutcome:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            return RecordOutcome(None, [self._parse_issue(line_number, raw, error, last_unterminated)])
        if type(parsed) is not dict:
            issue = make_issue(
                line_number, "", "NOT_AN_OBJECT", f"the line is a JSON {_type_name(parsed)}, not an object"
            )
            return RecordOutcome(None, [issue])
        return self._check_object(line_number, parsed)

    @staticmethod
    def _parse_issue(line: int, raw: bytes, error: orjson.JSONDecodeError, last_unterminated: bool) -> Issue:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return make_issue(line, "", "INVALID_UTF8", f"invalid UTF-8 byte at offset {bad.start}")
        if last_unterminated:
            return make_issue(
                line, "", "TRUNCATED_LINE", f"the last line has no newline and is not complete JSON ({error})"
            )
        return make_issue(line, "", "JSON_PARSE", f"not valid JSON: {error}")

    def _check_object(self, line_number: int, record: dict[str, Any]) -> RecordOutcome:
        messages = record.get("messages")
        is_dpo = (
            type(messages) is list
            and len(messages) > 0
            and type(messages[-1]) is dict
            and "candidates" in messages[-1]
        )
        record_method = Method.DPO if is_dpo else Method.SFT
        if self.method is None and type(messages) is list:
            self.method = record_method
        walk = _Walk(is_dpo)
        self._record(record, walk)
        if walk.documents > 1:
            walk.add("", "TOO_MANY_DOCUMENTS", f"the record has {walk.documents} documents")
        outcome = RecordOutcome(record, method=record_method)
        try:
            # The sorted dump is what record_hash digests; orjson refuses to write deep nesting (255
            # levels) even though it parses it, so such a record could never be written back.
            outcome.sorted_json = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            walk.add("", "NESTING_TOO_DEEP", "the record nests more than 254 levels deep")
        strict = self.options.strict
        for path, code, detail in walk.findings:
            issue = make_issue(line_number, path, code, detail)
            if is_warning(code) and not strict:
                outcome.warnings.append(issue)
            else:
                outcome.errors.append(issue)
        counts = RecordCounts(
            characters=walk.characters,
            messages=len(messages) if type(messages) is list else 0,
            has_system=type(record.get("system")) is list and len(record["system"]) > 0,
            images=walk.images,
            videos=walk.videos,
            documents=walk.documents,
        )
        outcome.counts = counts
        outcome.est_tokens = tokens_from_counts(
            counts.characters,
            counts.messages,
            has_system=counts.has_system,
            images=counts.images,
            videos=counts.videos,
            documents=counts.documents,
        )
        return outcome

    # -- the record walk -------------------------------------------------------------------------------

    def _record(self, record: dict[str, Any], walk: _Walk) -> None:
        for key in record:
            if key not in TOP_KEYS:
                walk.add(f"/{pointer_token(key)}", "UNKNOWN_KEY", f"unknown top-level key {key!r}")
        if "schemaVersion" in record and type(record["schemaVersion"]) is not str:
            walk.add(
                "/schemaVersion",
                "WRONG_TYPE",
                f"schemaVersion is {_type_name(record['schemaVersion'])}, expected a string",
            )
        if "system" in record:
            self._system(record["system"], walk)
        if "toolConfig" in record:
            self._tool_config(record["toolConfig"], walk)
        if "messages" not in record:
            walk.add("", "MISSING_MESSAGES", "the record has no 'messages'")
            return
        messages = record["messages"]
        if type(messages) is not list:
            walk.add("/messages", "WRONG_TYPE", f"messages is {_type_name(messages)}, expected an array")
            return
        count = len(messages)
        if count < 2:
            walk.add(
                "/messages", "TOO_FEW_MESSAGES", f"the record has {count} message(s), at least 2 are needed"
            )
        method = self.method
        if method is Method.DPO and not walk.is_dpo and count:
            walk.add(f"/messages/{count - 1}", "MISSING_CANDIDATES", "the last message has no 'candidates'")
        elif method is Method.SFT and walk.is_dpo:
            walk.add(
                f"/messages/{count - 1}/candidates",
                "METHOD_MISMATCH",
                "a DPO record (with candidates) in an SFT dataset",
            )
        if walk.is_dpo and self.options.model is NovaModel.LITE_2:
            walk.add(f"/messages/{count - 1}/candidates", "DPO_NOT_SUPPORTED", "DPO record for Nova 2 Lite")
        last = count - 1
        for index, message in enumerate(messages):
            self._message(message, index, index == last, walk)

    def _system(self, system: Any, walk: _Walk) -> None:
        if type(system) is not list:
            walk.add("/system", "WRONG_TYPE", f"system is {_type_name(system)}, expected an array")
            return
        for index, block in enumerate(system):
            if type(block) is not dict or "text" not in block or len(block) != 1:
                walk.add(f"/system/{index}", "SYSTEM_BLOCK", "a system block must be exactly {'text': ...}")
                if type(block) is not dict or "text" not in block:
                    continue
            walk.text(block["text"], f"/system/{index}/text")

    def _message(self, message: Any, index: int, is_last: bool, walk: _Walk) -> None:
        if type(message) is not dict:
            walk.add(
                f"/messages/{index}", "WRONG_TYPE", f"message is {_type_name(message)}, expected an object"
            )
            return
        for key in message:
            if key not in MESSAGE_KEYS:
                walk.add(
                    f"/messages/{index}/{pointer_token(key)}", "UNKNOWN_KEY", f"unknown message key {key!r}"
                )
        role = message.get("role")
        expected = "assistant" if index & 1 else "user"
        if role is None:
            walk.add(f"/messages/{index}", "MISSING_ROLE", "the message has no 'role'")
        elif type(role) is not str:
            walk.add(
                f"/messages/{index}/role", "WRONG_TYPE", f"role is {_type_name(role)}, expected a string"
            )
        elif role != "user" and role != "assistant":
            if role.lower() == "system":
                walk.add(f"/messages/{index}/role", "SYSTEM_ROLE", "a 'system' role inside messages")
            else:
                walk.add(
                    f"/messages/{index}/role", "INVALID_ROLE", f"role {role!r} is not 'user' or 'assistant'"
                )
        elif role != expected:
            walk.add(
                f"/messages/{index}/role", "ROLE_ORDER", f"message {index} is {role!r}, expected {expected!r}"
            )
        elif is_last and role == "user":
            walk.add(
                f"/messages/{index}/role", "LAST_NOT_ASSISTANT", "the conversation ends with a user message"
            )
        role_name = role if role == "user" or role == "assistant" else None
        if "candidates" in message:
            if not is_last:
                walk.add(
                    f"/messages/{index}/candidates",
                    "CANDIDATES_NOT_LAST",
                    "candidates on a message that is not last",
                )
            if "content" in message:
                walk.add(
                    f"/messages/{index}/content",
                    "CANDIDATES_WITH_CONTENT",
                    "the candidates message also has 'content'",
                )
            self._candidates(message["candidates"], f"/messages/{index}/candidates", walk)
            return
        if "content" not in message:
            walk.add(f"/messages/{index}", "MISSING_CONTENT", "the message has no 'content'")
            return
        content = message["content"]
        if type(content) is not list:
            walk.add(
                f"/messages/{index}/content",
                "WRONG_TYPE",
                f"content is {_type_name(content)}, expected an array",
            )
            return
        self._content(content, f"/messages/{index}/content", role_name, walk, candidate=False)

    def _candidates(self, candidates: Any, path: str, walk: _Walk) -> None:
        if type(candidates) is not list:
            walk.add(path, "WRONG_TYPE", f"candidates is {_type_name(candidates)}, expected an array")
            return
        if len(candidates) < 2:
            walk.add(path, "TOO_FEW_CANDIDATES", f"{len(candidates)} candidate(s), at least 2 are needed")
        labels: set[str] = set()
        all_labelled = True
        for index, candidate in enumerate(candidates):
            where = f"{path}/{index}"
            if type(candidate) is not dict:
                walk.add(where, "WRONG_TYPE", f"candidate is {_type_name(candidate)}, expected an object")
                all_labelled = False
                continue
            for key in candidate:
                if key not in CANDIDATE_KEYS:
                    walk.add(f"{where}/{pointer_token(key)}", "UNKNOWN_KEY", f"unknown candidate key {key!r}")
            label = candidate.get("preferenceLabel")
            if type(label) is str and label.lower() in PREFERENCE_LABELS:
                labels.add(label.lower())
            else:
                all_labelled = False
                shown = "missing" if label is None else repr(label)
                walk.add(f"{where}/preferenceLabel", "PREFERENCE_LABEL", f"preferenceLabel is {shown}")
            if "content" not in candidate:
                walk.add(where, "MISSING_CONTENT", "the candidate has no 'content'")
                continue
            content = candidate["content"]
            if type(content) is not list:
                walk.add(
                    f"{where}/content", "WRONG_TYPE", f"content is {_type_name(content)}, expected an array"
                )
                continue
            self._content(content, f"{where}/content", "assistant", walk, candidate=True)
        if all_labelled and len(candidates) >= 2 and len(labels) == 1:
            walk.add(path, "SAME_PREFERENCE", f"every candidate is labelled {labels.pop()!r}")

    def _content(
        self, blocks: list[Any], path: str, role: str | None, walk: _Walk, *, candidate: bool
    ) -> None:
        payload = False
        reasoning = False
        only_text = True
        text_length = 0
        images = videos = documents = 0
        for index, block in enumerate(blocks):
            if type(block) is dict and len(block) == 1 and "text" in block:
                # The common case, kept short: a plain text block (its path is built only if needed).
                payload = True
                value = block["text"]
                if type(value) is str and not may_hold_reserved(value):
                    text_length += len(value)
                    walk.characters += len(value)
                else:
                    text_length += walk.text(value, f"{path}/{index}/text")
                continue
            where = f"{path}/{index}"
            if type(block) is not dict:
                walk.add(where, "WRONG_TYPE", f"content block is {_type_name(block)}, expected an object")
                continue
            if len(block) == 1 and next(iter(block)) in BLOCK_KINDS:
                kinds: list[str] = list(block)  # the usual well-formed block: one known kind
            else:
                kinds = [key for key in block if key in BLOCK_KINDS]
                for key in block:
                    if key not in BLOCK_KINDS:
                        walk.add(
                            f"{where}/{pointer_token(key)}",
                            "UNKNOWN_KEY",
                            f"unknown content-block key {key!r}",
                        )
                if not kinds:
                    walk.add(where, "UNKNOWN_BLOCK", "the block has none of the content kinds")
                    continue
                if len(kinds) > 1:
                    walk.add(where, "MULTIPLE_BLOCK_KEYS", f"the block mixes {', '.join(kinds)}")
            for kind in kinds:
                value = block[kind]
                if kind in PAYLOAD_KINDS:
                    payload = True
                if kind == "text":
                    text_length += walk.text(value, f"{where}/text")
                    continue
                only_text = False
                if kind == "image":
                    images += 1
                    walk.images += 1
                    self._media(
                        value, f"{where}/image", "IMAGE_FORMAT", self._image_formats, role, walk, candidate
                    )
                elif kind == "video":
                    videos += 1
                    walk.videos += 1
                    self._media(
                        value, f"{where}/video", "VIDEO_FORMAT", self._video_formats, role, walk, candidate
                    )
                    if walk.is_dpo:
                        walk.add(f"{where}/video", "DPO_VIDEO", "a video in a DPO record")
                elif kind == "document":
                    documents += 1
                    walk.documents += 1
                    self._media(
                        value, f"{where}/document", "DOCUMENT_FORMAT", DOCUMENT_FORMATS, role, walk, candidate
                    )
                elif kind == "reasoningContent":
                    reasoning = True
                    self._reasoning(value, f"{where}/reasoningContent", role, walk)
                elif kind == "toolUse":
                    self._tool_use(value, f"{where}/toolUse", role, walk)
                else:
                    self._tool_result(value, f"{where}/toolResult", role, walk)
        if images > MAX_IMAGES_PER_MESSAGE:
            walk.add(
                path, "TOO_MANY_IMAGES", f"{images} images in one message, at most {MAX_IMAGES_PER_MESSAGE}"
            )
        if videos > 1:
            walk.add(path, "TOO_MANY_VIDEOS", f"{videos} videos in one message, at most 1")
        if videos and (images or documents):
            walk.add(path, "VIDEO_WITH_OTHER_MEDIA", "a message with a video also has images or documents")
        if candidate:
            if only_text and text_length == 0 and not reasoning:
                walk.add(path, "EMPTY_TEXT", "the candidate's text is empty")
        elif not payload:
            walk.add(path, "EMPTY_MESSAGE", "the message has no text, media or tool content")
        elif only_text and text_length == 0:
            walk.add(path, "EMPTY_TEXT", "the message's text is empty")

    def _media(
        self,
        value: Any,
        path: str,
        format_code: str,
        formats: frozenset[str],
        role: str | None,
        walk: _Walk,
        candidate: bool,
    ) -> None:
        kind = path.rsplit("/", 1)[1]
        if candidate:
            walk.add(path, "CANDIDATE_MEDIA", f"a {kind} in a DPO candidate")
        elif role == "assistant":
            walk.add(path, "MEDIA_IN_ASSISTANT", f"a {kind} in an assistant message")
        if self.options.model.text_only:
            walk.add(path, "MEDIA_NOT_SUPPORTED", f"a {kind} in a dataset for text-only Nova Micro")
        if type(value) is not dict:
            walk.add(path, "WRONG_TYPE", f"{kind} is {_type_name(value)}, expected an object")
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
        elif not _S3_URI.fullmatch(uri):
            walk.add(f"{path}/source/s3Location/uri", "MEDIA_URI", f"{uri!r} is not a valid s3:// URI")
        elif self._probe is not None:
            self._probe_media(uri, kind, f"{path}/source/s3Location/uri", walk)
        if "bucketOwner" in location:
            owner = location["bucketOwner"]
            if type(owner) is not str or not _ACCOUNT_ID.fullmatch(owner):
                walk.add(
                    f"{path}/source/s3Location/bucketOwner",
                    "BUCKET_OWNER",
                    f"bucketOwner {owner!r} is not an account id",
                )

    def _probe_media(self, uri: str, kind: str, path: str, walk: _Walk) -> None:
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

    def _reasoning(self, value: Any, path: str, role: str | None, walk: _Walk) -> None:
        if role == "user":
            walk.add(path, "REASONING_NOT_ASSISTANT", "reasoningContent in a user message")
        if self.options.model is not NovaModel.LITE_2:
            walk.add(
                path, "REASONING_NOT_SUPPORTED", f"reasoningContent in a dataset for {self.options.model}"
            )
        inner = value.get("reasoningText") if type(value) is dict else None
        if type(inner) is not dict or "text" not in inner:
            walk.add(path, "REASONING_SHAPE", "expected {'reasoningText': {'text': ...}}")
            return
        if walk.text(inner["text"], f"{path}/reasoningText/text") == 0 and type(inner["text"]) is str:
            walk.add(f"{path}/reasoningText/text", "EMPTY_REASONING", "the reasoning text is empty")

    def _tool_config(self, config: Any, walk: _Walk) -> None:
        names: set[str] = set()
        walk.tool_names = names
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
            walk.characters += _json_chars(config)
        except orjson.JSONEncodeError:
            return  # reported once for the whole record as NESTING_TOO_DEEP

    def _tool_use(self, value: Any, path: str, role: str | None, walk: _Walk) -> None:
        if role == "user":
            walk.add(path, "TOOL_USE_ROLE", "toolUse in a user message")
        if type(value) is not dict:
            walk.add(path, "TOOL_USE_SHAPE", f"toolUse is {_type_name(value)}, expected an object")
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
                f"{path}/input", "TOOL_USE_SHAPE", f"input is {_type_name(tool_input)}, expected an object"
            )
        else:
            try:
                walk.characters += _json_chars(tool_input)
            except orjson.JSONEncodeError:
                return  # reported once for the whole record as NESTING_TOO_DEEP

    def _tool_result(self, value: Any, path: str, role: str | None, walk: _Walk) -> None:
        if role == "assistant":
            walk.add(path, "TOOL_RESULT_ROLE", "toolResult in an assistant message")
        if type(value) is not dict:
            walk.add(path, "TOOL_RESULT_SHAPE", f"toolResult is {_type_name(value)}, expected an object")
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
                    walk.characters += _json_chars(item["json"])
                except orjson.JSONEncodeError:
                    continue  # reported once for the whole record as NESTING_TOO_DEEP


# -- the file --------------------------------------------------------------------------------------------


@dataclass
class ValidationReport:
    """The outcome for one file: counts, the first `max_error_details` findings, statistics."""

    source: str
    options: ValidationOptions
    records: int = 0
    valid_records: int = 0
    error_count: int = 0
    warning_count: int = 0
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    error_codes: dict[str, int] = field(default_factory=dict)
    warning_codes: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def add(self, issue: Issue, *, warning: bool = False) -> None:
        limit = self.options.max_error_details
        if warning and not self.options.strict:
            self.warning_count += 1
            self.warning_codes[issue.code] = self.warning_codes.get(issue.code, 0) + 1
            if len(self.warnings) < limit:
                self.warnings.append(issue)
            return
        self.error_count += 1
        self.error_codes[issue.code] = self.error_codes.get(issue.code, 0) + 1
        if len(self.errors) < limit:
            self.errors.append(issue)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "source": self.source,
            "target": {
                "method": self.stats.get("method"),
                "model": self.options.model.value,
                "platform": self.options.platform,
                "strict": self.options.strict,
            },
            "records": self.records,
            "valid_records": self.valid_records,
            "error_count": self.error_count,
            "errors": [issue.to_dict() for issue in self.errors],
            "errors_truncated": self.error_count > len(self.errors),
            "error_codes": dict(sorted(self.error_codes.items())),
            "warning_count": self.warning_count,
            "warnings": [issue.to_dict() for issue in self.warnings],
            "warning_codes": dict(sorted(self.warning_codes.items())),
            "stats": self.stats,
        }


class ReportBuilder:
    """Accumulates line findings and record outcomes into a report: counts, duplicates, statistics."""

    def __init__(self, options: ValidationOptions, source: str) -> None:
        self.options = options
        self.report = ValidationReport(source=source, options=options)
        self.stats = StatsCollector()
        self._duplicates = DuplicateCounter()  # bounded memory: sorted runs spill to temporary files

    def issue(self, issue: Issue, *, warning: bool = False) -> None:
        self.report.add(issue, warning=warning)

    def blank(self, number: int) -> None:
        self.stats.blank_lines += 1
        self.report.add(make_issue(number, "", "BLANK_LINE", "blank line"), warning=True)

    def outcome(self, number: int, outcome: RecordOutcome) -> None:
        report = self.report
        for issue in outcome.errors:
            report.add(issue)
        for issue in outcome.warnings:
            report.add(issue, warning=True)
        if outcome.errors or outcome.counts is None:
            return
        report.valid_records += 1
        self._duplicates.add(hash(outcome.sorted_json))
        self.stats.add(number, outcome.counts, outcome.est_tokens)

    def finish(self, method: Method | None) -> ValidationReport:
        self.stats.method = method.value if method else None
        self.stats.duplicates = self._duplicates.count()
        _dataset_checks(self.report, self.options, method)
        self.report.stats = self.stats.to_dict()
        return self.report


def validate_stream(
    stream: IO[bytes],
    options: ValidationOptions | None = None,
    source: str = "<stream>",
    *,
    progress: Callable[[int], None] | None = None,
    media_probe: MediaProbe | None = None,
) -> ValidationReport:
    """Validates a JSON Lines stream in one pass; memory stays bounded whatever its size.

    `progress`, when given, is called with the number of bytes consumed so far (every ~16 MiB);
    `media_probe`, when given, checks that every referenced media object exists and is within its limit.
    """
    options = options or ValidationOptions()
    validator = RecordValidator(options, media_probe=media_probe)
    builder = ReportBuilder(options, source)
    report = builder.report
    consumed = 0
    next_progress = 1 << 24
    crlf_lines = 0
    first_crlf = 0
    first_record = True
    check = validator._check_line
    for number, data, size, terminated in iter_lines(stream, max_line_bytes=options.max_line_bytes):
        consumed += size + 1
        if progress is not None and consumed >= next_progress:
            progress(consumed)
            next_progress = consumed + (1 << 24)
        if data is None:
            report.records += 1
            detail = f"line of {size:,} bytes, over the {options.max_line_bytes:,}-byte cap"
            builder.issue(make_issue(number, "", "LINE_TOO_LONG", detail))
            continue
        if number == 1 and data.startswith(BOM):
            data = data[len(BOM) :]
            builder.issue(make_issue(1, "", "BOM", "the file starts with a UTF-8 byte-order mark"))
        if data.endswith(b"\r"):
            data = data[:-1]
            crlf_lines += 1
            first_crlf = first_crlf or number
        if not data or data.isspace():
            builder.blank(number)
            continue
        report.records += 1
        if first_record:
            first_record = False
            if data.lstrip().startswith(b"["):
                builder.issue(
                    make_issue(number, "", "JSON_ARRAY_FILE", "the file is a JSON array, not JSON Lines")
                )
                break
        builder.outcome(number, check(number, data, last_unterminated=not terminated))
    if crlf_lines:
        detail = f"{crlf_lines} line(s) end with CRLF, the first is line {first_crlf}"
        builder.issue(make_issue(first_crlf, "", "CRLF_LINE_ENDING", detail), warning=True)
    if progress is not None:
        progress(consumed)
    return builder.finish(validator.method)


def _dataset_checks(report: ValidationReport, options: ValidationOptions, method: Method | None) -> None:
    if report.records == 0:
        report.add(make_issue(0, "", "EMPTY_FILE", "the file holds no records"))
        return
    if options.platform != "bedrock":
        return
    minimum = BEDROCK_MIN_RECORDS
    if options.model is NovaModel.LITE_2 and method is not Method.DPO:
        minimum = BEDROCK_LITE_2_SFT_MIN_RECORDS
    if report.records < minimum:
        detail = f"{report.records} records, Bedrock needs at least {minimum} for {options.model}"
        report.add(make_issue(0, "", "TOO_FEW_RECORDS", detail))
    elif report.records > BEDROCK_MAX_RECORDS:
        detail = f"{report.records} records, Bedrock accepts at most {BEDROCK_MAX_RECORDS:,}"
        report.add(make_issue(0, "", "TOO_MANY_RECORDS", detail))


def validate_uri(
    storage: Storage,
    uri: str,
    options: ValidationOptions | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> ValidationReport:
    """Validates the file at a local path or s3:// URI (InputError when it cannot be read).

    With `options.check_media`, every referenced media object is looked up (HEAD) through `storage`.
    """
    options = options or ValidationOptions()
    probe = storage_media_probe(storage) if options.check_media else None
    with storage.open_input(uri) as stream:
        return validate_stream(stream, options, source=uri, progress=progress, media_probe=probe)


def storage_media_probe(storage: Storage) -> MediaProbe:
    """A MediaProbe answering with S3 HEAD requests through `storage`."""

    def probe(uri: str) -> int | None:
        location = parse_uri(uri)
        assert location.bucket is not None  # the URI passed the s3:// check
        head = storage.s3.head(location.bucket, location.key)
        return None if head is None else int(head.get("ContentLength", 0))

    return probe
