"""Typed pydantic v2 models of Converse records for Nova fine-tuning: SFT and DPO, text and multimodal.

These models are the documented schema and the typed way to build records (the converter does). The
streaming validator's record rules (`record.py`, `blocks.py`) enforce the same rules without building
models, for speed; the tests prove the two agree. Target-specific rules (Micro is text-only, reasoning
only on Nova 2 Lite, no DPO on Nova 2 Lite, Nova 2 Lite media formats) apply when a target is given in
the validation context:

    SFTRecord.model_validate(data, context={"model": NovaModel.MICRO})
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from forgeflow.dataset.rules import (
    IMAGE_FORMATS,
    LITE_2_IMAGE_FORMATS,
    LITE_2_VIDEO_FORMATS,
    MAX_IMAGES_PER_MESSAGE,
    RESERVED_PATTERN,
    VIDEO_FORMATS,
)
from forgeflow.nova import NovaModel


def _target(info: ValidationInfo) -> NovaModel | None:
    context = info.context if isinstance(info.context, dict) else {}
    model = context.get("model")
    return NovaModel(model) if model is not None else None


def _clean_text(value: str) -> str:
    found = RESERVED_PATTERN.search(value.lower())
    if found:
        raise ValueError(f"text contains the reserved string {found.group()!r}")
    return value


Text = Annotated[str, Field(strict=True), AfterValidator(_clean_text)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, strict=True)]
NonEmptyText = Annotated[str, StringConstraints(min_length=1, strict=True), AfterValidator(_clean_text)]


# Python names are snake_case; JSON keys are the Converse camelCase (tool_use_id ↔ toolUseId). Input is
# accepted by JSON key only, so the models agree with the validator on what a record may contain.
_CONFIG = ConfigDict(alias_generator=to_camel, serialize_by_alias=True, frozen=True)


class _Model(BaseModel):
    model_config = ConfigDict(**_CONFIG, extra="forbid")


class S3Location(_Model):
    uri: Annotated[str, StringConstraints(pattern=r"^s3://[A-Za-z0-9_\-/.]+$", strict=True)]
    bucket_owner: Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$", strict=True)] | None = None


class MediaSource(_Model):
    s3_location: S3Location


class Image(_Model):
    format: str
    source: MediaSource

    @field_validator("format")
    @classmethod
    def _format(cls, value: str, info: ValidationInfo) -> str:
        allowed = LITE_2_IMAGE_FORMATS if _target(info) is NovaModel.LITE_2 else IMAGE_FORMATS
        if value.lower() not in allowed:
            raise ValueError(f"image format {value!r} is not one of {sorted(allowed)}")
        return value


class Video(_Model):
    format: str
    source: MediaSource

    @field_validator("format")
    @classmethod
    def _format(cls, value: str, info: ValidationInfo) -> str:
        allowed = LITE_2_VIDEO_FORMATS if _target(info) is NovaModel.LITE_2 else VIDEO_FORMATS
        if value.lower() not in allowed:
            raise ValueError(f"video format {value!r} is not one of {sorted(allowed)}")
        return value


class Document(_Model):
    format: str
    source: MediaSource

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value.lower() != "pdf":
            raise ValueError(f"document format {value!r} is not pdf")
        return value


class ReasoningText(_Model):
    text: NonEmptyText


class ReasoningContent(_Model):
    reasoning_text: ReasoningText


class ToolUse(_Model):
    tool_use_id: NonEmpty
    name: NonEmpty
    input: dict[str, Any]


class ToolResultText(_Model):
    text: Text


class ToolResultJson(_Model):
    json_: dict[str, Any] = Field(alias="json")


class ToolResult(_Model):
    tool_use_id: NonEmpty
    content: Annotated[list[ToolResultText | ToolResultJson], Field(min_length=1)]


class TextBlock(_Model):
    text: Text


class ImageBlock(_Model):
    image: Image


class VideoBlock(_Model):
    video: Video


class DocumentBlock(_Model):
    document: Document


class ReasoningBlock(_Model):
    reasoning_content: ReasoningContent


class ToolUseBlock(_Model):
    tool_use: ToolUse


class ToolResultBlock(_Model):
    tool_result: ToolResult


# extra="forbid" on every block makes the union pick by key: exactly one kind per block.
ContentBlock = (
    TextBlock | ImageBlock | VideoBlock | DocumentBlock | ReasoningBlock | ToolUseBlock | ToolResultBlock
)
MEDIA_BLOCKS = (ImageBlock, VideoBlock, DocumentBlock)
PAYLOAD_BLOCKS = (TextBlock, ImageBlock, VideoBlock, DocumentBlock, ToolUseBlock, ToolResultBlock)


def _check_content(
    blocks: list[ContentBlock], role: str, model: NovaModel | None, *, candidate: bool
) -> None:
    images = sum(isinstance(block, ImageBlock) for block in blocks)
    videos = sum(isinstance(block, VideoBlock) for block in blocks)
    documents = sum(isinstance(block, DocumentBlock) for block in blocks)
    media = images + videos + documents
    if media and (role == "assistant" or candidate):
        raise ValueError("images, videos and documents belong in user messages only")
    if media and model is not None and model.text_only:
        raise ValueError(f"Nova {model} datasets are text-only")
    if images > MAX_IMAGES_PER_MESSAGE:
        raise ValueError(f"{images} images in one message, at most {MAX_IMAGES_PER_MESSAGE}")
    if videos > 1 or (videos and (images or documents)):
        raise ValueError("a message holds at most one video and nothing else besides text")
    reasoning = any(isinstance(block, ReasoningBlock) for block in blocks)
    if reasoning and role != "assistant":
        raise ValueError("reasoningContent belongs in assistant messages only")
    if reasoning and model is not None and model is not NovaModel.LITE_2:
        raise ValueError("reasoningContent is supported for Nova 2 Lite only")
    if any(isinstance(block, ToolUseBlock) for block in blocks) and role != "assistant":
        raise ValueError("toolUse belongs in assistant messages only")
    if any(isinstance(block, ToolResultBlock) for block in blocks) and role != "user":
        raise ValueError("toolResult belongs in user messages only")
    only_text = all(isinstance(block, TextBlock) for block in blocks)
    # Whitespace-only text is as empty as no text (EMPTY_TEXT in the validator).
    written = any(
        isinstance(block, TextBlock) and not block.text.isspace() and block.text for block in blocks
    )
    if candidate:
        if only_text and not written and not reasoning:
            raise ValueError("a candidate needs non-blank text")
    elif not any(isinstance(block, PAYLOAD_BLOCKS) for block in blocks):
        raise ValueError("a message needs text, media or tool content")
    elif only_text and not written:
        raise ValueError("a text-only message needs non-blank text")


class Message(_Model):
    role: Literal["user", "assistant"]
    content: list[ContentBlock]

    @model_validator(mode="after")
    def _content_rules(self, info: ValidationInfo) -> Message:
        _check_content(self.content, self.role, _target(info), candidate=False)
        return self


class Candidate(_Model):
    content: list[ContentBlock]
    preference_label: str

    @field_validator("preference_label")
    @classmethod
    def _label(cls, value: str) -> str:
        if value.lower() not in {"preferred", "non-preferred"}:
            raise ValueError(f"preferenceLabel {value!r} is not preferred or non-preferred")
        return value

    @model_validator(mode="after")
    def _content_rules(self, info: ValidationInfo) -> Candidate:
        _check_content(self.content, "assistant", _target(info), candidate=True)
        return self


class CandidatesMessage(_Model):
    role: Literal["assistant"]
    candidates: Annotated[list[Candidate], Field(min_length=2)]

    @model_validator(mode="after")
    def _labels_differ(self) -> CandidatesMessage:
        if len({candidate.preference_label.lower() for candidate in self.candidates}) < 2:
            raise ValueError("candidates need at least one preferred and one non-preferred label")
        return self


class SystemBlock(_Model):
    text: Text


class InputSchema(_Model):
    json_: dict[str, Any] = Field(alias="json")

    @field_validator("json_")
    @classmethod
    def _typed(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "type" not in value:
            raise ValueError("inputSchema.json needs a 'type'")
        return value


class ToolSpec(_Model):
    name: NonEmpty
    description: NonEmpty
    input_schema: InputSchema


class Tool(_Model):
    tool_spec: ToolSpec


class ToolConfig(_Model):
    tools: Annotated[list[Tool], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> ToolConfig:
        names = [tool.tool_spec.name for tool in self.tools]
        if len(set(names)) != len(names):
            raise ValueError("tool names must be unique")
        return self


class _Record(BaseModel):
    # Unknown top-level keys are tolerated (the validator reports them as warnings).
    model_config = ConfigDict(**_CONFIG, extra="allow")

    schema_version: Annotated[str, Field(strict=True)] | None = None
    system: list[SystemBlock] | None = None
    tool_config: ToolConfig | None = None

    def _conversation_rules(self, messages: list[Message | CandidatesMessage]) -> None:
        for index, message in enumerate(messages):
            expected = "assistant" if index % 2 else "user"
            if message.role != expected:
                raise ValueError(
                    f"message {index} is {message.role!r}, roles must alternate starting with user"
                )
        if messages[-1].role != "assistant":
            raise ValueError("the last message must be the assistant's")
        documents = images = videos = 0
        use_ids: set[str] = set()
        answered: set[str] = set()
        names = {tool.tool_spec.name for tool in self.tool_config.tools} if self.tool_config else None
        for message in messages:
            for block in message.content if isinstance(message, Message) else []:
                documents += isinstance(block, DocumentBlock)
                images += isinstance(block, ImageBlock)
                videos += isinstance(block, VideoBlock)
                if isinstance(block, ToolUseBlock):
                    if block.tool_use.tool_use_id in use_ids:
                        raise ValueError(f"toolUseId {block.tool_use.tool_use_id!r} is used twice")
                    if names is not None and block.tool_use.name not in names:
                        raise ValueError(f"tool {block.tool_use.name!r} is not declared in toolConfig")
                    use_ids.add(block.tool_use.tool_use_id)
                if isinstance(block, ToolResultBlock):
                    use_id = block.tool_result.tool_use_id
                    if use_id not in use_ids or use_id in answered:
                        raise ValueError(f"toolResult {use_id!r} answers no earlier, unanswered toolUse")
                    answered.add(use_id)
        if documents > 1:
            raise ValueError("at most one document per record")
        # Nova understanding-model data prep: a sample holds "only 1 video", text with images or with videos.
        if videos > 1 or (videos and images):
            raise ValueError("a record holds at most one video, and no image besides it")

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready record (unset optional fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SFTRecord(_Record):
    messages: Annotated[list[Message], Field(min_length=2)]

    @model_validator(mode="after")
    def _rules(self) -> SFTRecord:
        self._conversation_rules(list(self.messages))
        return self


class DPORecord(_Record):
    messages: Annotated[list[Message | CandidatesMessage], Field(min_length=2)]

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> DPORecord:
        if _target(info) is NovaModel.LITE_2:
            raise ValueError("DPO is not supported on Nova 2 Lite")
        *history, last = self.messages
        if not isinstance(last, CandidatesMessage) or any(isinstance(m, CandidatesMessage) for m in history):
            raise ValueError("exactly the last message carries candidates")
        for message in history:
            if isinstance(message, Message) and any(
                isinstance(block, VideoBlock) for block in message.content
            ):
                raise ValueError("DPO records hold no video")
        self._conversation_rules(list(self.messages))
        return self
