"""`forgeflow run`, `forgeflow request` and `forgeflow curated upload` against a deployed stack (issue #11).

The stack is the local runtime's (real template, ASL and handlers on moto), served over HTTP by moto's
ThreadedMotoServer on 127.0.0.1 and registered in its CloudFormation with the template's outputs. The CLI
runs as on a real account: boto3 from the environment, only AWS_ENDPOINT_URL points at the server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from forgeflow_tools.cli.main import main
from forgeflow_tools.local.runtime import LocalRuntime

from .conftest import OPEN_GATE, TEMPLATE

STACK = "forgeflow-e2e"
FAST = ["--poll", "0.05", "--timeout", "60", "--start-timeout", "20"]


def _register_stack(runtime: LocalRuntime, outputs: dict[str, Any]) -> None:
    """A CloudFormation stack whose outputs are the local runtime's (the resources exist already)."""
    body = {
        "Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": str(value)} for key, value in outputs.items()},
    }
    runtime.client("cloudformation").create_stack(StackName=STACK, TemplateBody=orjson.dumps(body).decode())


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, example_data: dict[str, Path]) -> Iterator[LocalRuntime]:
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request from its threads, to streams pytest may have closed by then.
    monkeypatch.setattr(logging.getLogger("werkzeug"), "disabled", True)
    with LocalRuntime(TEMPLATE, parameter_overrides=OPEN_GATE) as runtime:  # see conftest.OPEN_GATE
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            _register_stack(runtime, runtime.stack.outputs())
            general = example_data["general"]
            runtime.put_object(f"{runtime.curated_prefix}sft/{general.name}", general.read_bytes())
            monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
            yield runtime
        finally:
            server.stop()


@pytest.mark.slow
def test_run_uploads_follows_the_execution_and_exits_0(deployed: LocalRuntime, example_data, capsys) -> None:
    dataset = example_data["support"]
    code = main(["run", str(dataset), "--stack", STACK, "--output", "json", *FAST])
    document = orjson.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 0, document
    assert document["status"] == "SUCCEEDED"
    assert document["ledger"]["execution_arn"] == document["execution_arn"]
    assert f"{deployed.incoming_prefix}{dataset.name}" in deployed.list_keys(deployed.incoming_prefix)


@pytest.mark.slow
def test_run_text_shows_the_live_view_and_names_the_endpoint(
    deployed: LocalRuntime, example_data, tmp_path: Path, capsys
) -> None:
    # The first cheap run of docs/deploy.md, as written there.
    guide = (TEMPLATE.parent / "docs" / "deploy.md").read_text()
    config = tmp_path / "run.yaml"
    config.write_text(guide.split("cat > run.yaml <<'EOF'\n", 1)[1].split("\nEOF", 1)[0] + "\n")
    code = main(["run", str(example_data["support"]), "--stack", STACK, "--config", str(config), *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "endpoint http://127.0.0.1:" in captured.err
    assert "(AWS_ENDPOINT_URL)" in captured.err
    assert "▸ RegisterRun" in captured.err
    assert "■ SUCCEEDED" in captured.err
    assert "SageMaker job forgeflow-" in captured.err
    assert "execution SUCCEEDED" in captured.out
    sidecar = f"{deployed.incoming_prefix}{example_data['support'].stem}.forgeflow.yaml"
    assert deployed.read(sidecar) == config.read_bytes()


@pytest.mark.slow
def test_a_failed_run_exits_1(deployed: LocalRuntime, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"messages": "not a list"}\n')
    code = main(["run", str(broken), "--stack", STACK, *FAST])
    captured = capsys.readouterr()
    assert code == 1
    assert "execution FAILED" in captured.out


@pytest.mark.slow
def test_no_wait_prints_the_execution_arn(deployed: LocalRuntime, example_data, capsys) -> None:
    code = main(["run", str(example_data["support"]), "--stack", STACK, "--no-wait", *FAST])
    # The last line: the emulated launcher's Powertools log can share this process's stdout.
    arn = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0
    assert arn.startswith("arn:aws:states:")
    assert ":execution:" in arn
    assert arn in [execution["executionArn"] for execution in deployed.executions()]


@pytest.mark.slow
def test_request_sends_the_event_to_the_request_bus_and_follows_it(
    deployed: LocalRuntime, example_data, tmp_path: Path, capsys
) -> None:
    key = f"{deployed.parameter('RequestDataPrefix')}support.jsonl"
    deployed.put_object(key, example_data["support"].read_bytes())
    request = tmp_path / "request.json"
    request.write_bytes(
        orjson.dumps({"request_id": "req-e2e-1", "dataset_uri": f"s3://{deployed.bucket}/{key}"})
    )
    code = main(["request", "--stack", STACK, "--file", str(request), "--output", "json", *FAST])
    document = orjson.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 0, document
    assert document["ledger"]["request_id"] == "req-e2e-1"


def test_curated_upload_validates_then_uploads_under_the_method(
    deployed: LocalRuntime, example_data, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "curated"
    folder.mkdir()
    (folder / "general.jsonl").write_bytes(example_data["general"].read_bytes())
    (folder / "prefs.jsonl").write_bytes(example_data["dpo"].read_bytes())
    assert main(["curated", "upload", str(folder), "--stack", STACK]) == 0
    keys = deployed.list_keys(deployed.curated_prefix)
    assert f"{deployed.curated_prefix}sft/general.jsonl" in keys
    assert f"{deployed.curated_prefix}dpo/prefs.jsonl" in keys


def test_curated_upload_uploads_nothing_when_a_file_is_invalid(
    deployed: LocalRuntime, example_data, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "curated"
    folder.mkdir()
    (folder / "good.jsonl").write_bytes(example_data["general"].read_bytes())
    (folder / "bad.jsonl").write_text('{"messages": []}\n')
    before = deployed.list_keys(deployed.curated_prefix)
    assert main(["curated", "upload", str(folder), "--stack", STACK]) == 1
    assert "INVALID_CURATED" in capsys.readouterr().err
    assert deployed.list_keys(deployed.curated_prefix) == before


# `runs` looks the stack up like `run` (issue #11): a missing stack is not a generic AWS_ERROR.
@pytest.mark.parametrize(
    "command",
    [["run", "x.jsonl"], ["request", "--file", "r.json"], ["runs", "list"], ["runs", "show", "x"]],
)
def test_a_missing_stack_is_exit_2_with_the_region(
    deployed: LocalRuntime, command: list[str], tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.jsonl").write_text("{}\n")
    (tmp_path / "r.json").write_text("{}")
    assert main([*command, "--stack", "no-such-stack"]) == 2
    err = capsys.readouterr().err
    assert "STACK_NOT_FOUND" in err
    assert "no stack 'no-such-stack' in us-east-1" in err
    assert "Traceback" not in err


def test_a_stack_without_forgeflow_outputs_is_exit_2(deployed: LocalRuntime, tmp_path: Path, capsys) -> None:
    body = {"Resources": {"Placeholder": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
    deployed.client("cloudformation").create_stack(
        StackName="other", TemplateBody=orjson.dumps(body).decode()
    )
    (tmp_path / "r.json").write_text("{}")
    assert main(["request", "--stack", "other", "--file", str(tmp_path / "r.json")]) == 2
    assert "NOT_A_FORGEFLOW_STACK" in capsys.readouterr().err


def _no_aws_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: fails before any call


def test_no_credentials_is_exit_2_without_a_traceback(monkeypatch, tmp_path: Path, capsys) -> None:
    _no_aws_setup(monkeypatch)
    (tmp_path / "r.json").write_text("{}")
    assert main(["request", "--stack", STACK, "--file", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "NO_CREDENTIALS" in err
    assert "Traceback" not in err


def test_no_region_is_exit_2_without_a_traceback(monkeypatch, tmp_path: Path, capsys) -> None:
    _no_aws_setup(monkeypatch)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    (tmp_path / "d.jsonl").write_text("{}\n")
    assert main(["run", str(tmp_path / "d.jsonl"), "--stack", STACK]) == 2
    assert "NO_REGION" in capsys.readouterr().err
