"""What one validation run checks against: target method, model and platform, strictness and its caps.

Its own module because both sides of the validator read it: the per-record rules (`record.py`,
`blocks.py`) and the file-level report (`validation.py`, which re-exports it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from forgeflow.dataset.lines import MAX_LINE_BYTES
from forgeflow.nova import Method, NovaModel

Platform = Literal["sagemaker", "bedrock"]

# uri → the object's size in bytes, or None when it does not exist (see `validation.storage_media_probe`).
MediaProbe = Callable[[str], int | None]


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
