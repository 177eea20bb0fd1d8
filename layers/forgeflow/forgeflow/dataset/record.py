"""The per-record rules: the walk over one record, record → messages → candidates → content blocks.

`RecordValidator` parses a line, walks the record with a `Walk` and turns its findings into a
`RecordOutcome` (errors, warnings, token estimate). Plain text blocks take a short inline path; every
other block kind is checked through the dispatch table of `blocks.py`. File-level concerns (lines, bytes,
duplicates, the report) are in `validation.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from forgeflow.dataset.blocks import BlockRules
from forgeflow.dataset.codes import is_warning
from forgeflow.dataset.fast import FastPath, raw_clear
from forgeflow.dataset.options import MediaProbe, ValidationOptions
from forgeflow.dataset.rules import MAX_IMAGES_PER_MESSAGE
from forgeflow.dataset.tokens import RecordCounts, tokens_from_counts
from forgeflow.dataset.walk import Issue, Walk, make_issue, may_hold_reserved, pointer_token, type_name
from forgeflow.nova import Method, NovaModel
from forgeflow.wording import plural

TOP_KEYS = frozenset({"schemaVersion", "system", "messages", "toolConfig"})
MESSAGE_KEYS = frozenset({"role", "content", "candidates"})
CANDIDATE_KEYS = frozenset({"content", "preferenceLabel"})
BLOCK_KINDS = frozenset({"text", "image", "video", "document", "reasoningContent", "toolUse", "toolResult"})
PAYLOAD_KINDS = frozenset({"text", "image", "video", "document", "toolUse", "toolResult"})
PREFERENCE_LABELS = frozenset({"preferred", "non-preferred"})
_NO_MEDIA = (0, 0, 0)
_new = tuple.__new__


@dataclass(slots=True)
class RecordOutcome:
    record: dict[str, Any] | None
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    est_tokens: int = 0
    canonical: bytes | None = None
    method: Method | None = None
    counts: RecordCounts | None = None
    # The key-sorted dump (what record_hash digests): made by the full walk, which must know that orjson
    # can write the record; the fast path leaves it to the few callers that need it (duplicates).
    sorted_json: bytes | None = None

    @property
    def valid(self) -> bool:
        return not self.errors


def _fast_outcome(record: dict[str, Any], method: Method, counts: RecordCounts) -> RecordOutcome:
    characters, messages, has_system, images, videos, documents = counts
    return RecordOutcome(
        record,
        est_tokens=tokens_from_counts(
            characters, messages, has_system=has_system, images=images, videos=videos, documents=documents
        ),
        method=method,
        counts=counts,
    )


def _dpo_shaped(messages: Any) -> bool:
    """Whether the record's messages end with a candidates message (a DPO record)."""
    return (
        type(messages) is list
        and len(messages) > 0
        and type(messages[-1]) is dict
        and "candidates" in messages[-1]
    )


_TURN_ROLES = ("user", "assistant")  # turn i of the alternation must have _TURN_ROLES[i & 1]


def _plain_turn(message: Any, index: int, turn: int, is_last: bool, walk: Walk) -> bool:
    """Checks the commonest message, {role, content: [one text block]} in its turn, breaking no rule of
    `_message`, `_role` or `_content` but the text's own (RESERVED_TOKEN); False: `_message` checks it.

    One call and a few tests where the general path takes three calls, an enumerate and its pointer
    strings (a bad record's turns are mostly such: the full walk checks them all).
    """
    if type(message) is not dict or len(message) != 2:
        return False
    role = message.get("role")
    content = message.get("content")
    # Two keys, role and content found: no unknown key, no candidates.
    if role != _TURN_ROLES[turn & 1] or type(content) is not list or len(content) != 1:
        return False
    if is_last and role == "user":
        return False  # LAST_NOT_ASSISTANT
    block = content[0]
    if type(block) is not dict or len(block) != 1:
        return False
    value = block.get("text")
    if type(value) is not str or not value or value.isspace():
        return False  # a wrong type, EMPTY_TEXT, or not a text block
    if walk.clear or not may_hold_reserved(value):
        walk.characters += len(value)
    else:
        walk.text(value, f"/messages/{index}/content/0/text")
    return True


class RecordValidator:
    """Checks one line at a time against the options; remembers the method of the first record."""

    def __init__(
        self, options: ValidationOptions | None = None, *, media_probe: MediaProbe | None = None
    ) -> None:
        self.options = options or ValidationOptions()
        self.method: Method | None = self.options.method
        self._blocks = BlockRules(self.options, media_probe)
        self._checks = self._blocks.checks
        self.fast = FastPath(self.options.model, self._blocks)

    # -- entry points --------------------------------------------------------------------------------

    def check(self, line_number: int, raw: bytes, *, last_unterminated: bool = False) -> RecordOutcome:
        """Parses and checks one line (without its newline); `canonical` is set when the record is valid."""
        outcome = self.check_line(line_number, raw, last_unterminated=last_unterminated)
        if outcome.record is not None and not outcome.errors:
            outcome.canonical = orjson.dumps(outcome.record)
        return outcome

    def check_record(self, line_number: int, record: dict[str, Any]) -> RecordOutcome:
        """Checks an already-parsed record (conversion output)."""
        outcome = self._check_object(line_number, record)
        if not outcome.errors:
            outcome.canonical = orjson.dumps(record)
        return outcome

    def check_line(self, line_number: int, raw: bytes, *, last_unterminated: bool) -> RecordOutcome:
        """Like `check`, without the canonical dump: what the streaming report needs."""
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            return RecordOutcome(None, [self._parse_issue(line_number, raw, error, last_unterminated)])
        if type(parsed) is not dict:
            issue = make_issue(
                line_number, "", "NOT_AN_OBJECT", f"the line is a JSON {type_name(parsed)}, not an object"
            )
            return RecordOutcome(None, [issue])
        return self._check_object(line_number, parsed, raw_clear(raw))

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

    def fast_counts(self, record: dict[str, Any], clear: bool) -> RecordCounts | None:
        """The counts of a common-shaped record breaking no rule (`fast.FastPath`), else None.

        Remembers the method of the first record, like every check; `clear`: its raw line holds no
        reserved string (`fast.raw_clear`). None asks for `check_record_walk`, which alone makes findings.
        Once the method is known, the pass calls `fast.counts` itself (one call per record less).
        """
        if self.method is None:
            messages = record.get("messages")
            if type(messages) is not list or not messages:
                if type(messages) is list:
                    self.method = Method.SFT
                return None  # no messages, or none: the full walk reports it
            last = messages[-1]
            self.method = Method.DPO if type(last) is dict and "candidates" in last else Method.SFT
        return self.fast.counts(record, self.method is Method.DPO, clear)

    def _check_object(self, line_number: int, record: dict[str, Any], clear: bool = False) -> RecordOutcome:
        """The outcome of one record; `clear`: its raw line holds no reserved string (`fast.raw_clear`)."""
        counts = self.fast_counts(record, clear)
        if counts is not None:  # a common shape breaking no rule: no walk, no findings
            assert self.method is not None  # fast_counts answers only for records of the dataset's method
            return _fast_outcome(record, self.method, counts)
        return self.check_record_walk(line_number, record, clear)

    def check_record_walk(self, line_number: int, record: dict[str, Any], clear: bool) -> RecordOutcome:
        """The full walk of one record (after `fast_counts` answered None): every finding, with pointers."""
        messages = record.get("messages")
        is_dpo = _dpo_shaped(messages)
        record_method = Method.DPO if is_dpo else Method.SFT
        walk = Walk(is_dpo, clear)
        self._record(record, walk)
        if walk.documents > 1:
            walk.add("", "TOO_MANY_DOCUMENTS", f"the record has {walk.documents} documents")
        if walk.media_path is not None:
            self._record_media(walk, walk.media_path)
        # Bedrock "Fine-tune Amazon Nova models with supervised fine-tuning" (nova-2-sft-data-prep.html),
        # current limitations: tool usage "is currently not supported by Amazon Nova 2.0 SFT" and may fail
        # the job; the Nova 2 user guide lists tool calling as a feature, so a warning (--strict refuses).
        if walk.tool_path is not None and self.options.model is NovaModel.LITE_2:
            walk.add(walk.tool_path, "TOOLS_NOT_SUPPORTED", "tool use in a dataset for Nova 2 Lite SFT")
        try:
            # The sorted dump is what record_hash digests; orjson refuses to write deep nesting (255
            # levels) even though it parses it, so such a record could never be written back.
            sorted_json: bytes | None = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            sorted_json = None
            walk.add("", "NESTING_TOO_DEEP", "the record nests more than 254 levels deep")
        errors: list[Issue] = []
        warnings: list[Issue] = []
        strict = self.options.strict
        for path, code, detail in walk.findings:
            issue = make_issue(line_number, path, code, detail)
            if is_warning(code) and not strict:
                warnings.append(issue)
            else:
                errors.append(issue)
        count = len(messages) if type(messages) is list else 0
        has_system = type(record.get("system")) is list and len(record["system"]) > 0
        characters, images, videos, documents = walk.characters, walk.images, walk.videos, walk.documents
        # Positional, without RecordCounts' Python-level __new__ (the fast path's `_new`), and the outcome
        # made once, positionally (no default lists replaced, no attribute writes after).
        counts = _new(RecordCounts, (characters, count, has_system, images, videos, documents))
        tokens = tokens_from_counts(
            characters, count, has_system=has_system, images=images, videos=videos, documents=documents
        )
        return RecordOutcome(record, errors, warnings, tokens, None, record_method, counts, sorted_json)

    # -- the record walk -------------------------------------------------------------------------------

    def _record(self, record: dict[str, Any], walk: Walk) -> None:
        for key in record:
            if key not in TOP_KEYS:
                walk.add(f"/{pointer_token(key)}", "UNKNOWN_KEY", f"unknown top-level key {key!r}")
        if "schemaVersion" in record and type(record["schemaVersion"]) is not str:
            walk.add(
                "/schemaVersion",
                "WRONG_TYPE",
                f"schemaVersion is {type_name(record['schemaVersion'])}, expected a string",
            )
        if "system" in record:
            self._system(record["system"], walk)
        if "toolConfig" in record:
            self._blocks.tool_config(record["toolConfig"], walk)
        if "messages" not in record:
            walk.add("", "MISSING_MESSAGES", "the record has no 'messages'")
            return
        messages = record["messages"]
        if type(messages) is not list:
            walk.add("/messages", "WRONG_TYPE", f"messages is {type_name(messages)}, expected an array")
            return
        count = len(messages)
        if count < 2:
            walk.add(
                "/messages",
                "TOO_FEW_MESSAGES",
                f"the record has {plural(count, 'message')}, at least 2 are needed",
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
        # A 'system' message is reported once (SYSTEM_ROLE), not also as a break in the alternation of
        # every message after it: the turns are numbered without it.
        skipped = 0
        for index, message in enumerate(messages):
            if not _plain_turn(message, index, index - skipped, index == last, walk):
                skipped += self._message(message, index, index - skipped, index == last, walk)

    def _system(self, system: Any, walk: Walk) -> None:
        if type(system) is not list:
            walk.add("/system", "WRONG_TYPE", f"system is {type_name(system)}, expected an array")
            return
        for index, block in enumerate(system):
            if type(block) is not dict or "text" not in block or len(block) != 1:
                walk.add(f"/system/{index}", "SYSTEM_BLOCK", "a system block must be exactly {'text': ...}")
                if type(block) is not dict or "text" not in block:
                    continue
            text = block["text"]
            if type(text) is str and (walk.clear or not may_hold_reserved(text)):
                walk.characters += len(text)  # what walk.text would do, without its pointer string
            else:
                walk.text(text, f"/system/{index}/text")

    def _message(self, message: Any, index: int, turn: int, is_last: bool, walk: Walk) -> bool:
        """Checks one message; True when its role is 'system' (it takes no turn in the alternation)."""
        if type(message) is not dict:
            walk.add(
                f"/messages/{index}", "WRONG_TYPE", f"message is {type_name(message)}, expected an object"
            )
            return False
        for key in message:
            if key not in MESSAGE_KEYS:
                walk.add(
                    f"/messages/{index}/{pointer_token(key)}", "UNKNOWN_KEY", f"unknown message key {key!r}"
                )
        role = message.get("role")
        system = self._role(role, index, turn, is_last, walk)
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
            return system
        if "content" not in message:
            walk.add(f"/messages/{index}", "MISSING_CONTENT", "the message has no 'content'")
            return system
        content = message["content"]
        if type(content) is not list:
            walk.add(
                f"/messages/{index}/content",
                "WRONG_TYPE",
                f"content is {type_name(content)}, expected an array",
            )
            return system
        self._content(content, f"/messages/{index}/content", role_name, walk, candidate=False)
        return system

    @staticmethod
    def _role(role: Any, index: int, turn: int, is_last: bool, walk: Walk) -> bool:
        """Checks the role of message `index`, the `turn`-th of the alternation; True for 'system'."""
        expected = "assistant" if turn & 1 else "user"
        if role is None:
            walk.add(f"/messages/{index}", "MISSING_ROLE", "the message has no 'role'")
        elif type(role) is not str:
            walk.add(f"/messages/{index}/role", "WRONG_TYPE", f"role is {type_name(role)}, expected a string")
        elif role != "user" and role != "assistant":
            if role.lower() == "system":
                walk.add(f"/messages/{index}/role", "SYSTEM_ROLE", "a 'system' role inside messages")
                return True
            walk.add(f"/messages/{index}/role", "INVALID_ROLE", f"role {role!r} is not 'user' or 'assistant'")
        elif role != expected:
            walk.add(
                f"/messages/{index}/role", "ROLE_ORDER", f"message {index} is {role!r}, expected {expected!r}"
            )
        elif is_last and role == "user":
            walk.add(
                f"/messages/{index}/role", "LAST_NOT_ASSISTANT", "the conversation ends with a user message"
            )
        return False

    def _candidates(self, candidates: Any, path: str, walk: Walk) -> None:
        if type(candidates) is not list:
            walk.add(path, "WRONG_TYPE", f"candidates is {type_name(candidates)}, expected an array")
            return
        if len(candidates) < 2:
            walk.add(
                path, "TOO_FEW_CANDIDATES", f"{plural(len(candidates), 'candidate')}, at least 2 are needed"
            )
        labels: set[str] = set()
        all_labelled = True
        for index, candidate in enumerate(candidates):
            where = f"{path}/{index}"
            if type(candidate) is not dict:
                walk.add(where, "WRONG_TYPE", f"candidate is {type_name(candidate)}, expected an object")
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
                    f"{where}/content", "WRONG_TYPE", f"content is {type_name(content)}, expected an array"
                )
                continue
            self._content(content, f"{where}/content", "assistant", walk, candidate=True)
        if all_labelled and len(candidates) >= 2 and len(labels) == 1:
            walk.add(path, "SAME_PREFERENCE", f"every candidate is labelled {labels.pop()!r}")

    def _content(
        self, blocks: list[Any], path: str, role: str | None, walk: Walk, *, candidate: bool
    ) -> None:
        payload = False
        reasoning = False
        only_text = True
        media_before = _NO_MEDIA  # the walk's media counts when the first non-text block came
        text_length = 0
        written = False  # some text holds more than whitespace
        for index, block in enumerate(blocks):
            if type(block) is dict and len(block) == 1 and "text" in block:
                # The common case, kept short: a plain text block (its path is built only if needed).
                payload = True
                value = block["text"]
                if type(value) is str and (walk.clear or not may_hold_reserved(value)):
                    text_length += len(value)
                    walk.characters += len(value)
                else:
                    text_length += walk.text(value, f"{path}/{index}/text")
                if not written and type(value) is str and value and not value.isspace():
                    written = True
                continue
            where = f"{path}/{index}"
            if type(block) is dict and len(block) == 1 and next(iter(block)) in BLOCK_KINDS:
                kinds: list[str] = list(block)  # the usual well-formed block: one known kind
            else:
                kinds = self._block_kinds(block, where, walk)
            for kind in kinds:
                value = block[kind]
                if kind in PAYLOAD_KINDS:
                    payload = True
                if kind == "text":
                    text_length += walk.text(value, f"{where}/text")
                    written = written or (type(value) is str and value != "" and not value.isspace())
                    continue
                if only_text:
                    only_text = False
                    media_before = (walk.images, walk.videos, walk.documents)
                if kind == "reasoningContent":
                    reasoning = True
                self._checks[kind](value, f"{where}/{kind}", role, walk, candidate)
        if not only_text:
            self._media_mix(path, media_before, walk)
        blank = only_text and not written
        emptiness = "empty" if text_length == 0 else "only whitespace"
        if candidate:
            if blank and not reasoning:
                walk.add(path, "EMPTY_TEXT", f"the candidate's text is {emptiness}")
        elif not payload:
            walk.add(path, "EMPTY_MESSAGE", "the message has no text, media or tool content")
        elif blank:
            walk.add(path, "EMPTY_TEXT", f"the message's text is {emptiness}")

    @staticmethod
    def _block_kinds(block: Any, where: str, walk: Walk) -> list[str]:
        """The content kinds of a block that is not one known kind, reporting what is wrong with it."""
        if type(block) is not dict:
            walk.add(where, "WRONG_TYPE", f"content block is {type_name(block)}, expected an object")
            return []
        kinds = [key for key in block if key in BLOCK_KINDS]
        for key in block:
            if key not in BLOCK_KINDS:
                walk.add(f"{where}/{pointer_token(key)}", "UNKNOWN_KEY", f"unknown content-block key {key!r}")
        if not kinds:
            walk.add(where, "UNKNOWN_BLOCK", "the block has none of the content kinds")
        elif len(kinds) > 1:
            walk.add(where, "MULTIPLE_BLOCK_KEYS", f"the block mixes {', '.join(kinds)}")
        return kinds

    @staticmethod
    def _record_media(walk: Walk, path: str) -> None:
        """One video and no image per record, unless one message already broke the rule (one error each)."""
        reported = {code for _, code, _ in walk.findings}
        if walk.videos > 1 and "TOO_MANY_VIDEOS" not in reported:
            walk.add(path, "TOO_MANY_VIDEOS_IN_RECORD", f"{walk.videos} videos in one record, at most 1")
        elif walk.images and walk.videos and "VIDEO_WITH_OTHER_MEDIA" not in reported:
            walk.add(path, "IMAGES_AND_VIDEOS_IN_RECORD", "the record has both images and a video")

    @staticmethod
    def _media_mix(path: str, before: tuple[int, int, int], walk: Walk) -> None:
        """The per-message media limits, from the walk's counts before and after the message's blocks."""
        images, videos, documents = (
            walk.images - before[0],
            walk.videos - before[1],
            walk.documents - before[2],
        )
        if images > MAX_IMAGES_PER_MESSAGE:
            walk.add(
                path, "TOO_MANY_IMAGES", f"{images} images in one message, at most {MAX_IMAGES_PER_MESSAGE}"
            )
        if videos > 1:
            walk.add(path, "TOO_MANY_VIDEOS", f"{videos} videos in one message, at most 1")
        if videos and (images or documents):
            walk.add(path, "VIDEO_WITH_OTHER_MEDIA", "a message with a video also has images or documents")
