"""In-process Lambda: environment around the call, Lambda's error payload, per-function logs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import orjson

from forgeflow_tools.local.functions import FunctionRegistry, FunctionSpec

CODE = """
import os

class DatasetInvalid(Exception):
    pass

def handler(event, context):
    print("hello from", context.function_name)
    if event.get("fail"):
        raise DatasetInvalid("line 3: bad role")
    return {"env": os.environ["ONLY_HERE"], "remaining": context.get_remaining_time_in_millis() > 0}
"""


def _registry(tmp_path: Path) -> FunctionRegistry:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text(CODE, encoding="utf-8")
    registry = FunctionRegistry("eu-west-1")
    registry.register(
        FunctionSpec(
            logical_id="Fn",
            name="stack-Fn",
            arn="arn:aws:lambda:eu-west-1:123456789012:function:stack-Fn",
            code_dir=tmp_path / "fn",
            handler="app.handler",
            environment={"ONLY_HERE": "yes"},
        )
    )
    return registry


def test_the_template_environment_is_set_only_during_the_call(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    outcome = registry.invoke("arn:aws:lambda:eu-west-1:123456789012:function:stack-Fn", b"{}")
    assert outcome.function_error is None
    assert orjson.loads(outcome.payload) == {"env": "yes", "remaining": True}
    assert "ONLY_HERE" not in os.environ


def test_an_exception_becomes_lambdas_unhandled_error_payload(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    outcome = registry.invoke("stack-Fn", b'{"fail": true}')
    assert outcome.function_error == "Unhandled"
    payload = orjson.loads(outcome.payload)
    assert (payload["errorType"], payload["errorMessage"]) == ("DatasetInvalid", "line 3: bad role")
    assert isinstance(payload["stackTrace"], list)


def test_handler_output_goes_to_the_function_log(tmp_path: Path, capsys) -> None:
    registry = _registry(tmp_path)
    with registry.capture_stdout():
        registry.invoke("stack-Fn", b"{}")
        print("operator output")
    captured = capsys.readouterr().out
    assert "hello from" not in captured
    assert "operator output" in captured
    log = registry.logs("stack-Fn")
    assert "hello from stack-Fn" in log
    assert log.startswith("START RequestId: ")
    assert sys.stdout is not None


def test_after_the_runtime_a_bound_stream_follows_the_current_stdout(tmp_path: Path, capsys) -> None:
    registry = _registry(tmp_path)
    with registry.capture_stdout():
        bound = sys.stdout  # what a logger created inside the runtime keeps
    bound.write("later\n")
    assert capsys.readouterr().out == "later\n"


def test_a_handler_running_past_its_timeout_is_reported_as_lambda_would(tmp_path: Path) -> None:
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "app.py").write_text(
        "import time\n\ndef handler(event, context):\n    time.sleep(1.1)\n    return {}\n", encoding="utf-8"
    )
    registry = FunctionRegistry()
    registry.register(
        FunctionSpec("Slow", "stack-Slow", "arn:aws:lambda:us-east-1:1:function:stack-Slow",
                     tmp_path / "slow", "app.handler", {}, timeout_seconds=1)
    )  # fmt: skip
    outcome = registry.invoke("stack-Slow", b"{}")
    assert outcome.function_error == "Unhandled"
    payload = orjson.loads(outcome.payload)
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].startswith("Task timed out after 1.00 seconds")


POWERTOOLS_CODE = """
from aws_lambda_powertools import Logger

logger = Logger(service="{service}")

def handler(event, context):
    logger.info("duplicate delivery")
    return {}
"""


def _run_powertools_function(tmp_path: Path, service: str) -> FunctionRegistry:
    """A registry holding one function whose Powertools logger of `service` logs "duplicate delivery",
    invoked once inside the runtime's stdout capture."""
    (tmp_path / "pt").mkdir()
    (tmp_path / "pt" / "app.py").write_text(POWERTOOLS_CODE.replace("{service}", service), encoding="utf-8")
    registry = FunctionRegistry()
    registry.register(
        FunctionSpec("Pt", "stack-Pt", "arn:aws:lambda:us-east-1:1:function:stack-Pt",
                     tmp_path / "pt", "app.handler", {})
    )  # fmt: skip
    with registry.capture_stdout():
        registry.invoke("stack-Pt", b"{}")
    return registry


def test_a_powertools_logger_created_before_the_runtime_still_logs_to_the_function_log(
    tmp_path: Path, capsys
) -> None:
    # Powertools binds its handler to sys.stdout once per logger name, at the first Logger(...) in the
    # process: a unit test importing a handler before any runtime bound it to the test framework's
    # capture, and the function's later log lines went there instead of its log (a flaky e2e count).
    from aws_lambda_powertools import Logger

    Logger(service="forgeflow-log-routing-test")  # bound to the capture's stdout, outside a runtime
    registry = _run_powertools_function(tmp_path, "forgeflow-log-routing-test")
    assert "duplicate delivery" in registry.logs("stack-Pt")
    assert "duplicate delivery" not in capsys.readouterr().out


def test_a_powertools_handler_bound_to_a_closed_stream_is_rerouted_without_an_error(tmp_path: Path) -> None:
    # A previous test's capture, closed when that test ended: re-pointing its handler must not flush it
    # (logging's setStream does, and raised "I/O operation on closed file" when one e2e file ran alone).
    import io
    import logging

    from aws_lambda_powertools import Logger

    closed = io.TextIOWrapper(io.BytesIO())  # as pytest's capture is; a closed StringIO flushes silently
    Logger(service="forgeflow-closed-stream-test", logger_handler=logging.StreamHandler(closed))
    closed.close()
    registry = _run_powertools_function(tmp_path, "forgeflow-closed-stream-test")
    assert "duplicate delivery" in registry.logs("stack-Pt")
