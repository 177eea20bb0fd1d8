"""Everything a careful user noticed (issue #10, section 4): one `--output json` switch, stdin as `-`,
gzip input, binary input, the epoch range of `recipe limits`, quoted plan weights, counted nouns,
progress on a terminal only, `runs show` without Python reprs, and a Ctrl-C'd mix leaving nothing."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest

from forgeflow.errors import DataError
from forgeflow.mixing.plan import parse_plan
from forgeflow.wording import a_or_an, plural
from forgeflow_tools.cli import runs
from forgeflow_tools.cli.main import main
from forgeflow_tools.cli.progress import ProgressLine
from forgeflow_tools.examples import write_examples


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    files = write_examples(tmp_path / "examples")
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"".join(files["support"].read_bytes().splitlines(keepends=True)[:12]))
    packed = tmp_path / "small.jsonl.gz"
    packed.write_bytes(gzip.compress(small.read_bytes()))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "sources:\n"
        f"  - {{name: customer, role: customer, uri: {packed}, weight: 0.7}}\n"
        f"  - {{name: general, uri: {files['general']}, weight: 0.3}}\n"
    )
    return {"small": small, "gz": packed, "plan": plan, "general": files["general"]}


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_output_json_on_every_dataset_command(
    tmp_path: Path, data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(data["small"]), "--output", "json"]) == 0
    assert _json(capsys)["valid"] is True
    assert main(["convert", str(data["small"]), str(tmp_path / "c.jsonl"), "--output", "json"]) == 0
    assert _json(capsys)["written"] is True
    assert (
        main(
            [
                "split",
                str(data["small"]),
                str(tmp_path / "s"),
                "--validation-fraction",
                "0.5",
                "--output=json",
            ]
        )
        == 0
    )
    split = _json(capsys)
    assert split["train"]["records"] + split["validation"]["records"] == 12
    assert main(["mix", "--plan", str(data["plan"]), "--out", str(tmp_path / "m"), "--output", "json"]) == 0
    assert _json(capsys)["train"]["records"] > 0
    limits = ["recipe", "limits", "--model", "lite", "--method", "sft-lora", "--modality", "text"]
    assert main([*limits, "--context", "8192", "--epochs", "2", "--output", "json"]) == 0
    assert _json(capsys)["epochs"] == 2


def test_recipe_render_output_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("training:\n  model: lite\n  technique: sft-lora\n")
    assert main(["recipe", "render", "--config", str(config), "--output", "json"]) == 0
    document = _json(capsys)
    assert set(document) == {"recipe", "preflight"}
    assert "training_config" in document["recipe"]


def test_usage_errors_are_json_under_output_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--output", "json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["code"] == "USAGE"
    assert "PATH" in json.loads(captured.out)["error"]["message"]
    assert captured.err == ""
    assert main(["mix", "--json", "--plan"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "USAGE"
    assert main(["validate"]) == 2  # without the switch: argparse's usage on stderr, as before
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "usage: forgeflow validate" in captured.err


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def test_stdin_is_dash(
    tmp_path: Path, data: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, data["small"].read_bytes())
    assert main(["validate", "-", "--output", "json"]) == 0
    assert _json(capsys)["records"] == 12
    _stdin(monkeypatch, data["small"].read_bytes())
    assert main(["convert", "-", str(tmp_path / "c.jsonl")]) == 0
    assert len((tmp_path / "c.jsonl").read_bytes().splitlines()) == 12
    _stdin(monkeypatch, data["gz"].read_bytes())
    assert main(["split", "-", str(tmp_path / "s"), "--validation-fraction", "0"]) == 0
    assert (tmp_path / "s" / "train.jsonl").read_bytes() == data["small"].read_bytes()
    _stdin(monkeypatch, data["plan"].read_bytes())
    assert main(["mix", "--plan", "-", "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "train.jsonl").stat().st_size > 0


def test_gzip_is_read_transparently_and_damage_is_named(
    tmp_path: Path, data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(data["gz"]), "--output", "json"]) == 0
    assert _json(capsys)["valid_records"] == 12
    assert main(["convert", str(data["gz"]), str(tmp_path / "c.jsonl")]) == 0
    assert main(["split", str(data["gz"]), str(tmp_path / "s"), "--validation-fraction", "0"]) == 0
    assert (tmp_path / "s" / "train.jsonl").read_bytes() == data["small"].read_bytes()
    capsys.readouterr()
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(data["gz"].read_bytes()[:-20])
    assert main(["validate", str(truncated)]) == 1
    err = capsys.readouterr().err
    assert "[BAD_GZIP]" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["convert", "split"])
def test_binary_input_is_invalid_utf8(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "photo.jsonl"
    binary.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(11, 256)) * 8)  # a JPEG header, then binary
    out = str(tmp_path / ("o.jsonl" if command == "convert" else "o"))
    extra = ["--validation-fraction", "0.1"] if command == "split" else []
    assert main([command, str(binary), out, *extra]) == 1
    assert "[INVALID_UTF8]" in capsys.readouterr().err


def test_gzip_outside_the_cli_is_named_gzip() -> None:
    from forgeflow.dataset.lines import text_error

    error = text_error(gzip.compress(b'{"a": 1}\n'), "incoming/x.jsonl line 1", first_line=True)
    assert error is not None
    assert "gzip-compressed" in str(error)


@pytest.mark.parametrize(
    ("method", "epochs", "allowed"), [("dpo-lora", 6, "[1, 5]"), ("sft-lora", 101, "[1, 100]")]
)
def test_recipe_limits_refuses_epochs_outside_the_documented_range(
    method: str, epochs: int, allowed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "recipe",
        "limits",
        "--model",
        "lite",
        "--method",
        method,
        "--modality",
        "text",
        "--context",
        "8192",
    ]
    assert main([*argv, "--epochs", str(epochs)]) == 2
    err = capsys.readouterr().err
    assert f"--epochs {epochs} is outside {allowed}" in err
    assert "source:" in err


def test_a_quoted_weight_is_refused() -> None:
    plan = {"sources": [{"name": "c", "role": "customer", "uri": "c.jsonl", "weight": "0.75"}]}
    with pytest.raises(DataError) as caught:
        parse_plan(plan, source="plan.yaml")
    message = str(caught.value)
    assert "plan.yaml" in message
    assert "sources[0].weight" in message
    assert "without quotes (weight: 0.75)" in message
    with pytest.raises(DataError):
        parse_plan({"sources": [{"name": "c", "role": "customer", "uri": "c.jsonl", "weight": True}]})


def test_counted_nouns() -> None:
    assert plural(1, "error") == "1 error"
    assert plural(0, "error") == "0 errors"
    assert plural(1234, "record") == "1,234 records"


def test_articles_and_counts_in_validation_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #10 grammar: "an image", "1 message" (not "a image", "1 message(s)")."""
    assert [a_or_an(noun) for noun in ("image", "video", "document")] == ["an image", "a video", "a document"]
    image = {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
    records = [
        {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        {
            "messages": [
                {"role": "user", "content": [{"text": "hi"}]},
                {"role": "assistant", "content": [{"text": "hello"}, image]},
            ]
        },
    ]
    path = tmp_path / "grammar.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert main(["validate", str(path), "--output", "json"]) == 1
    messages = [issue["message"] for issue in json.loads(capsys.readouterr().out)["errors"]]
    assert any(m.startswith("the record has 1 message, at least 2") for m in messages), messages
    assert any(m.startswith("an image in an assistant message") for m in messages), messages
    assert not any("(s)" in m or m.startswith("a image") for m in messages), messages


def test_validate_summary_counts_in_the_right_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.jsonl"
    one.write_bytes(b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}\r\n')
    assert main(["validate", str(one)]) == 1
    err = capsys.readouterr().err
    assert "1 record," in err
    assert " 1 warning" in err
    assert "1 warnings" not in err
    assert "errors" not in err.split("\n")[0] or "1 errors" not in err


def test_convert_says_nothing_about_a_file_it_did_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "hello", "completion": "  "}\n')
    out = tmp_path / "out.jsonl"
    assert main(["convert", str(bad), str(out)]) == 1
    err = capsys.readouterr().err
    assert not out.exists()
    assert f"INVALID: {out}" not in err
    assert "INVALID: the converted records of" in err
    assert f"nothing written to {out}" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_rate_and_eta() -> None:
    now = [0.0]
    line = ProgressLine(_Terminal(), "validating", 100_000_000, clock=lambda: now[0], interval=0)
    now[0] = 2.0
    line.update(25_000_000)
    assert "25.0%" in line.render(2.0)
    assert "12.5 MB/s" in line.render(2.0)
    assert "ETA 0:06" in line.render(2.0)


@pytest.mark.parametrize("command", ["validate", "convert", "split", "mix"])
def test_progress_on_a_terminal_only(
    tmp_path: Path,
    data: dict[str, Path],
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = {
        "validate": ["validate", str(data["small"])],
        "convert": ["convert", str(data["small"]), str(tmp_path / "c.jsonl")],
        "split": ["split", str(data["small"]), str(tmp_path / "s"), "--validation-fraction", "0.5"],
        "mix": ["mix", "--plan", str(data["plan"]), "--out", str(tmp_path / "m")],
    }[command]
    assert main(argv) == 0
    assert "MB/s" not in capsys.readouterr().err  # piped: no progress at all
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == 0
    shown = terminal.getvalue()
    assert "\r" in shown
    assert "MB/s" in shown


class _Saved:
    """A RunSource with one run whose ledger holds None and a list, as DynamoDB rows do."""

    execution: ClassVar[dict[str, Any]] = {
        "executionArn": "arn:aws:states:us-east-1:1:execution:p:run-1",
        "name": "run-1",
        "status": "FAILED",
        "startDate": "2026-12-01T10:00:00+00:00",
        "stopDate": "2026-12-01T10:01:00+00:00",
        "error": None,
    }
    ledger: ClassVar[dict[str, Any]] = {
        "run_id": "r1",
        "error_code": None,
        "stages": ["validate", "mix"],
        "execution_arn": None,
    }

    def executions(self, limit: int, status: str | None = None, since: Any = None) -> list[dict[str, Any]]:
        return [self.execution]

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return self.execution

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return []

    def ledger_for(self, execution_arn: str) -> dict[str, Any] | None:
        return self.ledger

    def ledger_row(self, run_id: str) -> dict[str, Any] | None:
        return None

    def training_jobs(self, names: list[str]) -> list[dict[str, Any]]:
        return []

    def outcome(self, execution_arn: str) -> dict[str, Any] | None:
        return {"estimated_cost_usd": None}

    def stop(self, execution_arn: str, error: str, cause: str) -> None:
        raise AssertionError("show never stops a run")

    def start(self, name: str, document: dict[str, Any]) -> str:
        raise AssertionError("show never starts a run")


def test_runs_show_prints_no_python_reprs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runs, "_source", lambda _args: _Saved())
    args = argparse.Namespace(run="run-1", output="text")
    assert runs.show_command(args) == 0
    out = capsys.readouterr().out
    assert "None" not in out
    assert "['" not in out
    assert "validate, mix" in out


INTERRUPTED_MIX = textwrap.dedent(
    """
    import os, signal, sys
    from forgeflow.mixing import scan
    from forgeflow_tools.cli.main import main

    scan_one = scan.Scanner.scan

    def interrupted(self, number, *args, **kwargs):
        if number == 0:  # one Ctrl-C, from the customer source's worker: to the parent and every worker
            os.killpg(0, signal.SIGINT)
        return scan_one(self, number, *args, **kwargs)

    scan.Scanner.scan = interrupted
    sys.exit(main(sys.argv[1:]))
    """
)


def test_an_interrupted_mix_leaves_no_temporary_folder_and_no_traceback(
    tmp_path: Path, data: dict[str, Path]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    argv = ["mix", "--plan", str(data["plan"]), "--out", str(tmp_path / "m"), "--workdir", str(work)]
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_MIX, *argv, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,  # killpg(0) must reach this run only
        check=False,
    )
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert list(work.iterdir()) == []
    assert not (tmp_path / "m" / "train.jsonl").exists()
