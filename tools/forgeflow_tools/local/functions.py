"""Run a template's Lambda functions in-process, the way the Lambda service would run them.

Each function's `app.py` is loaded under its own module name, its template environment is set around the
call, it receives a Lambda-shaped context object, and an unhandled exception becomes the payload Lambda
returns (`{"errorType": <class name>, "errorMessage": ...}` with `FunctionError: Unhandled`), so the state
machine's `Retry`/`Catch` match on the exception's class name exactly as on AWS. What a handler prints
(Powertools logs, EMF metrics) is kept per function, like CloudWatch Logs, instead of reaching stdout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import orjson

Handler = Callable[[Any, Any], Any]

# Where a SageMaker MLflow tracking server ARN leads under the local runtime (port 9: discard, not served).
NO_TRACKING_SERVER = "http://127.0.0.1:9/no-sagemaker-mlflow-tracking-server-in-the-local-emulation"
# Environment the Lambda service itself provides; the template's variables are applied on top.
_EMULATED_SERVICE_ENV = {
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    # No X-Ray daemon runs locally: Powertools Tracer would only log connection errors.
    "POWERTOOLS_TRACE_DISABLED": "true",
    "FORGEFLOW_EMULATED": "true",
    # No SageMaker MLflow tracking server exists offline: a tracking-server ARN resolves (through the
    # sagemaker-mlflow plugin's own endpoint override) to a closed localhost port whose path says so, and
    # is tried once, so TrackRunFunction fails at once, naming the emulation, and never reaches the network.
    "SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT": NO_TRACKING_SERVER,
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
}


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "emulated"
    _deadline: float = field(default=0.0, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class FunctionSpec:
    """One function of the template: where its code is and how Lambda would configure it."""

    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    memory_mb: int = 128
    timeout_seconds: int = 3


@dataclass
class Invocation:
    """The outcome of one invocation, as the Lambda Invoke API reports it."""

    payload: bytes
    function_error: str | None
    request_id: str


class _RoutingStdout(io.TextIOBase):
    """sys.stdout replacement: writes from inside an invocation go to that function's log.

    One instance per process: loggers created during one runtime keep a reference to it (Powertools binds
    its handler to sys.stdout once), so it must route correctly for every later runtime too.
    """

    def __init__(self) -> None:
        self.target: TextIO = sys.stdout
        self.sinks = threading.local()

    def _stream(self) -> TextIO:
        # Outside a runtime, follow whatever sys.stdout is now (a test framework may have swapped it).
        return self.target if sys.stdout is self else sys.stdout

    def write(self, text: str) -> int:
        sink: list[str] | None = getattr(self.sinks, "current", None)
        if sink is None:
            return self._stream().write(text)
        sink.append(text)
        return len(text)

    def flush(self) -> None:
        self._stream().flush()


_STDOUT = _RoutingStdout()


def _route_powertools_handlers() -> None:
    """Point every Powertools log handler at the routing stream. Powertools binds a logger's handler to
    the sys.stdout of the first `Logger(...)` of that name in the process, which may have been a test
    framework's capture when a handler module was imported outside a runtime; on Lambda it is stdout."""
    from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter

    for logger in list(logging.Logger.manager.loggerDict.values()):
        for handler in getattr(logger, "handlers", ()):
            if (
                isinstance(handler, logging.StreamHandler)
                and isinstance(handler.formatter, BasePowertoolsFormatter)
                and handler.stream is not _STDOUT
            ):
                if getattr(handler.stream, "closed", False):
                    # A finished test's capture: setStream would flush it first, and a closed stream raises.
                    handler.stream = _STDOUT
                else:
                    handler.setStream(_STDOUT)


class FunctionRegistry:
    """The functions of one local stack, callable by name or ARN."""

    def __init__(self, region: str = "us-east-1") -> None:
        self._region = region
        self._specs: dict[str, FunctionSpec] = {}
        self._handlers: dict[str, Handler] = {}
        self._logs: dict[str, list[str]] = {}
        # Handlers share one process environment: one invocation at a time (reentrant for nesting).
        self._lock = threading.RLock()
        # Fault injection: logical id → how many of its next invocations time out (after running).
        self.forced_timeouts: dict[str, int] = {}

    def register(self, spec: FunctionSpec) -> None:
        self._specs[spec.name] = spec
        self._specs[spec.arn] = spec
        self._logs.setdefault(spec.name, [])

    def spec(self, name_or_arn: str) -> FunctionSpec:
        key = name_or_arn.split(":$LATEST")[0]
        if key not in self._specs and ":function:" in key:
            key = key.split(":function:")[1].split(":")[0]
        try:
            return self._specs[key]
        except KeyError as error:
            raise KeyError(f"no local function named {name_or_arn}") from error

    def logs(self, name: str) -> str:
        return "".join(self._logs.get(name, []))

    def all_logs(self) -> dict[str, str]:
        return {name: "".join(lines) for name, lines in self._logs.items()}

    @contextlib.contextmanager
    def capture_stdout(self) -> Iterator[None]:
        """Route handler output to per-function logs while the runtime is up."""
        original = sys.stdout
        if original is not _STDOUT:
            _STDOUT.target = original
        sys.stdout = _STDOUT
        _route_powertools_handlers()
        try:
            yield
        finally:
            sys.stdout = original

    def _load(self, spec: FunctionSpec) -> Handler:
        if spec.name in self._handlers:
            return self._handlers[spec.name]
        module_file, _, attribute = spec.handler.rpartition(".")
        path = spec.code_dir / f"{module_file.replace('.', '/')}.py"
        module_name = f"forgeflow_local_function_{spec.logical_id}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        if loader_spec is None or loader_spec.loader is None or not path.is_file():
            raise FileNotFoundError(f"{spec.logical_id}: handler module {path} does not exist")
        module: ModuleType = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        # The function folder is on the import path in Lambda: sibling modules import as top-level.
        sys.path.insert(0, str(spec.code_dir))
        try:
            loader_spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(spec.code_dir))
        handler: Handler = getattr(module, attribute)
        self._handlers[spec.name] = handler
        return handler

    def _forced_timeout(self, spec: FunctionSpec) -> bool:
        """Whether this invocation is one injected to time out. It ran to the end first: the worst case
        (its side effects happened, its result is lost), which is what a retry must survive."""
        left = self.forced_timeouts.get(spec.logical_id, 0)
        if left > 0:
            self.forced_timeouts[spec.logical_id] = left - 1
        return left > 0

    def invoke(self, name_or_arn: str, payload: bytes) -> Invocation:
        spec = self.spec(name_or_arn)
        context = LambdaContext(
            function_name=spec.name,
            invoked_function_arn=spec.arn,
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
            log_group_name=f"/aws/lambda/{spec.name}",
        )
        environment = {
            **_EMULATED_SERVICE_ENV,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_LOG_GROUP_NAME": context.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": context.log_stream_name,
            "_HANDLER": spec.handler,
            "AWS_REGION": self._region,
            "AWS_DEFAULT_REGION": self._region,
            **spec.environment,
        }
        with self._lock, _environment(environment):
            # The clock starts when the handler can run, not while it waited for another invocation.
            context._deadline = time.monotonic() + spec.timeout_seconds
            previous: list[str] | None = getattr(_STDOUT.sinks, "current", None)
            sink = _STDOUT.sinks.current = self._logs[spec.name]
            try:
                sink.append(f"START RequestId: {context.aws_request_id} (emulated)\n")
                event = orjson.loads(payload) if payload else {}
                try:
                    result = self._load(spec)(event, context)
                    body = orjson.dumps(result)
                    error: str | None = None
                except Exception as exception:  # every handler failure must reach the caller as Lambda's
                    sink.append(traceback.format_exc())
                    body = orjson.dumps(
                        {
                            "errorType": type(exception).__name__,
                            "errorMessage": str(exception),
                            "stackTrace": traceback.format_tb(exception.__traceback__),
                        }
                    )
                    error = "Unhandled"
                if context.get_remaining_time_in_millis() == 0 or self._forced_timeout(spec):
                    # Lambda would have killed the handler at its timeout; in-process it ran to the end,
                    # so report what the caller would have seen instead of the late result.
                    message = f"Task timed out after {spec.timeout_seconds:.2f} seconds (emulated)"
                    sink.append(f"{context.aws_request_id} {message}\n")
                    body = orjson.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message})
                    error = "Unhandled"
                sink.append(f"END RequestId: {context.aws_request_id}\n")
            finally:
                _STDOUT.sinks.current = previous
        return Invocation(payload=body, function_error=error, request_id=context.aws_request_id)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
