"""The constants of the Converse format rules (reference converse-format.md), in one place.

Both the streaming validator's record rules (`walk.py`, `record.py`, `blocks.py`) and the typed models
(`converse.py`) read them, so a rule changed here changes in both.
"""

from __future__ import annotations

import re

SCHEMA_VERSION = "bedrock-conversation-2024"

# Strings no text may contain, case-insensitive, anywhere (the public validator misses "Thought:").
RESERVED_STRINGS = (
    "System:",
    "User:",
    "Bot:",
    "Assistant:",
    "Thought:",
    "[EOS]",
    "<image>",
    "<video>",
    "<unk>",
)
RESERVED_PATTERN = re.compile("|".join(re.escape(s.lower()) for s in RESERVED_STRINGS))

IMAGE_FORMATS = frozenset({"jpeg", "png", "gif", "webp"})
VIDEO_FORMATS = frozenset({"mov", "mkv", "mp4", "webm"})
DOCUMENT_FORMATS = frozenset({"pdf"})
LITE_2_IMAGE_FORMATS = frozenset({"jpeg", "png", "gif"})
LITE_2_VIDEO_FORMATS = frozenset({"mov", "mkv", "mp4"})
MAX_IMAGES_PER_MESSAGE = 10
