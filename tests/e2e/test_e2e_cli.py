"""`forgeflow local run --example` (what `make demo` runs) on the real template, as a script would call it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forgeflow_tools.cli.main import main

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
pytestmark = pytest.mark.slow


def test_the_shipped_example_succeeds_and_prints_the_json_contract(tmp_path: Path, capsys) -> None:
    code = main(
        ["local", "run", "--example", "--template", str(TEMPLATE), "--outputs-dir", str(tmp_path), "--output",
         "json"]
    )  # fmt: skip
    out = capsys.readouterr().out

    document = json.loads(out)
    assert code == 0, document
    assert document["status"] == "SUCCEEDED"
    assert [event["detail-type"] for event in document["events"]] == ["Run Started", "Run Succeeded"]
    outputs = Path(document["outputs_dir"])
    run_id = outputs.name
    assert outputs.parent == tmp_path
    assert (outputs / "s3" / "runs" / run_id / "evaluation" / "summary.json").is_file()
    record = json.loads((outputs / "run.json").read_text(encoding="utf-8"))
    assert record["ledger"]["status"] == "SUCCEEDED"
    assert {job["stage"] for job in record["training_jobs"]} == {"smoke", "train", "eval"}
