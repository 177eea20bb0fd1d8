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


def _local_run(tmp_path: Path, capsys, *flags: str) -> tuple[int, dict]:
    code = main(
        ["local", "run", "--example", "--template", str(TEMPLATE), "--outputs-dir", str(tmp_path), "--output",
         "json", *flags]
    )  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    record = json.loads((Path(document["outputs_dir"]) / "run.json").read_text(encoding="utf-8"))
    return code, record


def test_capacity_error_flag_gives_a_second_training_attempt(tmp_path: Path, capsys) -> None:
    code, record = _local_run(tmp_path, capsys, "--capacity-error", "train")
    assert code == 0
    trains = {
        job["name"].rsplit("-", 1)[1]: job["status"]
        for job in record["training_jobs"]
        if job["stage"] == "train"
    }
    assert trains == {"1": "Failed", "2": "Completed"}


def test_abort_after_flag_stops_the_job_and_publishes_one_run_failed(tmp_path: Path, capsys) -> None:
    code, record = _local_run(
        tmp_path, capsys, "--abort-after", "TrainingJob", "--lambda-timeout", "PublishResult"
    )
    assert code == 1
    assert [event["detail-type"] for event in record["events"]] == ["Run Started", "Run Failed"]
    assert [job["status"] for job in record["training_jobs"] if job["stage"] == "train"] == ["Stopped"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--capacity-error", "lunch"], "'lunch' is not one of smoke, train, eval"),
        (["--capacity-error", "train:0"], "N must be a whole number"),
        (["--lambda-timeout", "NoSuchFunction"], "'NoSuchFunction' is not one of"),
    ],
)
def test_fault_flags_name_a_bad_value(tmp_path: Path, capsys, flags: list[str], message: str) -> None:
    code = main(
        ["local", "run", "--example", "--template", str(TEMPLATE), "--outputs-dir", str(tmp_path), *flags]
    )
    assert code == 2
    assert message in capsys.readouterr().err
