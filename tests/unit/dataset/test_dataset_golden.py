"""Golden reports: the report format is an interface, so any change to it shows up here as a diff.

Regenerate after an intended change with FORGEFLOW_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from forgeflow.dataset.validation import ValidationOptions, ValidationStats, validate_stream

HERE = Path(__file__).parent
CASES: dict[str, tuple[Path, dict[str, Any]]] = {
    "mixed": (HERE / "golden" / "mixed.jsonl", {"max_error_details": 20}),
    "mixed_strict_bedrock": (HERE / "golden" / "mixed.jsonl", {"strict": True, "platform": "bedrock"}),
    "multimodal": (HERE / "valid" / "multimodal_sft.jsonl", {}),
    "dpo": (HERE / "valid" / "dpo.jsonl", {"model": "pro"}),
    "reasoning_lite_2": (HERE / "valid" / "reasoning_lite_2.jsonl", {"model": "lite-2"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_matches_golden(name: str) -> None:
    source, options = CASES[name]
    with source.open("rb") as stream:
        report = validate_stream(stream, ValidationOptions(**options), source=source.name).to_dict()
    golden = HERE / "golden" / f"{name}.report.json"
    rendered = orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"
    if os.environ.get("FORGEFLOW_UPDATE_GOLDEN") == "1":
        golden.write_bytes(rendered)
    assert rendered.decode() == golden.read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_typed_stats_read_back_the_golden_stats(name: str) -> None:
    source, options = CASES[name]
    with source.open("rb") as stream:
        report = validate_stream(stream, ValidationOptions(**options), source=source.name)
    golden = orjson.loads((HERE / "golden" / f"{name}.report.json").read_bytes())["stats"]
    assert ValidationStats.from_dict(golden) == report.stats
    assert orjson.dumps(ValidationStats.from_dict(golden).to_dict()) == orjson.dumps(golden)
