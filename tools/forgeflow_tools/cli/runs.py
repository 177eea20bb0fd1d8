"""`forgeflow runs list` / `forgeflow runs show RUN`: what the pipeline did, for operators.

The same code reads two sources:
- a deployed stack on AWS (`--stack NAME` finds the state machine and the ledger table in the stack's
  outputs; or `--state-machine-arn` and `--table`; credentials from `--profile` / `--region` or the
  usual AWS environment);
- the local runtime (`--local`): every `forgeflow local run` saves its execution (description, full
  history, ledger row, events) in `<outputs-dir>/<run_id>/run.json`, which is read back here.

`show` prints the ledger row and the execution history as a table: one row per state (poll loops
collapsed into one row with the number of visits), with its first start, total duration, outcome and
error. Exit codes: 0 found, 2 usage error or unknown run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from forgeflow.errors import InputError
from forgeflow_tools.cli.run_report import add_report_command, evaluation_lines, show_evaluation

if TYPE_CHECKING:
    from forgeflow_tools.local.records import RunRecord

DEFAULT_LOCAL_RUNS = Path(".forgeflow") / "runs"


def register(subparsers: Any) -> None:
    runs = subparsers.add_parser(
        "runs",
        help="list pipeline runs and show one run's execution history",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = runs.add_subparsers(dest="runs_command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="recent runs, newest first")
    listing.add_argument("--limit", type=int, default=20, help="at most this many runs (20)")
    show = commands.add_parser("show", help="one run: ledger row and execution history")
    show.add_argument("run", help="run id, execution name or execution ARN")
    for command in (listing, show):
        source = command.add_argument_group("where the runs are")
        source.add_argument("--local", action="store_true", help="runs saved by `forgeflow local run`")
        source.add_argument(
            "--runs-dir", type=Path, default=DEFAULT_LOCAL_RUNS, help=f"with --local ({DEFAULT_LOCAL_RUNS})"
        )
        source.add_argument("--stack", help="CloudFormation stack name (reads its outputs)")
        source.add_argument("--state-machine-arn", help="the pipeline state machine (instead of --stack)")
        source.add_argument("--table", help="the run ledger table (instead of --stack)")
        source.add_argument("--profile", help="AWS profile")
        source.add_argument("--region", help="AWS region")
        command.add_argument("--output", choices=("text", "json"), default="text")
    listing.set_defaults(func=list_command)
    show.set_defaults(func=show_command)
    from forgeflow_tools.cli.approve import register_commands  # approve / reject (issue #15)

    register_commands(commands)
    add_report_command(commands, DEFAULT_LOCAL_RUNS)


class RunSource(Protocol):
    """Where executions, their histories and ledger rows come from."""

    def executions(self, limit: int) -> list[dict[str, Any]]: ...

    def describe(self, execution_arn: str) -> dict[str, Any]: ...

    def history(self, execution_arn: str) -> list[dict[str, Any]]: ...

    def ledger_for(self, execution_arn: str) -> dict[str, Any] | None: ...

    def ledger_row(self, run_id: str) -> dict[str, Any] | None: ...


class LocalRuns:
    """Runs saved by `forgeflow local run` (one `run.json` `RunRecord` per run)."""

    def __init__(self, folder: Path) -> None:
        from forgeflow_tools.local.records import RUN_RECORD_FILE, RunRecord  # deferred: only for --local

        if folder.exists() and not folder.is_dir():
            raise InputError(
                f"--runs-dir {folder} is a file", code="NOT_A_FOLDER", hint="give the runs folder"
            )
        self._records: list[RunRecord] = []
        for path in sorted(folder.glob(f"*/{RUN_RECORD_FILE}")):
            try:
                self._records.append(RunRecord.from_json(path.read_bytes()))
            except ValueError as error:  # not JSON (orjson) or not a run record (pydantic)
                raise InputError(f"{path} is not a saved run: {error}", code="BAD_RUN_RECORD") from error

    def _record(self, execution_arn: str) -> RunRecord:
        for record in self._records:
            if execution_arn in (record.execution_arn, record.execution_name):
                return record
        raise InputError(f"no saved local run has execution {execution_arn}", code="NOT_FOUND")

    def executions(self, limit: int) -> list[dict[str, Any]]:
        found = [record.execution for record in self._records]
        return sorted(found, key=lambda e: _time(e["startDate"]), reverse=True)[:limit]

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return self._record(execution_arn).execution

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return list(self._record(execution_arn).history)

    def ledger_for(self, execution_arn: str) -> dict[str, Any] | None:
        return self._record(execution_arn).ledger

    def ledger_row(self, run_id: str) -> dict[str, Any] | None:
        for record in self._records:
            if record.run_id == run_id:
                return record.ledger
        return None


def _source(args: argparse.Namespace) -> RunSource:
    if args.local:
        if args.stack or args.state_machine_arn or args.table or args.profile:
            raise InputError("--local reads saved local runs: drop the AWS options", code="USAGE")
        return LocalRuns(args.runs_dir)
    # deferred: boto3 loads only for a deployed stack
    from forgeflow.aws.runs import STACK_OUTPUT_STATE_MACHINE, STACK_OUTPUT_TABLE, connect

    state_machine_arn, table = args.state_machine_arn, args.table
    if args.stack:
        # The lookup `forgeflow run --stack` uses: a missing stack is exit 2 naming the stack and region.
        from forgeflow_tools.deployed import find_stack

        outputs = find_stack(args.stack, profile=args.profile, region=args.region).outputs
        state_machine_arn = state_machine_arn or outputs[STACK_OUTPUT_STATE_MACHINE]
        table = table or outputs[STACK_OUTPUT_TABLE]
    return connect(profile=args.profile, region=args.region, state_machine_arn=state_machine_arn, table=table)


def _time(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _duration(start: Any, stop: Any) -> float | None:
    if start is None or stop is None:
        return None
    return (_time(stop) - _time(start)).total_seconds()


@dataclass
class StateRow:
    """One state of an execution; a state entered several times (a poll loop) is one row."""

    state: str
    start: str
    duration_s: float
    visits: int
    outcome: str
    error: str = ""


_FAILURE_DETAILS = (
    "taskFailedEventDetails",
    "lambdaFunctionFailedEventDetails",
    "executionFailedEventDetails",
    "executionAbortedEventDetails",
    "executionTimedOutEventDetails",
)


def summarize_history(events: Sequence[dict[str, Any]]) -> list[StateRow]:
    """The execution history as one row per state, in the order states were first entered."""
    rows: dict[str, StateRow] = {}
    open_since: dict[str, dt.datetime] = {}
    current: str | None = None
    for event in events:
        kind = str(event["type"])
        stamp = _time(event["timestamp"])
        if kind.endswith("StateEntered"):
            current = str(event["stateEnteredEventDetails"]["name"])
            row = rows.get(current)
            if row is None:
                rows[current] = StateRow(current, stamp.isoformat(timespec="seconds"), 0.0, 1, "running")
            else:
                row.visits += 1
                row.outcome = "running"
            open_since[current] = stamp
        elif kind.endswith("StateExited"):
            name = str(event["stateExitedEventDetails"]["name"])
            row = rows[name]
            row.duration_s += (stamp - open_since.pop(name, stamp)).total_seconds()
            if row.outcome == "running":
                row.outcome = "ok"
        elif kind == "TaskScheduled" and current in rows and rows[current].outcome == "failed":
            rows[current].outcome = "retried"  # the failure was retried; its error stays on the row
        else:
            details = next((event[key] for key in _FAILURE_DETAILS if key in event), None)
            if details is not None and current is not None and current in rows:
                rows[current].outcome = "failed"
                rows[current].error = str(details.get("error", ""))
            if kind in {"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}:
                for name, since in open_since.items():
                    rows[name].duration_s += (stamp - since).total_seconds()
                    rows[name].outcome = kind.removeprefix("Execution").lower()
                open_since.clear()
    for row in rows.values():
        row.duration_s = round(row.duration_s, 3)
    return list(rows.values())


def _cell(value: Any) -> str:
    """A value as a person reads it: nothing for None, lists comma-separated, mappings as key=value."""
    if value is None:
        return ""
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_cell(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_cell(item)}" for key, item in value.items())
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells)


def _emit(document: Any) -> None:
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def list_command(args: argparse.Namespace) -> int:
    source = _source(args)
    listed = []
    if args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}", code="USAGE")
    for execution in source.executions(args.limit):
        row = source.ledger_for(str(execution["executionArn"])) or {}
        listed.append(
            {
                "run_id": row.get("run_id", ""),
                "status": execution["status"],
                "start": _time(execution["startDate"]).isoformat(timespec="seconds"),
                "duration_s": _duration(execution.get("startDate"), execution.get("stopDate")),
                "stage": row.get("stage", ""),
                "error": row.get("error_code", ""),
                "execution": execution["name"],
            }
        )
    if args.output == "json":
        _emit(listed)
        return 0
    if not listed:
        sys.stdout.write("no runs\n")
        return 0
    headers = ("RUN", "STATUS", "START", "DURATION", "STAGE", "ERROR", "EXECUTION")
    body = [
        (
            r["run_id"],
            r["status"],
            r["start"],
            _seconds(r["duration_s"]),
            r["stage"],
            r["error"],
            r["execution"],
        )
        for r in listed
    ]
    sys.stdout.write(_table(headers, body) + "\n")
    return 0


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def _find(source: RunSource, run: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The execution and ledger row of a run id, an execution name or an execution ARN."""
    row = source.ledger_row(run)
    if row is not None and row.get("execution_arn"):
        return source.describe(str(row["execution_arn"])), row
    try:
        execution = source.describe(run)
    except InputError:
        raise
    except Exception as error:  # the AWS SDK's ExecutionDoesNotExist / InvalidArn, without importing it
        raise InputError(f"no run or execution {run!r}: {error}", code="NOT_FOUND") from error
    return execution, source.ledger_for(str(execution["executionArn"]))


def show_command(args: argparse.Namespace) -> int:
    source = _source(args)
    execution, row = _find(source, args.run)
    states = summarize_history(source.history(str(execution["executionArn"])))
    summary = {
        "execution_arn": execution["executionArn"],
        "status": execution["status"],
        "start": _time(execution["startDate"]).isoformat(timespec="seconds"),
        "duration_s": _duration(execution.get("startDate"), execution.get("stopDate")),
        "error": execution.get("error"),
        "ledger": row,
        "states": [asdict(state) for state in states],
        "evaluation": show_evaluation(args, row.get("run_id") if row else None),
    }
    if args.output == "json":
        _emit(summary)
        return 0
    out = sys.stdout
    out.write(f"execution  {execution['executionArn']}\n")
    out.write(f"status     {execution['status']}  (started {summary['start']}")
    out.write(f", took {_seconds(summary['duration_s'])})\n" if summary["duration_s"] is not None else ")\n")
    if execution.get("error"):
        out.write(f"error      {_cell(execution['error'])}\n")
    out.write("\nledger\n")
    for key, value in sorted((row or {}).items()):
        out.write(f"  {key:<20} {_cell(value)}\n")
    if not row:
        out.write("  (no ledger row for this execution)\n")
    out.write("\nhistory\n")
    body = [(s.state, s.start, _seconds(s.duration_s), s.visits, s.outcome, s.error) for s in states]
    out.write(_table(("STATE", "START", "DURATION", "VISITS", "OUTCOME", "ERROR"), body) + "\n")
    out.write("\n" + "".join(line + "\n" for line in evaluation_lines(summary["evaluation"])))
    return 0
