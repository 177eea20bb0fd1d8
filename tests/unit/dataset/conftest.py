"""Shared fixtures of the dataset tests: a valid SFT and a valid DPO record, fresh for each test."""

from __future__ import annotations

import copy
from typing import Any

import pytest

SFT_RECORD: dict[str, Any] = {
    "schemaVersion": "bedrock-conversation-2024",
    "system": [{"text": "You are a support classifier."}],
    "messages": [
        {"role": "user", "content": [{"text": "My parcel never arrived"}]},
        {"role": "assistant", "content": [{"text": "shipping/lost_parcel"}]},
    ],
}
DPO_RECORD: dict[str, Any] = {
    "messages": [
        {"role": "user", "content": [{"text": "My parcel is late."}]},
        {
            "role": "assistant",
            "candidates": [
                {"content": [{"text": "Sorry, I have opened a trace."}], "preferenceLabel": "preferred"},
                {"content": [{"text": "Wait."}], "preferenceLabel": "non-preferred"},
            ],
        },
    ]
}


@pytest.fixture
def sft_record() -> dict[str, Any]:
    return copy.deepcopy(SFT_RECORD)


@pytest.fixture
def dpo_record() -> dict[str, Any]:
    return copy.deepcopy(DPO_RECORD)
