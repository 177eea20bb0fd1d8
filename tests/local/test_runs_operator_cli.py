"""Issue #15: `forgeflow runs` operator commands on saved local runs, and their bad input (no runtime)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from forgeflow_tools.cli.main import main
from forgeflow_tools.cli.runs_control import STAGE_FUNCTIONS
from forgeflow_tools.cli.timeline import _STAGE_RULES, stage_of

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime.now(dt.UTC)


def _save(folder: Path, run_id: str, status: str, started: dt.datetime) -> None:
    arn = f"arn:aws:states:us-east-1:1:execution:m:{run_id}"
    record = {
        "run_id": run_id,
        "stack": "s",
        "state_machine_arn": "arn:aws:states:us-east-1:1:stateMachine:m",
        "execution": {
            "executionArn": arn,
            "name": run_id,
            "status": status,
            "startDate": started.isoformat(),
            "input": json.dumps({"run": {"run_id": run_id}, "event": {}}),
        },
        "history": [],
        "ledger": {"run_id": run_id, "status": status, "execution_arn": arn},
        "events": [],
        "training_jobs": [],
    }
    (folder / run_id / "logs").mkdir(parents=True)
    (folder / run_id / "run.json").write_text(json.dumps(record))
    (folder / run_id / "logs" / "forgeflow-local-MixDataFunction.log").write_text("mixed\n")
    (folder / run_id / "logs" / "forgeflow-local-RegisterRunFunction.log").write_text("registered\n")


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    _save(tmp_path, "old-failed", "FAILED", NOW - dt.timedelta(days=3))
    _save(tmp_path, "new-failed", "FAILED", NOW - dt.timedelta(minutes=10))
    _save(tmp_path, "new-ok", "SUCCEEDED", NOW - dt.timedelta(minutes=5))
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_runs_list_filters_on_status_and_since(saved: Path, capsys) -> None:
    base = ("runs", "list", "--local", "--runs-dir", str(saved), "--output", "json")
    listed = _json(capsys, *base, "--status", "failed")
    assert [r["execution"] for r in listed] == ["new-failed", "old-failed"]
    listed = _json(capsys, *base, "--status", "FAILED", "--since", "2d")
    assert [r["execution"] for r in listed] == ["new-failed"]
    listed = _json(capsys, *base, "--since", "30m")
    assert [r["execution"] for r in listed] == ["new-ok", "new-failed"]


@pytest.mark.parametrize("value", ["5x", "h", "0d", "-2h", "1.5h", "30"])
def test_a_bad_since_is_a_usage_error_naming_the_accepted_forms(saved: Path, capsys, value: str) -> None:
    code = main(["runs", "list", "--local", "--runs-dir", str(saved), f"--since={value}"])
    err = capsys.readouterr().err
    assert code == 2
    assert "30m, 6h, 2d, 1w" in err


def test_runs_logs_local_reads_the_saved_logs_of_a_stage(saved: Path, capsys) -> None:
    base = ("runs", "logs", "new-ok", "--local", "--runs-dir", str(saved), "--output", "json")
    assert _json(capsys, *base, "--stage", "mix")["lines"] == ["MixDataFunction mixed"]
    assert len(_json(capsys, *base)["lines"]) == 2


def test_stop_and_retry_of_a_saved_local_run_say_what_is_possible_offline(saved: Path, capsys) -> None:
    assert main(["runs", "stop", "new-failed", "--local", "--runs-dir", str(saved)]) == 2
    assert "[NOT_RUNNING]: execution new-failed already ended FAILED" in capsys.readouterr().err
    assert main(["runs", "retry", "new-failed", "--local", "--runs-dir", str(saved)]) == 2
    err = capsys.readouterr().err
    assert "[NOT_RETRYABLE]" in err
    assert "forgeflow local run" in err


def test_every_template_function_logs_for_some_stage() -> None:
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)
    functions = {
        name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    assert functions == {name for names in STAGE_FUNCTIONS.values() for name in names}


def test_every_state_of_the_asl_has_a_stage_by_rule() -> None:
    text = (ROOT / "statemachine" / "pipeline.asl.json").read_text()
    states = _state_names(json.loads(_without_substitutions(text))["States"])
    unnamed = [s for s in states if not any(word in s for word, _ in _STAGE_RULES)]
    assert unnamed == ["EvaluationJobDone"] or unnamed == []
    assert stage_of("SmokeJob") == "smoke"
    assert stage_of("PublishFailure") == "failure"
    assert stage_of("Publish") == "publish"
    # Issue #16: the serverless evaluation branch is the evaluate stage; a missing model package, train.
    map_states = json.loads(_without_substitutions(text))["States"]["EvaluationJobs"]["ItemProcessor"][
        "States"
    ]
    serverless = [name for name in map_states if "Serverless" in name]
    assert len(serverless) == 11
    assert {stage_of(name) for name in serverless} == {"evaluate"}
    assert stage_of("ServerlessTrainingJobWithoutModelPackage") == "train"


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags read as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _without_substitutions(text: str) -> str:
    import re

    return re.sub(r"\$\{\w+\}", "0", text)


def _state_names(states: dict[str, dict[str, object]]) -> list[str]:
    names = list(states)
    for state in states.values():
        for branch in [state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])]:
            if isinstance(branch, dict):
                names += _state_names(branch["States"])
    return names
