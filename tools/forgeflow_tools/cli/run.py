"""`forgeflow run DATASET --stack NAME`: start a run on a deployed stack and follow it.

Uploads the dataset to the stack's incoming prefix (its `--config` first, as the `<name>.forgeflow.yaml`
sidecar), finds the execution the upload started and follows it with the live view of `forgeflow local
run`: states from the execution history, job statuses from DescribeTrainingJob, then the ledger row.
`--no-wait` prints the execution ARN and returns. Exit codes: 0 the execution succeeded, 1 it failed (or
was aborted, timed out, or never started), 2 usage or I/O error (no stack, no credentials, no region).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from forgeflow.errors import DataError, InputError
from forgeflow_tools.cli.follow import add_follow_arguments, add_stack_arguments, report


def register(subparsers: Any) -> None:
    run = subparsers.add_parser(
        "run",
        help="upload a dataset to a deployed stack and follow the run it starts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("dataset", type=Path, help="the Converse JSONL dataset (.jsonl)")
    run.add_argument("--config", type=Path, help="run options YAML (docs/run.yaml), uploaded as the sidecar")
    add_stack_arguments(run)
    add_follow_arguments(run)
    run.set_defaults(func=run_command)


def _readable(path: Path, flag: str, hint: str) -> bytes:
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise InputError(f"{flag}{path} {what}", code="NOT_FOUND", hint=hint)
    return path.read_bytes()


def run_command(args: argparse.Namespace) -> int:
    from forgeflow_tools.deployed import find_execution, find_stack

    if args.dataset.suffix != ".jsonl":
        raise InputError(f"{args.dataset} must end in .jsonl: only those start a run", code="USAGE")
    body = _readable(args.dataset, "", "name a .jsonl file")
    sidecar = _readable(args.config, "--config ", "name a run.yaml file") if args.config else None
    stack = find_stack(args.stack, profile=args.profile, region=args.region)
    key = f"{stack.outputs['IncomingPrefix']}{args.dataset.name}"
    s3 = stack.client("s3")
    if args.output == "text":
        sys.stderr.write(f"forgeflow run: stack {stack.name} ({stack.where})\n")
    if sidecar is not None:
        s3.put_object(Bucket=stack.bucket, Key=f"{key.removesuffix('.jsonl')}.forgeflow.yaml", Body=sidecar)
    since = time.time()
    version = s3.put_object(Bucket=stack.bucket, Key=key, Body=body).get("VersionId")
    if args.output == "text":
        sys.stderr.write(f"  uploaded s3://{stack.bucket}/{key}\n")

    def started_by_upload(execution_input: Any) -> bool:
        s3_object = (execution_input.get("detail") or {}).get("object") or {}
        return bool(
            s3_object.get("key") == key and (version is None or s3_object.get("version-id") == version)
        )

    arn = find_execution(
        stack, since, started_by_upload, timeout=args.start_timeout, poll=min(args.poll, 2.0)
    )
    if arn is None:
        raise DataError(
            f"uploading s3://{stack.bucket}/{key} started no execution in {args.start_timeout:.0f}s",
            code="NO_EXECUTION",
            hint="check the DatasetUploadedRule and the bucket's EventBridge notifications in the stack",
        )
    return report(args, stack, arn)
