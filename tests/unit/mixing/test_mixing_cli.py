"""`forgeflow mix`: outputs, summary, JSON report and exit codes (0 mixed, 1 invalid, 2 usage/I-O)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from forgeflow_tools.cli.main import main


def _write_plan(tmp_path: Path, **changes: Any) -> Path:
    plan: dict[str, Any] = {
        "seed": 5,
        "validation_fraction": 0.1,
        "sources": [
            {"name": "customer", "role": "customer", "uri": "customer", "weight": 0.8},
            {"name": "general", "uri": "general", "weight": 0.2},
        ],
    }
    plan.update(changes)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def test_mix_writes_outputs_and_prints_a_summary(
    tmp_path: Path, mixdata: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    mixdata.write(tmp_path, "customer", 80)
    mixdata.write(tmp_path, "general", 80)
    plan = _write_plan(tmp_path)
    out = tmp_path / "out"
    assert main(["mix", "--plan", str(plan), "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    report = orjson.loads(captured.out)
    assert report == orjson.loads((out / "mix_report.json").read_bytes())
    assert "MIXED:" in captured.err
    assert "general" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["mix_report.json", "train.jsonl", "validation.jsonl"]
    assert report["train"]["records"] == len((out / "train.jsonl").read_bytes().splitlines())


def test_an_infeasible_plan_exits_1_and_writes_nothing(
    tmp_path: Path, mixdata: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    mixdata.write(tmp_path, "customer", 80)
    mixdata.write(tmp_path, "general", 5)
    plan = _write_plan(tmp_path)
    assert main(["mix", "--plan", str(plan), "--out", str(tmp_path / "out")]) == 1
    assert "SOURCE_TOO_SMALL" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_nova_categories_need_forge_compute(
    tmp_path: Path, mixdata: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    mixdata.write(tmp_path, "customer", 40)
    sources = [
        {"name": "customer", "role": "customer", "uri": "customer", "weight": 0.7},
        {"name": "math", "uri": "nova:math", "weight": 0.3},
    ]
    plan = _write_plan(tmp_path, sources=sources)
    assert main(["mix", "--plan", str(plan), "--out", str(tmp_path / "a")]) == 1
    assert "FORGE_NOT_AVAILABLE" in capsys.readouterr().err
    assert main(["mix", "--plan", str(plan), "--out", str(tmp_path / "b"), "--compute", "hyperpod"]) == 0
    assert "customer_data_percent 70" in capsys.readouterr().err


def test_missing_plan_or_source_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mix", "--plan", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")]) == 2
    plan = _write_plan(tmp_path)
    assert main(["mix", "--plan", str(plan), "--out", str(tmp_path / "o")]) == 2
    assert "NOT_FOUND" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main(["mix", "--out", str(tmp_path)]) == 2
