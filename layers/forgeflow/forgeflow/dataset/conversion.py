"""Conversion of common fine-tuning shapes to Converse, with opt-in sanitizing, validated on the way out.

Shapes recognised per record (`detect_shape`):

| shape               | input                                                                      |
|---------------------|----------------------------------------------------------------------------|
| `converse`          | already Converse: `messages` whose `content` is a list of blocks           |
| `openai-chat`       | `{"messages": [{"role": "system"/"user"/"assistant", "content": str}]}`   |
| `prompt-completion` | `{"prompt": str, "completion": str}`                                       |
| `instruction`       | `{"instruction": str, "input": str (optional), "output": str}`             |
| `dpo-pairs`         | `{"prompt": str or chat list, "chosen": ..., "rejected": ...}`             |

A `system` string key is honoured by the flat shapes. Other keys (ids, metadata) are dropped and
counted in the report. Sanitizing never happens silently: without its flag, a BOM or CRLF line endings
stop the conversion with an error naming the flag; every change is counted in the report.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from forgeflow.dataset.canonical import canonical_line, sorted_dump
from forgeflow.dataset.lines import BOM, Readable, iter_lines, text_error
from forgeflow.dataset.rules import SCHEMA_VERSION
from forgeflow.dataset.validation import (
    RecordValidator,
    ReportBuilder,
    ValidationOptions,
    ValidationReport,
)
from forgeflow.errors import DataError
from forgeflow.storage import Storage

# A JSON-array input has to be parsed whole; beyond this it should be exported as JSON Lines instead.
MAX_ARRAY_FILE_BYTES = 512 * 1024 * 1024


class Shape(StrEnum):
    CONVERSE = "converse"
    OPENAI_CHAT = "openai-chat"
    PROMPT_COMPLETION = "prompt-completion"
    INSTRUCTION = "instruction"
    DPO_PAIRS = "dpo-pairs"


SHAPE_KEYS: dict[Shape, frozenset[str]] = {
    Shape.PROMPT_COMPLETION: frozenset({"prompt", "completion", "system"}),
    Shape.INSTRUCTION: frozenset({"instruction", "input", "output", "system"}),
    Shape.DPO_PAIRS: frozenset({"prompt", "chosen", "rejected", "system"}),
}
CONVERSE_KEYS = frozenset({"schemaVersion", "system", "messages", "toolConfig"})
KNOWN_SHAPES = (
    "Converse {messages: [{role, content: [blocks]}]}, OpenAI chat {messages: [{role, content: str}]}, "
    "{prompt, completion}, {instruction, input?, output}, {prompt, chosen, rejected}"
)


@dataclass(frozen=True)
class SanitizeOptions:
    """Opt-in repairs; each is counted in the conversion report."""

    strip_bom: bool = False
    normalize_newlines: bool = False
    drop_duplicates: bool = False
    trim_whitespace: bool = False


class ConversionError(ValueError):
    """A record has a known shape but content that cannot be converted (the caller adds the line)."""


def _is_chat_message_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value)


def detect_shape(record: dict[str, Any]) -> Shape | None:
    """The record's shape, or None when it matches none of the known ones."""
    messages = record.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict) and (
                isinstance(message.get("content"), str)
                or message.get("role") == "system"
                or (
                    isinstance(message.get("content"), list)
                    and any(isinstance(part, dict) and "type" in part for part in message["content"])
                )
            ):
                return Shape.OPENAI_CHAT
        return Shape.CONVERSE
    if {"prompt", "chosen", "rejected"} <= record.keys():
        return Shape.DPO_PAIRS
    if {"prompt", "completion"} <= record.keys():
        return Shape.PROMPT_COMPLETION
    if {"instruction", "output"} <= record.keys():
        return Shape.INSTRUCTION
    return None


def _text_of(value: Any, where: str) -> str:
    """A string, or OpenAI content parts [{"type": "text", "text": ...}] joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if not (
                isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            ):
                raise ConversionError(
                    f"{where}: only text content parts can be converted, found {part!r:.80}"
                )
            texts.append(part["text"])
        return "".join(texts)
    raise ConversionError(f"{where}: expected a string, found {type(value).__name__}")


def _turn(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"text": text}]}


def _converse(system: list[str], turns: list[tuple[str, str]]) -> dict[str, Any]:
    record: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION}
    if system:
        record["system"] = [{"text": text} for text in system]
    record["messages"] = [_turn(role, text) for role, text in turns]
    return record


def _chat_turns(messages: list[Any], where: str) -> tuple[list[str], list[tuple[str, str]]]:
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        at = f"{where}[{index}]"
        if not isinstance(message, dict):
            raise ConversionError(f"{at} is not an object")
        role = message.get("role")
        if role == "system":
            if turns:
                raise ConversionError(f"{at}: a system message after the conversation started")
            system.append(_text_of(message.get("content"), f"{at}.content"))
        elif role in ("user", "assistant"):
            if message.get("tool_calls") or message.get("function_call"):
                raise ConversionError(
                    f"{at}: OpenAI tool calls are not converted; write Converse toolUse blocks"
                )
            turns.append((role, _text_of(message.get("content"), f"{at}.content")))
        else:
            raise ConversionError(f"{at}: role {role!r} cannot be converted (only system, user, assistant)")
    return system, turns


def _optional_system(record: dict[str, Any]) -> list[str]:
    if "system" not in record or record["system"] in (None, ""):
        return []
    return [_text_of(record["system"], "system")]


def _reply(value: Any, where: str) -> str:
    """A DPO answer: a string or a chat list whose last message is the assistant's."""
    if _is_chat_message_list(value):
        messages = value
        if not messages or messages[-1].get("role") != "assistant":
            raise ConversionError(f"{where}: the last message must be the assistant's")
        return _text_of(messages[-1].get("content"), f"{where}[-1].content")
    return _text_of(value, where)


def to_converse(record: dict[str, Any], shape: Shape) -> dict[str, Any]:
    """Converts one record of a known shape (ConversionError when its content cannot be converted)."""
    if shape is Shape.CONVERSE:
        return record
    if shape is Shape.OPENAI_CHAT:
        system, turns = _chat_turns(record["messages"], "messages")
        return _converse(system, turns)
    system = _optional_system(record)
    if shape is Shape.PROMPT_COMPLETION:
        prompt = _text_of(record["prompt"], "prompt")
        return _converse(
            system, [("user", prompt), ("assistant", _text_of(record["completion"], "completion"))]
        )
    if shape is Shape.INSTRUCTION:
        instruction = _text_of(record["instruction"], "instruction")
        extra = record.get("input")
        user = instruction if extra in (None, "") else f"{instruction}\n\n{_text_of(extra, 'input')}"
        return _converse(system, [("user", user), ("assistant", _text_of(record["output"], "output"))])
    prompt = record["prompt"]
    if _is_chat_message_list(prompt):
        prompt_system, turns = _chat_turns(prompt, "prompt")
        system = system + prompt_system
    else:
        turns = [("user", _text_of(prompt, "prompt"))]
    converted = _converse(system, turns)
    converted["messages"].append(
        {
            "role": "assistant",
            "candidates": [
                {"content": [{"text": _reply(record["chosen"], "chosen")}], "preferenceLabel": "preferred"},
                {
                    "content": [{"text": _reply(record["rejected"], "rejected")}],
                    "preferenceLabel": "non-preferred",
                },
            ],
        }
    )
    return converted


def dropped_keys(record: dict[str, Any], shape: Shape) -> list[str]:
    if shape is Shape.CONVERSE:
        return []
    allowed = frozenset({"messages"}) if shape is Shape.OPENAI_CHAT else SHAPE_KEYS[shape]
    return [key for key in record if key not in allowed]


def _text_blocks(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every {"text": ...} block a model reads: system, message content, candidate content."""
    system = record.get("system")
    if isinstance(system, list):
        yield from (block for block in system if isinstance(block, dict))
    messages = record.get("messages")
    if not isinstance(messages, list):
        return
    for message in messages:
        if not isinstance(message, dict):
            continue
        contents = [message.get("content")]
        candidates = message.get("candidates")
        if isinstance(candidates, list):
            contents += [c.get("content") for c in candidates if isinstance(c, dict)]
        for content in contents:
            if isinstance(content, list):
                yield from (block for block in content if isinstance(block, dict))


def trim_trailing_whitespace(record: dict[str, Any]) -> int:
    """Strips trailing whitespace from every text block in place; returns how many blocks changed."""
    changed = 0
    for block in _text_blocks(record):
        text = block.get("text")
        if isinstance(text, str) and text != text.rstrip():
            block["text"] = text.rstrip()
            changed += 1
    return changed


@dataclass
class ConversionReport:
    source: str
    output: str
    written: bool = False
    records_in: int = 0
    records_out: int = 0
    blank_lines: int = 0
    shapes: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    bom_stripped: bool = False
    crlf_lines: int = 0
    duplicates_dropped: int = 0
    trimmed_records: int = 0
    trimmed_blocks: int = 0
    validation: ValidationReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "output": self.output,
            "written": self.written,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "blank_lines_skipped": self.blank_lines,
            "shapes": dict(sorted(self.shapes.items())),
            "dropped_keys": dict(sorted(self.dropped.items())),
            "changes": {
                "bom_stripped": self.bom_stripped,
                "crlf_lines_normalized": self.crlf_lines,
                "duplicates_dropped": self.duplicates_dropped,
                "whitespace_trimmed": {"records": self.trimmed_records, "blocks": self.trimmed_blocks},
            },
            "validation": self.validation.to_dict() if self.validation else None,
        }


class _InvalidOutputError(Exception):
    """Aborts the atomic write when the converted records do not validate."""


def _input_records(
    stream: Readable, source: str, sanitize: SanitizeOptions, report: ConversionReport
) -> Iterator[tuple[int, Any]]:
    """(input line, parsed value) for every non-blank line; JSON-array files yield their elements."""
    head = stream.read(1 << 20)
    body = head.removeprefix(BOM)
    if body is not head:
        if not sanitize.strip_bom:
            raise DataError(
                f"{source} starts with a UTF-8 byte-order mark",
                code="BOM",
                hint="pass --strip-bom to remove it",
            )
        report.bom_stripped = True
    if body.lstrip().startswith(b"["):
        rest = stream.read(MAX_ARRAY_FILE_BYTES + 1)
        if len(body) + len(rest) > MAX_ARRAY_FILE_BYTES:
            raise DataError(
                f"{source} is a JSON array over {MAX_ARRAY_FILE_BYTES >> 20} MiB",
                code="JSON_ARRAY_FILE",
                hint="export it as JSON Lines (one record per line)",
            )
        try:
            items = orjson.loads(body + rest)
        except orjson.JSONDecodeError as error:
            raise DataError(f"{source}: not valid JSON ({error})", code="JSON_PARSE") from error
        if not isinstance(items, list):
            raise DataError(f"{source}: not a JSON array", code="JSON_PARSE")
        yield from ((index, item) for index, item in enumerate(items, start=1))
        return
    for line in iter_lines(_Prefixed(body, stream)):
        if line.data is None:
            raise DataError(
                f"{source} line {line.number}: {line.size:,} bytes, over the line-size cap",
                code="LINE_TOO_LONG",
            )
        data = line.data
        if data.endswith(b"\r"):
            if not sanitize.normalize_newlines:
                raise DataError(
                    f"{source} line {line.number} ends with CRLF",
                    code="CRLF_LINE_ENDING",
                    hint="pass --normalize-newlines to convert line endings to LF",
                )
            report.crlf_lines += 1
            data = data[:-1]
        if not data.strip():
            report.blank_lines += 1
            continue
        try:
            yield line.number, orjson.loads(data)
        except orjson.JSONDecodeError as error:
            where = f"{source} line {line.number}"
            raise text_error(data, where, first_line=line.number == 1) or DataError(
                f"{where}: not valid JSON ({error})",
                code="JSON_PARSE",
                hint="run forgeflow validate to see every problem",
            ) from error


class _Prefixed:
    """A read() over already-read bytes followed by the rest of a stream."""

    def __init__(self, head: bytes, stream: Readable) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._stream.read(size)


def convert_uri(
    storage: Storage,
    in_uri: str,
    out_uri: str,
    *,
    sanitize: SanitizeOptions | None = None,
    options: ValidationOptions | None = None,
) -> ConversionReport:
    """Converts `in_uri` to Converse JSONL at `out_uri`, validating every output record.

    The output is written only when every converted record is valid (atomic write); otherwise the report
    carries the validation errors (with input line numbers) and `written` is False. Unknown shapes and
    unconvertible content raise DataError naming the line and what was found.
    """
    sanitize = sanitize or SanitizeOptions()
    options = options or ValidationOptions()
    report = ConversionReport(source=in_uri, output=out_uri)
    validator = RecordValidator(options)
    builder = ReportBuilder(options, out_uri)
    seen: set[bytes] = set()
    try:
        with storage.open_input(in_uri) as stream, storage.open_output(out_uri) as out:
            for number, value in _input_records(stream, in_uri, sanitize, report):
                report.records_in += 1
                out_record = _convert_one(number, value, in_uri, report)
                if sanitize.trim_whitespace:
                    trimmed = trim_trailing_whitespace(out_record)
                    report.trimmed_blocks += trimmed
                    report.trimmed_records += trimmed > 0
                if sanitize.drop_duplicates:
                    digest = hashlib.sha256(sorted_dump(out_record)).digest()[:16]
                    if digest in seen:
                        report.duplicates_dropped += 1
                        continue
                    seen.add(digest)
                builder.report.records += 1
                builder.outcome(number, validator.check_record(number, out_record))
                out.write(canonical_line(out_record) + b"\n")
                report.records_out += 1
            report.validation = builder.finish(validator.method)
            if not report.validation.valid:
                raise _InvalidOutputError
    except _InvalidOutputError:
        return report
    report.written = True
    return report


def _convert_one(number: int, value: Any, source: str, report: ConversionReport) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError(
            f"{source} line {number}: a JSON {type(value).__name__}, not an object", code="NOT_AN_OBJECT"
        )
    shape = detect_shape(value)
    if shape is None:
        raise DataError(
            f"{source} line {number}: unknown record shape with keys {sorted(value)}",
            code="UNKNOWN_SHAPE",
            hint=f"forgeflow convert reads {KNOWN_SHAPES}",
        )
    report.shapes[shape.value] += 1
    report.dropped.update(dropped_keys(value, shape))
    try:
        return to_converse(value, shape)
    except ConversionError as error:
        raise DataError(
            f"{source} line {number} ({shape.value}): {error}", code="CONVERSION_ERROR"
        ) from error
