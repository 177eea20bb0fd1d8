"""Issue #13 end to end on the local runtime: a classification run is scored by macro/micro F1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forgeflow_tools.cli.main import main

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
pytestmark = pytest.mark.slow

LABELS = {"delivery/late": "parcel courier late", "billing/refund": "refund charge invoice"}


def _labelled(path: Path, records: int) -> Path:
    lines = []
    for index in range(records):
        label, words = list(LABELS.items())[index % len(LABELS)]
        messages = [
            {"role": "user", "content": [{"text": f"ticket {index}: {words}"}]},
            {"role": "assistant", "content": [{"text": label}]},
        ]
        lines.append(json.dumps({"schemaVersion": "bedrock-conversation-2024", "messages": messages}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_labelled_dataset_is_scored_as_classification_from_the_answers(tmp_path: Path, capsys) -> None:
    data = _labelled(tmp_path / "tickets.jsonl", 80)
    code = main(
        ["local", "run", str(data), "--no-curated", "--template", str(TEMPLATE), "--outputs-dir",
         str(tmp_path / "runs"), "--output", "json"]
    )  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    # Customer data alone: the stand-in forgets the general suite, so the run is regressed (exit 3).
    assert code == 3, document
    summary_path = next(Path(document["outputs_dir"]).glob("s3/runs/*/evaluation/summary.json"))
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["domain_task"] == "classification"
    suite = summary["suites"]["classification"]
    # The stand-in base model answers "" (every answer wrong); the trained one retrieves the label.
    assert suite["base"] == 0.0
    assert suite["trained"] > 0.5
    assert "emulated" in (suite["note"] or "")
    assert set(summary["classification"]["trained"]["per_label"]) == set(LABELS)
