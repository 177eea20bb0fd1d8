"""`forgeflow local run --example` (what `make demo` runs) on the real template, as a script would call it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forgeflow_tools.cli.main import main

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
pytestmark = pytest.mark.slow


def test_the_shipped_example_runs_and_prints_the_json_contract(tmp_path: Path, capsys) -> None:
    code = main(
        ["local", "run", "--example", "--template", str(TEMPLATE), "--outputs-dir", str(tmp_path), "--output",
         "json"]
    )  # fmt: skip
    out = capsys.readouterr().out

    document = json.loads(out)
    # The default 75/25 mix trains on about half the curated pool: the stand-in's general suite falls by
    # more than the 2.0-point gate (docs/local.md), so the run ends SUCCEEDED but regressed (exit 3).
    assert code == 3, document
    assert document["status"] == "SUCCEEDED"
    assert [event["detail-type"] for event in document["events"]] == ["Run Started", "Run Regressed"]
    outputs = Path(document["outputs_dir"])
    run_id = outputs.name
    assert outputs.parent == tmp_path
    assert (outputs / "s3" / "runs" / run_id / "evaluation" / "summary.json").is_file()
    record = json.loads((outputs / "run.json").read_text(encoding="utf-8"))
    assert record["ledger"]["status"] == "SUCCEEDED"
    assert {job["stage"] for job in record["training_jobs"]} == {"smoke", "train", "eval"}


def _local_run(capsys, tmp_path: Path, *argv: str) -> tuple[int, str, dict]:
    # About curated data, not the gate (conftest.OPEN_GATE; test_e2e_evaluation_gate.py tests exit 3).
    gate = ["-p", "GateGeneralMaxDrop=100"]
    code = main(
        ["local", "run", *argv, *gate, "--template", str(TEMPLATE), "--outputs-dir", str(tmp_path / "runs")]
    )
    captured = capsys.readouterr()
    saved = Path(captured.out.rsplit("outputs written to ", 1)[1].split("\n", 1)[0])
    report = json.loads(next(saved.glob("s3/runs/*/mix/mix_report.json")).read_text())
    return code, captured.err, report


def _slice(source: Path, target: Path, count: int) -> Path:
    target.write_bytes(b"".join(source.read_bytes().splitlines(keepends=True)[:count]))
    return target


@pytest.mark.parametrize("method", ["sft", "dpo"])
def test_a_users_own_dataset_is_mixed_with_the_shipped_curated_set(
    method: str, tmp_path: Path, capsys
) -> None:
    """Issue #10: `forgeflow local run my.jsonl` failed at Mix unless the user knew `--curated`."""
    from forgeflow_tools.examples import write_examples

    files = write_examples(tmp_path / "examples")
    mine = _slice(files["support" if method == "sft" else "dpo"], tmp_path / "my.jsonl", 60)
    code, err, report = _local_run(capsys, tmp_path, str(mine))
    assert code == 0, err
    assert f"curated/{method}/general_{method}.jsonl" in err
    assert "shipped general-purpose sets" in err
    assert [source["name"] for source in report["sources"]] == ["customer", "curated"]


def test_curated_replaces_and_no_curated_runs_unmixed(tmp_path: Path, capsys) -> None:
    from forgeflow_tools.examples import write_examples

    files = write_examples(tmp_path / "examples")
    mine = _slice(files["support"], tmp_path / "my.jsonl", 60)
    own = tmp_path / "own"
    own.mkdir()
    _slice(files["general"], own / "mine_general.jsonl", 40)
    code, err, report = _local_run(capsys, tmp_path, str(mine), "--curated", str(own))
    assert code == 0, err
    assert "curated/sft/mine_general.jsonl (from --curated)" in err
    # 40 records: those in the general suite's held-out slice are excluded from the blend.
    assert report["sources"][1]["available"] + report["sources"][1]["excluded"] == 40
    assert report["sources"][1]["excluded"] > 0

    code, err, report = _local_run(capsys, tmp_path, str(mine), "--no-curated")
    assert code == 0, err
    assert "the run is unmixed" in err
    assert [source["name"] for source in report["sources"]] == ["customer"]


def _example_run(tmp_path: Path, capsys, *flags: str) -> tuple[int, dict]:
    code = main(
        ["local", "run", "--example", "--template", str(TEMPLATE), "--outputs-dir", str(tmp_path), "--output",
         "json", "-p", "GateGeneralMaxDrop=100", *flags]
    )  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    record = json.loads((Path(document["outputs_dir"]) / "run.json").read_text(encoding="utf-8"))
    return code, record


def test_capacity_error_flag_gives_a_second_training_attempt(tmp_path: Path, capsys) -> None:
    code, record = _example_run(tmp_path, capsys, "--capacity-error", "train")
    assert code == 0
    trains = {
        job["name"].rsplit("-", 1)[1]: job["status"]
        for job in record["training_jobs"]
        if job["stage"] == "train"
    }
    assert trains == {"1": "Failed", "2": "Completed"}


def test_abort_after_flag_stops_the_job_and_publishes_one_run_failed(tmp_path: Path, capsys) -> None:
    code, record = _example_run(
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


def test_smoke_only_stops_after_the_smoke_job_and_succeeds(tmp_path: Path, capsys) -> None:
    """The first cheap run (issue #11, docs/deploy.md): `smoke_only: true` in the run config."""
    config = tmp_path / "run.yaml"
    config.write_text("model: micro\nmethod: sft\nsmoke_only: true\n")
    code, record = _example_run(tmp_path, capsys, "--config", str(config))
    assert code == 0, record
    assert record["ledger"]["status"] == "SUCCEEDED"
    assert [job["stage"] for job in record["training_jobs"]] == ["smoke"]
    detail = record["events"][-1]["detail"]
    assert record["events"][-1]["detail-type"] == "Run Succeeded"
    assert detail["smoke_only"] is True
    assert detail["smoke_job_name"] == record["training_jobs"][0]["name"]
    assert (detail["training_job_name"], detail["model_artifacts"], detail["evaluation_summary_uri"]) == (
        None,
        None,
        None,
    )
    assert detail["evaluation"] == {}
