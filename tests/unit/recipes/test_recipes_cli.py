"""`forgeflow recipe render` and `forgeflow recipe limits`: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from forgeflow_tools.cli.main import main


def _stats_file(tmp_path: Path, records: int = 1000) -> Path:
    stats = {
        "method": "sft",
        "modality": "text",
        "records": records,
        "est_tokens": {"total": records * 500, "mean": 500.0, "max": 2000},
        "longest_record": {"line": 3, "est_tokens": 2000, "characters": 8000},
        "tokens_over": {"1024": 10, "2048": 0, "4096": 0, "8192": 0, "16384": 0, "32768": 0, "65536": 0},
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"valid": True, "stats": stats}))
    return path


def test_recipes_cli_render_prints_recipe_and_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        "model: lite\ntechnique: sft-lora\ntraining:\n  overrides:\n    training_config.max_length: 8192\n"
    )
    assert main(["recipe", "render", "--config", str(config), "--stats", str(_stats_file(tmp_path))]) == 0
    recipe, verdict = list(yaml.safe_load_all(capsys.readouterr().out))
    assert recipe["training_config"]["max_length"] == 8192
    assert verdict["preflight"]["ok"] is True
    assert verdict["preflight"]["estimate"]["total_usd"] > 0


def test_recipes_cli_render_exit_1_when_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("budget_usd: 1\n")
    assert main(["recipe", "render", "--config", str(config), "--stats", str(_stats_file(tmp_path))]) == 1
    assert "OVER_BUDGET" in capsys.readouterr().out
    config.write_text("overrides: {training_config: {global_batch_size: 7}}\n")
    assert main(["recipe", "render", "--config", str(config)]) == 1
    assert "training_config.global_batch_size = 7" in capsys.readouterr().err


def test_recipes_cli_render_exit_2_on_missing_files(tmp_path: Path) -> None:
    assert main(["recipe", "render", "--config", str(tmp_path / "nope.yaml")]) == 2
    config = tmp_path / "run.yaml"
    config.write_text("model: lite\n")
    assert main(["recipe", "render", "--config", str(config), "--stats", str(tmp_path / "nope.json")]) == 2


def test_recipes_cli_render_price_table_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("model: lite\n")
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "default_region: us-east-1\n"
        "regions:\n  us-east-1:\n    ml.p5.48xlarge: {usd_per_hour: 1.5, source: quote}\n"
    )
    args = [
        "recipe",
        "render",
        "--config",
        str(config),
        "--stats",
        str(_stats_file(tmp_path)),
        "--prices",
        str(prices),
    ]
    assert main(args) == 0
    verdict = list(yaml.safe_load_all(capsys.readouterr().out))[1]["preflight"]
    assert verdict["estimate"]["price_per_instance_hour"] == 1.5


def test_recipes_cli_limits_prints_the_record_count(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["recipe", "limits", "--model", "lite", "--method", "sft-lora", "--modality", "text"]
    assert main([*args, "--context", "32768", "--epochs", "5"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "100000"
    assert main([*args, "--context", "16000", "--epochs", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["max_records"] == 250_000


def test_recipes_cli_limits_exit_1_names_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["recipe", "limits", "--model", "lite", "--method", "sft-lora", "--modality", "text"]
    assert main([*args, "--context", "65536", "--epochs", "5"]) == 1
    assert "LoRA is not supported at 64k for Nova Lite" in capsys.readouterr().err
    assert main([*args, "--context", "1000", "--epochs", "0"]) == 2
