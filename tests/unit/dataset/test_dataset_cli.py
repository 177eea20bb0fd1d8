"""The dataset commands end to end: exit codes, reports, stdout/stderr, local paths and S3 (moto)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from forgeflow_tools.cli.main import main
from forgeflow_tools.cli.progress import progress_line
from forgeflow_tools.examples import write_examples

BUCKET = "forgeflow-datasets"


@pytest.fixture
def examples(tmp_path: Path) -> dict[str, Path]:
    return write_examples(tmp_path / "examples")


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_validate_valid_file_exits_0_and_writes_the_report(
    examples: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "reports" / "support.json"
    assert main(["validate", str(examples["support"]), "--report", str(report_path)]) == 0
    report = orjson.loads(report_path.read_bytes())
    assert report["valid"] is True
    assert report["records"] == 600
    assert report["stats"]["method"] == "sft"
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("VALID: ")


def test_validate_invalid_file_exits_1_with_report_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"messages": []}\n')
    assert main(["validate", str(path), "--report", "-"]) == 1
    captured = capsys.readouterr()
    report = orjson.loads(captured.out)
    assert report["error_codes"] == {"TOO_FEW_MESSAGES": 1}
    assert "INVALID" in captured.err
    assert "[TOO_FEW_MESSAGES]" in captured.err


def test_validate_targets_are_flags(examples: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(examples["dpo"]), "--model", "lite-2"]) == 1
    assert "DPO_NOT_SUPPORTED" in capsys.readouterr().err
    assert main(["validate", str(examples["dpo"]), "--method", "dpo", "--platform", "bedrock"]) == 0
    assert main(["validate", str(examples["general"]), "--model", "lite-2", "--platform", "bedrock"]) == 0
    assert main(["validate", str(examples["dpo"]), "--method", "sft"]) == 1


def test_validate_io_and_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "missing.jsonl")]) == 2
    assert "[NOT_FOUND]" in capsys.readouterr().err
    assert main(["validate", str(tmp_path)]) == 2
    assert main(["validate", "x.jsonl", "--model", "huge"]) == 2


def test_validate_and_report_on_s3(s3: Any, examples: dict[str, Path]) -> None:
    s3.put_object(Bucket=BUCKET, Key="incoming/support.jsonl", Body=examples["support"].read_bytes())
    uri = f"s3://{BUCKET}/incoming/support.jsonl"
    assert main(["validate", uri, "--report", f"s3://{BUCKET}/reports/support.json"]) == 0
    body = s3.get_object(Bucket=BUCKET, Key="reports/support.json")["Body"].read()
    assert orjson.loads(body)["source"] == uri
    assert main(["validate", f"s3://{BUCKET}/incoming/missing.jsonl"]) == 2


def test_convert_on_s3_both_sides(s3: Any) -> None:
    rows = b'{"prompt": "Where is my parcel?", "completion": "shipping/delayed"}\n'
    s3.put_object(Bucket=BUCKET, Key="raw/rows.jsonl", Body=rows)
    assert main(["convert", f"s3://{BUCKET}/raw/rows.jsonl", f"s3://{BUCKET}/converse/rows.jsonl"]) == 0
    body = s3.get_object(Bucket=BUCKET, Key="converse/rows.jsonl")["Body"].read()
    assert orjson.loads(body)["messages"][1]["content"] == [{"text": "shipping/delayed"}]


def test_convert_exit_codes_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'\xef\xbb\xbf{"instruction": "Say hi", "output": "Hi  "}\r\n')
    assert main(["convert", str(source), str(tmp_path / "out.jsonl")]) == 1
    assert "--strip-bom" in capsys.readouterr().err
    report_path = tmp_path / "conversion.json"
    assert (
        main(
            ["convert", str(source), str(tmp_path / "out.jsonl"), "--sanitize", "--report", str(report_path)]
        )
        == 0
    )
    changes = orjson.loads(report_path.read_bytes())["changes"]
    assert changes == {
        "bom_stripped": True,
        "crlf_lines_normalized": 1,
        "duplicates_dropped": 0,
        "whitespace_trimmed": {"records": 1, "blocks": 1},
    }
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"instruction": "Say hi", "output": ""}\n')
    assert main(["convert", str(bad), str(tmp_path / "bad_out.jsonl")]) == 1
    assert "nothing written" in capsys.readouterr().err
    assert not (tmp_path / "bad_out.jsonl").exists()


def test_split_command(examples: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "split"
    assert (
        main(["split", str(examples["general"]), str(out), "--validation-fraction", "0.25", "--seed", "4"])
        == 0
    )
    train = (out / "train.jsonl").read_bytes().splitlines()
    validation = (out / "validation.jsonl").read_bytes().splitlines()
    assert len(train) + len(validation) == 400
    assert 60 < len(validation) < 140
    assert main(["split", str(examples["general"]), str(out), "--validation-fraction", "1"]) == 2


def test_examples_command_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["examples", str(tmp_path / "a")]) == 0
    assert main(["examples", str(tmp_path / "b")]) == 0
    assert "support: " in capsys.readouterr().out
    for name in ("support_sft.jsonl", "general_sft.jsonl", "support_dpo.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    assert progress_line(io.StringIO(), "validating", 100) is None
    terminal = _Terminal()
    show = progress_line(terminal, "validating", 200)
    assert show is not None
    show.update(100)
    assert "50.0%" in terminal.getvalue()
