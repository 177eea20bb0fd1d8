"""`forgeflow request --stack NAME --file request.json`: send a "FineTune Requested" event and follow it.

The file is the event's detail (docs/pipeline.md, "FineTune Requested"); it is put on the stack's request
bus (output RequestBusName) with source "forgeflow", and the execution it starts is followed like
`forgeflow run` does. Exit codes: 0 succeeded, 1 failed / never started, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from forgeflow.errors import DataError, InputError
from forgeflow_tools.cli.follow import add_follow_arguments, add_stack_arguments, report

DETAIL_TYPE = "FineTune Requested"
SOURCE = "forgeflow"


def register(subparsers: Any) -> None:
    request = subparsers.add_parser(
        "request",
        help='send a "FineTune Requested" event to a deployed stack and follow the run',
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    request.add_argument("--file", type=Path, required=True, help="the event detail (JSON object)")
    add_stack_arguments(request)
    add_follow_arguments(request)
    request.set_defaults(func=request_command)


def _detail(path: Path) -> dict[str, Any]:
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise InputError(f"--file {path} {what}", code="NOT_FOUND", hint="name the request's JSON file")
    try:
        detail = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise InputError(f"--file {path}: not JSON: {error}", code="BAD_REQUEST_FILE") from None
    if not isinstance(detail, dict):
        raise InputError(
            f"--file {path}: expected a JSON object (the event's detail)", code="BAD_REQUEST_FILE"
        )
    return detail


def request_command(args: argparse.Namespace) -> int:
    from forgeflow_tools.deployed import find_execution, find_stack

    detail = _detail(args.file)
    stack = find_stack(args.stack, profile=args.profile, region=args.region)
    bus = stack.outputs["RequestBusName"]
    if args.output == "text":
        sys.stderr.write(f"forgeflow request: stack {stack.name} ({stack.where}), bus {bus}\n")
    since = time.time()
    entry = {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": orjson.dumps(detail).decode()}
    answer = stack.client("events").put_events(Entries=[{**entry, "EventBusName": bus}])
    if answer.get("FailedEntryCount"):
        raise DataError(f"the request bus refused the event: {answer['Entries']}", code="EVENT_REJECTED")
    event_id = answer["Entries"][0].get("EventId")

    def started_by_event(execution_input: Any) -> bool:
        return bool(execution_input.get("id") == event_id or execution_input.get("detail") == detail)

    arn = find_execution(stack, since, started_by_event, timeout=args.start_timeout, poll=min(args.poll, 2.0))
    if arn is None:
        raise DataError(
            f"the event {event_id} started no execution in {args.start_timeout:.0f}s",
            code="NO_EXECUTION",
            hint="the FineTuneRequestedRule matches source 'forgeflow' on the request bus; see its metrics",
        )
    return report(args, stack, arn)
