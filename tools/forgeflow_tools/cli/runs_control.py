"""`forgeflow runs stop | retry | logs`: act on one run of a deployed stack (or read a saved local run).

- `stop RUN`: StopExecution with error `StoppedByOperator` (forgeflow.pipeline.events.OPERATOR_STOP_ERROR)
  and the operator's cause. Step Functions stops the running `.sync` job; the sweeper (StopOrphanedJobs)
  stops any other job of the run and publishes the run's one `Run Failed` with stage
  `stopped-by-operator`.
- `retry RUN`: a FAILED run starts again as its next execution, `<run_id>-r<N>` — the launcher's re-run
  rule (forgeflow.pipeline.steps.launch.execution_name) with the failed execution's input (the trigger and
  the run it names), so RegisterRun re-claims the FAILED row and the jobs continue the attempt numbers.
- `logs RUN [--stage S]`: the functions' log lines whose Powertools `correlation_id` is the run id
  (CloudWatch Logs Insights over the stack's function log groups); `--local`: the saved run's `logs/`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from forgeflow.errors import DataError, InputError
from forgeflow.pipeline.events import OPERATOR_STOP_ERROR

if TYPE_CHECKING:
    from forgeflow_tools.cli.runs import RunSource

# Which functions log for which stage (template.yaml logical ids); a test ties them to the template.
STAGE_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "register": ("LaunchRunFunction", "RegisterRunFunction"),
    "validate": ("ValidateDatasetFunction",),
    "mix": ("MixDataFunction",),
    "recipe": ("RenderRecipeFunction",),
    "smoke": ("BuildTrainingJobFunction", "NextJobAttemptFunction"),
    "approval": ("RequestApprovalFunction",),
    "train": ("BuildTrainingJobFunction", "NextJobAttemptFunction"),
    "evaluate": ("BuildEvaluationJobsFunction", "CollectEvaluationFunction"),
    "publish": ("PublishResultFunction", "TrackRunFunction"),  # TrackRun: only with MlflowTrackingArn
    "failure": ("StopJobsFunction", "StopOrphanedJobsFunction", "PublishResultFunction"),
}
# How far back Logs Insights looks before the execution started (the launcher logs first).
_LOGS_MARGIN = dt.timedelta(minutes=5)


def functions_for(stage: str | None) -> list[str]:
    """The logical ids of the functions whose logs `--stage` selects (all of them without one)."""
    if stage is None:
        return sorted({name for names in STAGE_FUNCTIONS.values() for name in names})
    return list(STAGE_FUNCTIONS[stage])


def _ended(execution: dict[str, Any]) -> bool:
    return str(execution["status"]) != "RUNNING"


def stop_run(source: RunSource, execution: dict[str, Any], reason: str | None) -> dict[str, Any]:
    """Stop a RUNNING execution; the cause names who stopped it and why."""
    if _ended(execution):
        raise InputError(
            f"execution {execution['name']} already ended {execution['status']}: nothing to stop",
            code="NOT_RUNNING",
            hint="`forgeflow runs list --status RUNNING` lists the runs that can be stopped",
        )
    cause = f"stopped by {getpass.getuser()}" + (f": {reason}" if reason else "")
    source.stop(str(execution["executionArn"]), OPERATOR_STOP_ERROR, cause)
    return {"execution_arn": execution["executionArn"], "stopped": True, "cause": cause}


def retry_run(source: RunSource, execution: dict[str, Any], row: dict[str, Any] | None) -> dict[str, Any]:
    """Start the next execution of a FAILED run under the launcher's re-run name."""
    from forgeflow.pipeline.steps.launch import execution_name
    from forgeflow.ports import LedgerRow

    if row is None or row.get("status") != "FAILED":
        status = row.get("status") if row else "not in the ledger"
        raise InputError(
            f"run of execution {execution['name']} is {status}: only a FAILED run can be retried",
            code="NOT_RETRYABLE",
            hint="a RUNNING run can be stopped first (`forgeflow runs stop`); a SUCCEEDED one is re-trained "
            "by a new upload or request_id",
        )
    started = orjson.loads(source.describe(str(row["execution_arn"]))["input"])
    name = execution_name(str(row["run_id"]), LedgerRow.model_validate(row))
    # A new delivery id: StartExecution refuses a taken name unless name *and* input are the same.
    document = {**started, "delivery_id": f"retry-{uuid.uuid4()}"}
    arn = source.start(name, document)
    return {"run_id": row["run_id"], "execution_name": name, "execution_arn": arn}


def local_logs(folder: Path, run_id: str, stage: str | None) -> list[str]:
    """The saved run's log lines (`<runs-dir>/<run_id>/logs/<function>.log`) of the stage's functions."""
    logs = folder / run_id / "logs"
    if not logs.is_dir():
        raise InputError(f"no logs saved for run {run_id} under {folder}", code="NOT_FOUND")
    wanted = functions_for(stage)
    lines: list[str] = []
    for path in sorted(logs.glob("*.log")):
        if any(logical in path.stem for logical in wanted):
            function = next(logical for logical in wanted if logical in path.stem)
            lines.extend(f"{function} {line}" for line in path.read_text("utf-8").splitlines())
    return lines


def stack_logs(args: argparse.Namespace, source: Any, execution: dict[str, Any], run_id: str) -> list[str]:
    """Logs Insights over the stack's function log groups, from just before the execution to its end."""
    if not args.stack:
        raise InputError("`runs logs` needs --stack (the function log groups come from it)", code="USAGE")
    from forgeflow_tools.deployed import find_stack, function_names

    stack = find_stack(args.stack, profile=args.profile, region=args.region)
    names = function_names(stack)
    groups = [f"/aws/lambda/{names[logical]}" for logical in functions_for(args.stage) if logical in names]
    if not groups:
        raise DataError(f"stack {args.stack} has none of the functions {functions_for(args.stage)}")
    start = _as_time(execution["startDate"]) - _LOGS_MARGIN
    stop = execution.get("stopDate")
    end = _as_time(stop) + _LOGS_MARGIN if stop else dt.datetime.now(dt.UTC)
    lines: list[str] = source.logs(run_id, groups, start, end)
    return lines


def _as_time(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def emit(args: argparse.Namespace, document: dict[str, Any], text: str) -> int:
    if args.output == "json":
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0
