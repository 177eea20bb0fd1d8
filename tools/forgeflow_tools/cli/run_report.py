"""`forgeflow runs report RUN (--local | --stack NAME) [--out DIR]`, and the evaluation lines of `runs show`.

The pipeline writes `runs/<run_id>/report/report.json` and `report.html` when it collects a run's
evaluation (forgeflow.pipeline.steps.report). This command copies both into DIR (default
`./forgeflow-report-<run_id>/`) from the data bucket of a deployed stack, or from the folder
`forgeflow local run` saved (`<runs-dir>/<run_id>/s3/runs/<run_id>/report/`), and opens report.html in a
browser when one is available and stdout is a terminal (never under `--output json`, `--no-open` or CI).

Exit codes: 0 written, 2 usage error, unknown run, or a run without a report (it did not reach evaluation).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import orjson

from forgeflow.errors import InputError
from forgeflow.evaluation.report import REPORT_HTML, REPORT_JSON

REPORT_KEY = "runs/{run_id}/report/"
NO_REPORT_HINT = (
    "the report is written when the run's evaluation is collected: a run that failed or stopped before "
    "the evaluation stage has none (`forgeflow runs show RUN` says where it ended)"
)


def add_report_command(commands: Any, default_runs_dir: Path) -> None:
    """`runs report`, added by `forgeflow_tools.cli.runs.register` to its sub-commands."""
    report = commands.add_parser("report", help="download (and open) one run's report.json and report.html")
    report.add_argument("run", help="run id, execution name or execution ARN")
    source = report.add_argument_group("where the run is")
    source.add_argument("--local", action="store_true", help="a run saved by `forgeflow local run`")
    source.add_argument(
        "--runs-dir", type=Path, default=default_runs_dir, help=f"with --local ({default_runs_dir})"
    )
    source.add_argument("--stack", help="CloudFormation stack name (its outputs name the bucket)")
    source.add_argument("--profile", help="AWS profile")
    source.add_argument("--region", help="AWS region")
    report.add_argument("--out", type=Path, help="folder to write to (./forgeflow-report-<run_id>/)")
    report.add_argument("--no-open", action="store_true", help="do not open report.html in a browser")
    report.add_argument("--output", choices=("text", "json"), default="text")
    # `runs`' run lookup reads these too; a report needs the stack's bucket, so it takes no ARN or table.
    report.set_defaults(func=report_command, state_machine_arn=None, table=None)


def _resolve_run_id(args: argparse.Namespace) -> str:
    """The run id of a run id, execution name or ARN (via the ledger, as `runs show` finds runs)."""
    from forgeflow_tools.cli.runs import _find, _source  # deferred: runs imports this module

    _, row = _find(_source(args), args.run)
    if not row or not row.get("run_id"):
        raise InputError(f"run {args.run!r} has no ledger row, so no run id", code="NOT_FOUND")
    return str(row["run_id"])


REPORT_FILES = (REPORT_JSON, REPORT_HTML)


def _local_files(runs_dir: Path, run_id: str, names: tuple[str, ...]) -> dict[str, bytes]:
    folder = runs_dir / run_id / "s3" / REPORT_KEY.format(run_id=run_id)
    files = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            raise InputError(
                f"run {run_id} has no {name} (looked in {folder})", code="NO_REPORT", hint=NO_REPORT_HINT
            )
        files[name] = path.read_bytes()
    return files


def _deployed_files(args: argparse.Namespace, run_id: str, names: tuple[str, ...]) -> dict[str, bytes]:
    from botocore.exceptions import ClientError  # deferred: boto3 loads only for a deployed stack

    from forgeflow_tools.deployed import find_stack

    stack = find_stack(args.stack, profile=args.profile, region=args.region)
    s3 = stack.client("s3")
    files = {}
    for name in names:
        uri = f"s3://{stack.bucket}/{REPORT_KEY.format(run_id=run_id)}{name}"
        try:
            files[name] = s3.get_object(Bucket=stack.bucket, Key=uri.split("/", 3)[3])["Body"].read()
        except s3.exceptions.NoSuchKey:
            raise InputError(f"run {run_id} has no {uri}", code="NO_REPORT", hint=NO_REPORT_HINT) from None
        except ClientError as error:  # AccessDenied and the like: say which object could not be read
            raise InputError(f"cannot read {uri}: {error}", code="AWS_ERROR") from error
    return files


def report_files(
    args: argparse.Namespace, run_id: str, names: tuple[str, ...] = REPORT_FILES
) -> dict[str, bytes]:
    """The run's report files (report.json and report.html by default), as the pipeline wrote them."""
    if args.local:
        return _local_files(args.runs_dir, run_id, names)
    return _deployed_files(args, run_id, names)


def _check_source(args: argparse.Namespace) -> None:
    if args.local == bool(args.stack):
        raise InputError("give either --local or --stack NAME", code="USAGE")
    if args.local and args.profile:
        raise InputError("--local reads saved local runs: drop --profile", code="USAGE")


def _open_in_browser(path: Path) -> bool:
    """Open the page when a person is looking (stdout a terminal, not CI) and a browser is there."""
    if not sys.stdout.isatty() or os.environ.get("CI"):
        return False
    import webbrowser  # deferred: only when a page is opened

    try:
        return webbrowser.get() is not None and webbrowser.open(path.resolve().as_uri())
    except webbrowser.Error:  # no browser on this machine
        return False


def report_command(args: argparse.Namespace) -> int:
    _check_source(args)
    run_id = _resolve_run_id(args)
    files = report_files(args, run_id)
    try:
        report = orjson.loads(files[REPORT_JSON])
    except orjson.JSONDecodeError as error:
        raise InputError(f"run {run_id}'s {REPORT_JSON} is not JSON: {error}", code="BAD_REPORT") from error
    out = args.out or Path(f"forgeflow-report-{run_id}")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file", code="NOT_A_FOLDER", hint="give a folder")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    document = {
        "run_id": run_id,
        "out_dir": str(out),
        "files": {name: str(out / name) for name in files},
        "verdict": (report.get("verdict") or {}).get("verdict"),
        "emulated": report.get("emulated") is True,
    }
    if args.output == "json":
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    sys.stdout.write(f"wrote {out / REPORT_JSON} and {out / REPORT_HTML}\n")
    sys.stdout.write("".join(line + "\n" for line in evaluation_lines(key_results(report))))
    if not args.no_open and _open_in_browser(out / REPORT_HTML):
        sys.stdout.write(f"opened {out / REPORT_HTML}\n")
    return 0


def _number(value: Any, signed: bool = False) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "not measured"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def key_results(report: dict[str, Any]) -> dict[str, Any]:
    """What `runs show` tells of a report: verdict, failed gates, each suite's headline and delta."""
    found = report.get("verdict")
    verdict: dict[str, Any] = found if isinstance(found, dict) else {}
    return {
        "verdict": verdict.get("verdict"),
        "failed_gates": list(verdict.get("failed") or []),
        "emulated": report.get("emulated") is True,
        "suites": {
            str(suite.get("suite")): {key: suite.get(key) for key in ("metric", "base", "trained", "delta")}
            for suite in report.get("suites") or []
            if isinstance(suite, dict)
        },
    }


def evaluation_lines(results: dict[str, Any] | None) -> list[str]:
    """`key_results` as `runs show` prints them: the verdict, then base -> trained (delta) per suite."""
    if results is None:
        return ["evaluation  (no report: the run did not reach evaluation, or it is not readable here)"]
    emulated = " (emulated: local stand-in scores)" if results["emulated"] else ""
    lines = [f"verdict     {results['verdict'] or 'unknown'}{emulated}"]
    lines += [f"  failed    {failed}" for failed in results["failed_gates"]]
    for name, suite in results["suites"].items():
        lines.append(
            f"  {name:<16} {suite['metric'] or '?'}: {_number(suite['base'])} -> "
            f"{_number(suite['trained'])} ({_number(suite['delta'], signed=True)})"
        )
    return lines


def show_evaluation(args: argparse.Namespace, run_id: str | None) -> dict[str, Any] | None:
    """The key results of the run's report for `runs show` (None: no report, or no bucket to read it in)."""
    # A caller's namespace may lack the source flags (a test's, a future command's): no source, no report.
    if run_id is None or not (getattr(args, "local", False) or getattr(args, "stack", None)):
        return None
    try:
        document = orjson.loads(report_files(args, run_id, (REPORT_JSON,))[REPORT_JSON])
    except (InputError, orjson.JSONDecodeError):
        return None
    return key_results(document) if isinstance(document, dict) else None
