"""What `forgeflow run` and `forgeflow request` share: the stack options, and following the execution they
started with the live view of `forgeflow local run` and its exit codes (0 SUCCEEDED, 3 SUCCEEDED but
regressed: the ledger's verdict, 1 otherwise)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import orjson

from forgeflow_tools.deployed import DeployedStack, follow, history, ledger_row, run_jobs


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack", required=True, help="the deployed CloudFormation stack (reads its outputs)"
    )
    parser.add_argument("--profile", help="AWS profile (default: the usual AWS environment)")
    parser.add_argument("--region", help="AWS region (default: AWS_DEFAULT_REGION / the profile's)")


def add_follow_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-wait", action="store_true", help="print the execution ARN and return")
    parser.add_argument("--output", choices=("text", "json"), default="text", help="text (default) or json")
    parser.add_argument(
        "--timeout", type=float, default=3 * 86400.0, help="stop following after this many seconds (3 days)"
    )
    parser.add_argument(
        "--poll", type=float, default=10.0, help="seconds between looks at the execution (10)"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=120.0, help="wait this long for the execution to start (120)"
    )


def report(args: argparse.Namespace, stack: DeployedStack, arn: str) -> int:
    """Follow the execution (unless --no-wait), print its end and the ledger row; the exit code."""
    if args.no_wait:
        if args.output == "json":
            sys.stdout.write(orjson.dumps({"execution_arn": arn, "status": "RUNNING"}).decode() + "\n")
        else:
            sys.stdout.write(arn + "\n")
        return 0
    from forgeflow_tools.local.progress import ProgressView

    started = time.monotonic()
    since = stack.client("stepfunctions").describe_execution(executionArn=arn)["startDate"]
    view = None
    if args.output == "text":
        sys.stderr.write(f"  execution {arn.rsplit(':', 1)[-1]}\n")
        view = ProgressView(sys.stderr, jobs=lambda: run_jobs(stack, since, history(stack, arn)), job_note="")
    described = follow(
        stack, arn, timeout=args.timeout, poll=args.poll, on_progress=view.update if view else None
    )
    row = ledger_row(stack, arn)
    status = str(described["status"])
    if args.output == "json":
        document = {"execution_arn": arn, "status": status, "ledger": row, "output": _output(described)}
        sys.stdout.write(orjson.dumps(document, default=str).decode() + "\n")
    else:
        _print_text(described, row, time.monotonic() - started)
    if status == "SUCCEEDED" and row and row.get("verdict") == "regressed":
        return 3  # the gate failed: Run Regressed (forgeflow_tools.cli.local.EXIT_REGRESSED)
    return 0 if status == "SUCCEEDED" else 1


def _output(described: dict[str, Any]) -> Any:
    return orjson.loads(described["output"]) if described.get("output") else None


def _print_text(described: dict[str, Any], row: dict[str, Any] | None, took: float) -> None:
    out = sys.stdout
    out.write(f"\nexecution {described['status']} after {took:.1f}s of following")
    if described.get("error"):
        out.write(f" — {described['error']}: {described.get('cause', '')}")
    out.write("\n\nledger row (stage, outcome, metrics and report URIs the results event carries):\n")
    out.write(orjson.dumps(row, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
    out.write(
        "\nmore: forgeflow runs show RUN --stack NAME; the run's files are under s3://<bucket>/runs/RUN/\n"
    )
