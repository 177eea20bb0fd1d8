"""`forgeflow runs list | show | logs | stop | retry`: what the pipeline did, for operators.

The same code reads two sources:
- a deployed stack on AWS (`--stack NAME` finds the state machine and the ledger table in the stack's
  outputs; or `--state-machine-arn` and `--table`; credentials from `--profile` / `--region` or the
  usual AWS environment);
- the local runtime (`--local`): every `forgeflow local run` saves its execution (description, full
  history, ledger row, events) in `<outputs-dir>/<run_id>/run.json`, which is read back here.

`list` filters on `--status` and `--since DURATION` (30m, 6h, 2d, 1w). `show` prints the stage
timeline (each stage's start, duration, outcome, jobs and their statuses, the run's cost), the ledger
row and the execution history (one row per state, poll loops collapsed). `logs`, `stop` and `retry`:
see forgeflow_tools.cli.runs_control. Exit codes: 0 done, 1 the stack's data is not what a ForgeFlow
stack holds, 2 usage error, unknown run, or a run in the wrong state (stop an ended run, retry one that
did not fail). Operator guide: docs/operations.md.
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
from forgeflow_tools.cli.runs_control import (
    STAGE_FUNCTIONS,
    emit,
    local_logs,
    retry_run,
    stack_logs,
    stop_run,
)
from forgeflow_tools.cli.timeline import render_timeline, run_cost, stage_timeline

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
    listing.add_argument("--status", type=str.upper, choices=STATUSES, help="only executions in this status")
    listing.add_argument("--since", type=since_duration, help="only runs started in the last DURATION (6h)")
    show = commands.add_parser("show", help="one run: stage timeline, ledger row and execution history")
    logs = commands.add_parser("logs", help="one run's function logs (correlation id = run id)")
    logs.add_argument("--stage", choices=sorted(STAGE_FUNCTIONS), help="only this stage's functions")
    stop = commands.add_parser("stop", help="stop a running run: its jobs stop, one Run Failed")
    stop.add_argument("--reason", help="why (recorded in Run Failed's message)")
    retry = commands.add_parser("retry", help="re-run a FAILED run as its next execution (<run_id>-r<N>)")
    for command in (show, logs, stop, retry):
        command.add_argument("run", help="run id, execution name or execution ARN")
    for command in (listing, show, logs, stop, retry):
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
    logs.set_defaults(func=logs_command)
    stop.set_defaults(func=stop_command)
    retry.set_defaults(func=retry_command)
    from forgeflow_tools.cli.approve import register_commands  # approve / reject (issue #15)

    register_commands(commands)
    add_report_command(commands, DEFAULT_LOCAL_RUNS)


STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SINCE_FORMS = "a whole number and a unit: 30m, 6h, 2d, 1w (minutes, hours, days, weeks)"


def since_duration(value: str) -> dt.timedelta:
    """`--since` DURATION: 30m, 6h, 2d, 1w; anything else is argparse's usage error (exit 2)."""
    number, unit = value[:-1], value[-1:].lower()
    if unit not in _UNITS or not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration: give {SINCE_FORMS}")
    return dt.timedelta(**{_UNITS[unit]: int(number)})


class RunSource(Protocol):
    """Where executions, their histories and ledger rows come from."""

    def executions(
        self, limit: int, status: str | None = None, since: dt.datetime | None = None
    ) -> list[dict[str, Any]]: ...

    def describe(self, execution_arn: str) -> dict[str, Any]: ...

    def stop(self, execution_arn: str, error: str, cause: str) -> None: ...

    def start(self, name: str, document: dict[str, Any]) -> str: ...

    def training_jobs(self, names: list[str]) -> list[dict[str, Any]]: ...

    def outcome(self, execution_arn: str) -> dict[str, Any] | None: ...

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

    def executions(
        self, limit: int, status: str | None = None, since: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        found = [
            record.execution
            for record in self._records
            if (status is None or record.execution["status"] == status)
            and (since is None or _time(record.execution["startDate"]) >= since)
        ]
        return sorted(found, key=lambda e: _time(e["startDate"]), reverse=True)[:limit]

    def stop(self, execution_arn: str, error: str, cause: str) -> None:
        # A saved local run is a finished execution (moto's state ended with `forgeflow local run`).
        raise InputError(
            f"{execution_arn} is a saved local run: it has ended", code="NOT_RUNNING", hint=_OFFLINE_HINT
        )

    def start(self, name: str, document: dict[str, Any]) -> str:
        raise InputError(
            "a saved local run cannot be re-run: its emulated AWS ended with `forgeflow local run`",
            code="NOT_RETRYABLE",
            hint=_OFFLINE_HINT,
        )

    def training_jobs(self, names: list[str]) -> list[dict[str, Any]]:
        return [
            {"name": job.name, "status": job.status, "start": _first_transition(job.transitions)}
            for record in self._records
            for job in record.training_jobs
            if job.name in names
        ]

    def outcome(self, execution_arn: str) -> dict[str, Any] | None:
        """The detail of the run's Run Succeeded / Run Failed event, as saved."""
        finals = [e for e in self._record(execution_arn).events if e.get("detail-type") in _OUTCOMES]
        return dict(finals[-1]["detail"]) if finals else None

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


_OUTCOMES = frozenset({"Run Succeeded", "Run Failed"})
_OFFLINE_HINT = (
    "offline, run it again with `forgeflow local run` (and --abort-after STATE to see a stop); "
    "docs/operations.md says what needs a stack"
)


def _first_transition(transitions: list[dict[str, Any]]) -> Any:
    return transitions[0].get("StartTime") if transitions else None


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
    since = dt.datetime.now(dt.UTC) - args.since if args.since else None
    for execution in source.executions(args.limit, status=args.status, since=since):
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
    events = source.history(str(execution["executionArn"]))
    states = summarize_history(events)
    jobs = source.training_jobs(list((row or {}).get("job_names", [])))
    timeline = stage_timeline(events, jobs)
    cost = run_cost(row, source.outcome(str(execution["executionArn"])))
    summary = {
        "execution_arn": execution["executionArn"],
        "status": execution["status"],
        "start": _time(execution["startDate"]).isoformat(timespec="seconds"),
        "duration_s": _duration(execution.get("startDate"), execution.get("stopDate")),
        "error": execution.get("error"),
        "ledger": row,
        "timeline": [span.public() for span in timeline],
        "cost": cost,
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
    out.write("\ntimeline\n" + render_timeline(timeline, cost) + "\n")
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


def logs_command(args: argparse.Namespace) -> int:
    source = _source(args)
    execution, row = _find(source, args.run)
    run_id = str((row or {}).get("run_id") or execution["name"])
    if args.local:
        lines = local_logs(args.runs_dir, run_id, args.stage)
    else:
        lines = stack_logs(args, source, execution, run_id)
    return emit(
        args, {"run_id": run_id, "stage": args.stage, "lines": lines}, "\n".join(lines) or "no log lines"
    )


def stop_command(args: argparse.Namespace) -> int:
    source = _source(args)
    execution, _ = _find(source, args.run)
    stopped = stop_run(source, execution, args.reason)
    return emit(
        args,
        stopped,
        f"stopped {execution['name']} ({stopped['cause']}); its jobs stop and Run Failed follows "
        "(stage stopped-by-operator)",
    )


def retry_command(args: argparse.Namespace) -> int:
    source = _source(args)
    execution, row = _find(source, args.run)
    started = retry_run(source, execution, row)
    return emit(args, started, f"started {started['execution_name']} ({started['execution_arn']})")
