"""`forgeflow local run` and `forgeflow runs` on the miniature stack: exit codes, JSON contract, history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forgeflow_tools.cli.main import main
from forgeflow_tools.cli.runs import summarize_history
from forgeflow_tools.local.runtime import LocalRuntime

MINI = Path(__file__).parent / "mini_stack" / "template.yaml"
RECORD = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.jsonl"
    path.write_text(json.dumps(RECORD) + "\n", encoding="utf-8")
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_output_is_one_object_with_the_contract_keys(dataset: Path, tmp_path: Path, capsys) -> None:
    runs = str(tmp_path / "runs")
    code, out, _ = _run(
        capsys,
        "local",
        "run",
        str(dataset),
        "--template",
        str(MINI),
        "--outputs-dir",
        runs,
        "--output",
        "json",
    )
    assert code == 0
    document = json.loads(out)
    assert set(document) == {"execution_arn", "status", "events", "outputs_dir"}
    assert document["status"] == "SUCCEEDED"
    assert [event["detail-type"] for event in document["events"]] == ["Run Succeeded"]
    saved = Path(document["outputs_dir"])
    record = json.loads((saved / "run.json").read_text(encoding="utf-8"))
    assert record["emulated"] is True
    assert record["execution"]["executionArn"] == document["execution_arn"]
    assert (saved / "EMULATED.txt").is_file()
    assert any(saved.joinpath("s3", "runs").iterdir())


def test_text_output_shows_progress_on_stderr_and_a_failed_run_exits_1(
    dataset: Path, tmp_path: Path, capsys
) -> None:
    runs = str(tmp_path / "runs")
    code, out, err = _run(
        capsys,
        "local",
        "run",
        str(dataset),
        "--template",
        str(MINI),
        "--outputs-dir",
        runs,
        "--fail",
        "smoke",
    )
    assert code == 1
    assert "▸ StartJob" in err
    assert "(emulated)" in err
    assert "■ FAILED" in err
    assert "execution FAILED" in out
    assert "(emulated: " in out
    assert '"detail-type": "Run Failed"' in out


@pytest.mark.parametrize(
    "argv",
    [
        ["local", "run"],
        ["local", "run", "missing.jsonl"],
        ["local", "run", "x.jsonl", "--example"],
        ["local", "run", "--example", "--parameter", "NoEquals"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.jsonl").write_text("{}\n", encoding="utf-8")
    code, _, err = _run(capsys, *argv, "--template", str(MINI))
    assert code == 2
    assert "error" in err


def test_a_parameter_outside_its_allowed_pattern_is_refused(capsys, tmp_path: Path, monkeypatch) -> None:
    # The real template: IncomingPrefix=runs/ would make the pipeline trigger on its own writes (#9, 11).
    monkeypatch.chdir(tmp_path)
    template = Path(__file__).parents[2] / "template.yaml"
    code, out, err = _run(
        capsys, "local", "run", "--example", "--param", "IncomingPrefix=runs/", "--template", str(template)
    )
    assert (code, out) == (2, "")
    assert "IncomingPrefix='runs/' does not match" in err
    assert "must not start with runs/" in err  # the template's ConstraintDescription
    assert "Traceback" not in err


def test_runs_list_and_show_read_saved_local_runs(dataset: Path, tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    argv = ["local", "run", str(dataset), "--template", str(MINI), "--outputs-dir", str(runs)]
    _run(capsys, *argv, "--output", "json")
    code, out, _ = _run(capsys, "runs", "list", "--local", "--runs-dir", str(runs), "--output", "json")
    assert code == 0
    (listed,) = json.loads(out)
    assert listed["status"] == "SUCCEEDED"
    code, out, _ = _run(capsys, "runs", "show", listed["run_id"], "--local", "--runs-dir", str(runs))
    assert code == 0
    assert "ledger" in out
    assert "CheckJob" in out
    code, _, err = _run(capsys, "runs", "show", "no-such-run", "--local", "--runs-dir", str(runs))
    assert code == 2
    assert "no-such-run" in err


def test_runs_commands_read_a_stack_through_the_aws_apis(dataset: Path, capsys) -> None:
    with LocalRuntime(MINI) as runtime:
        runtime.put_object("incoming/tickets.jsonl", dataset.read_bytes())
        (execution,) = runtime.wait_for_executions(1)
        runtime.wait(execution["executionArn"])
        where = ["--state-machine-arn", runtime.state_machine_arn, "--table", runtime.ledger_table,
                 "--region", "us-east-1"]  # fmt: skip
        code, out, _ = _run(capsys, "runs", "list", *where, "--output", "json")
        assert code == 0
        (listed,) = json.loads(out)
        run_id = runtime.ledger_rows()[0]["run_id"]
        assert (listed["run_id"], listed["status"]) == (run_id, "SUCCEEDED")
        code, out, _ = _run(capsys, "runs", "show", run_id, *where, "--output", "json")
        shown = json.loads(out)
        assert shown["ledger"]["run_id"] == run_id
        assert [s["state"] for s in shown["states"]][:3] == ["StartJob", "WaitForJob", "CheckJob"]
        assert next(s for s in shown["states"] if s["state"] == "CheckJob")["visits"] == 4


def test_runs_without_a_source_is_a_usage_error(capsys) -> None:
    code, _, err = _run(capsys, "runs", "list", "--region", "us-east-1")
    assert code == 2
    assert "--stack" in err


def test_history_summary_collapses_loops_and_marks_retries_and_failures() -> None:
    def event(kind: str, second: int, **details: object) -> dict:
        return {"type": kind, "timestamp": f"2026-01-01T00:00:{second:02d}+00:00", **details}

    def entered(name: str, second: int) -> dict:
        return event("TaskStateEntered", second, stateEnteredEventDetails={"name": name})

    def exited(name: str, second: int) -> dict:
        return event("TaskStateExited", second, stateExitedEventDetails={"name": name})

    history = [
        entered("Start", 0), event("TaskScheduled", 0),
        event("TaskFailed", 1, taskFailedEventDetails={"error": "TrainingJobThrottled"}),
        event("TaskScheduled", 2), exited("Start", 3),
        entered("Poll", 3), exited("Poll", 4), entered("Poll", 5), exited("Poll", 7),
        entered("Publish", 7), event("TaskFailed", 8, taskFailedEventDetails={"error": "Boom"}),
        event("ExecutionFailed", 9, executionFailedEventDetails={"error": "Boom"}),
    ]  # fmt: skip
    rows = {row.state: row for row in summarize_history(history)}
    assert (rows["Start"].outcome, rows["Start"].error, rows["Start"].duration_s) == (
        "retried", "TrainingJobThrottled", 3.0
    )  # fmt: skip
    assert (rows["Poll"].visits, rows["Poll"].duration_s, rows["Poll"].outcome) == (2, 3.0, "ok")
    assert (rows["Publish"].outcome, rows["Publish"].error, rows["Publish"].duration_s) == (
        "failed",
        "Boom",
        2.0,
    )


def test_stack_outputs_name_the_state_machine_and_the_table() -> None:
    from forgeflow.aws.runs import STACK_OUTPUT_STATE_MACHINE, STACK_OUTPUT_TABLE
    from forgeflow_tools.deployed import REQUIRED_OUTPUTS

    # `runs --stack` reads these through find_stack, which refuses a stack without them.
    assert {STACK_OUTPUT_STATE_MACHINE, STACK_OUTPUT_TABLE} <= set(REQUIRED_OUTPUTS)
    # The keys are the ones template.yaml declares.
    template = (Path(__file__).resolve().parents[2] / "template.yaml").read_text(encoding="utf-8")
    assert f"  {STACK_OUTPUT_STATE_MACHINE}:" in template
    assert f"  {STACK_OUTPUT_TABLE}:" in template
