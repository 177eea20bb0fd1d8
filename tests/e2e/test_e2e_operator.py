"""Issue #15: the operators' commands (`forgeflow runs list | show | logs | stop | retry`) against a stack.

The stack is the embedded local runtime: the CLI's boto3 clients reach moto in-process, named the way an
operator names a deployed pipeline (`--state-machine-arn`, `--table`, `--region`).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from forgeflow_tools.cli.main import main
from forgeflow_tools.local.runtime import LocalRuntime
from forgeflow_tools.local.sagemaker import FailureInjection

pytestmark = pytest.mark.slow


def _where(runtime: LocalRuntime) -> list[str]:
    where = ["--state-machine-arn", runtime.state_machine_arn, "--table", runtime.ledger_table]
    return [*where, "--region", runtime.region]


def _runs(runtime: LocalRuntime, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = main(["runs", *argv, *_where(runtime), "--output", "json"])
    out = capsys.readouterr().out
    return code, orjson.loads(out) if out.strip() else None


def _refused(runtime: LocalRuntime, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """The exit code and the one stderr line of a refused command (text output)."""
    capsys.readouterr()
    code = main(["runs", *argv, *_where(runtime)])
    return code, capsys.readouterr().err


def _wait_for_job(runtime: LocalRuntime) -> None:
    deadline = time.monotonic() + 60
    while not runtime.emulator.jobs() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_runs_stop_mid_training_stops_the_job_with_one_run_failed_stopped_by_operator(
    local_stack, example_data, capsys
) -> None:
    # Jobs advance one status per 60 s: the job is still training when the operator stops the run.
    runtime = local_stack(seconds_per_status=60)
    runtime.drop_dataset(example_data["support"])
    (execution,) = runtime.wait_for_executions(1)
    _wait_for_job(runtime)
    run_id = execution["name"]

    code, stopped = _runs(runtime, capsys, "stop", run_id, "--reason", "wrong dataset")
    outcome = runtime.outcome(execution["executionArn"])

    assert (code, stopped["stopped"]) == (0, True)
    assert outcome.status == "ABORTED"
    failed = [e["detail"] for e in outcome.events if e["detail-type"] == "Run Failed"]
    assert len(failed) == 1
    assert (failed[0]["stage"], failed[0]["error_code"]) == ("stopped-by-operator", "StoppedByOperator")
    assert "wrong dataset" in failed[0]["message"]
    # RunFailedAlertRule's one line for AlertTopic (recorded by the local runtime: nothing is e-mailed).
    (alert,) = [message for _, message in runtime.deliveries.notifications]
    assert f"run {run_id} FAILED at stage stopped-by-operator (StoppedByOperator)" in alert
    code, shown = _runs(runtime, capsys, "show", run_id)
    jobs = [job for span in shown["timeline"] for job in span["jobs"]]
    assert code == 0
    assert [job["status"] for job in jobs] == ["Stopped"]
    # A second stop is refused: the run has ended.
    code, said = _refused(runtime, capsys, "stop", run_id)
    assert code == 2
    assert "[NOT_RUNNING]" in said
    assert "already ended ABORTED" in said


def test_runs_retry_of_a_failed_run_starts_the_next_execution_which_succeeds(
    local_stack, example_data, capsys
) -> None:
    runtime = local_stack(FailureInjection(capacity_errors={"train": 3}))
    runtime.drop_dataset(example_data["support"])
    (first,) = runtime.wait_for_executions(1)
    assert runtime.outcome(first["executionArn"]).status == "FAILED"
    run_id = first["name"]

    code, started = _runs(runtime, capsys, "retry", run_id)
    second = runtime.outcome(started["execution_arn"])

    assert code == 0
    assert started["execution_name"] == f"{run_id}-r2"
    assert (second.status, second.run_id) == ("SUCCEEDED", run_id)
    trains = sorted(job.name for job in runtime.emulator.jobs() if "-train-" in job.name)
    assert trains[-1] == f"forgeflow-{run_id}-train-4"
    # The retried run is SUCCEEDED now: a second retry is refused (exit 2), the list filters by status.
    code, said = _refused(runtime, capsys, "retry", run_id)
    assert code == 2
    assert "[NOT_RETRYABLE]" in said
    code, succeeded = _runs(runtime, capsys, "list", "--status", "succeeded", "--since", "1h")
    assert [r["execution"] for r in succeeded] == [f"{run_id}-r2"]
    code, failed = _runs(runtime, capsys, "list", "--status", "FAILED")
    assert [r["execution"] for r in failed] == [run_id]
    code, shown = _runs(runtime, capsys, "show", f"{run_id}-r2")
    stages = [span["stage"] for span in shown["timeline"]]
    assert stages[:4] == ["register", "validate", "mix", "recipe"]
    assert {"smoke", "train", "evaluate", "publish"} <= set(stages)
    # The timeline's cost: the pre-flight estimate (result.json) and what the run's jobs were billed.
    assert shown["cost"]["estimated_cost_usd"] > 0
    assert shown["cost"]["actual_cost_usd"] > 0


def test_runs_commands_name_an_unknown_run(local_stack, capsys) -> None:
    runtime = local_stack()
    for command in ("show", "logs", "stop", "retry"):
        code, said = _refused(runtime, capsys, command, "no-such-run-000000000000")
        assert code == 2
        assert "[NOT_FOUND]" in said
        assert "no-such-run-000000000000" in said
