"""`forgeflow validate PATH`: check a Converse JSONL dataset against every rule, report, exit 0/1/2."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson

from forgeflow.nova import Method, NovaModel
from forgeflow.wording import plural
from forgeflow_tools.cli.output import add_output_argument, emit_json


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate a Converse JSONL dataset (local path or s3:// URI)",
        description="Validate a Converse JSONL dataset for Nova fine-tuning. Exit 0: valid; 1: invalid data; "
        "2: usage or I/O error. A summary goes to stderr; the JSON report to --report.",
    )
    parser.add_argument(
        "path", metavar="PATH", help="local .jsonl (or .jsonl.gz) file, s3://bucket/key, or - for stdin"
    )
    add_target_arguments(parser)
    parser.add_argument(
        "--method", choices=[m.value for m in Method], help="default: the first record decides"
    )
    parser.add_argument(
        "--strict", action="store_true", help="treat warnings (unknown keys, blank lines) as errors"
    )
    parser.add_argument(
        "--check-media", action="store_true", help="HEAD each referenced S3 media object (exists, size limit)"
    )
    parser.add_argument(
        "--report", metavar="OUT.json", help="write the JSON report here (path, s3:// URI or - for stdout)"
    )
    parser.add_argument(
        "--max-errors",
        type=int,
        default=100,
        metavar="N",
        help="error details kept in the report (default 100)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes for a large local file (default: one per CPU above 32 MiB; 1: one process); "
        "the report is the same",
    )
    add_output_argument(parser, what="the JSON report")
    parser.set_defaults(func=run)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=[m.value for m in NovaModel], default=NovaModel.LITE.value)
    parser.add_argument("--platform", choices=["sagemaker", "bedrock"], default="sagemaker")


def summary(report: dict[str, Any], *, shown: int = 10, subject: str | None = None) -> str:
    """The human summary: verdict, counts, the most frequent codes and the first findings.

    `subject` names what was checked when it is not a file that exists (convert's unwritten output).
    """
    stats = report["stats"]
    verdict = "VALID" if report["valid"] else "INVALID"
    lines = [
        f"{verdict}: {subject or report['source']} — {plural(report['records'], 'record')}, "
        f"{report['valid_records']:,} valid, {plural(report['error_count'], 'error')}, "
        f"{plural(report['warning_count'], 'warning')}",
        f"  method {stats['method'] or '?'}, {stats['modality']}, {plural(stats['turns']['total'], 'turn')}, "
        f"~{plural(stats['est_tokens']['total'], 'token')} (max {stats['est_tokens']['max']:,}), "
        f"{plural(stats['duplicates'], 'duplicate')}",
    ]
    for kind in ("errors", "warnings"):
        codes = report["error_codes" if kind == "errors" else "warning_codes"]
        if codes:
            ranked = sorted(codes.items(), key=lambda item: (-item[1], item[0]))
            lines.append(f"  {kind} by code: " + ", ".join(f"{code} ×{count}" for code, count in ranked))
        for issue in report[kind][:shown]:
            where = f"line {issue['line']}" + (f" {issue['path']}" if issue["path"] else "")
            lines.append(f"  {where}: [{issue['code']}] {issue['message']}")
    return "\n".join(lines)


def write_report(storage: Any, target: str, report: dict[str, Any]) -> None:
    data = orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n"
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        storage.write_bytes(target, data)


def run(args: argparse.Namespace) -> int:
    from forgeflow.dataset.validation import ValidationOptions, validate_uri
    from forgeflow.errors import InputError
    from forgeflow_tools.cli.inputs import cli_storage, input_size
    from forgeflow_tools.cli.progress import progress_line

    if args.max_errors < 0:
        raise InputError("--max-errors must be 0 or more", code="USAGE")
    if args.workers is not None and args.workers < 1:
        raise InputError(
            f"--workers must be 1 or more, not {args.workers}",
            code="USAGE",
            hint="omit it for one process per CPU, or pass --workers 1 for one process",
        )
    options = ValidationOptions(
        method=Method(args.method) if args.method else None,
        model=NovaModel(args.model),
        platform=args.platform,
        strict=args.strict,
        max_error_details=args.max_errors,
        check_media=args.check_media,
    )
    storage = cli_storage()
    bar = storage.progress = progress_line(sys.stderr, "validating", None)
    if bar is not None:
        bar.total = input_size(storage, args.path)

    def progress(consumed: int) -> None:
        # Worker processes read the file themselves, not through `storage`: they report bytes consumed.
        # One process reports too; the bar keeps the larger count (its own reads run a chunk ahead).
        assert bar is not None
        bar.update(max(consumed, bar.done))

    try:
        report = validate_uri(
            storage, args.path, options, workers=args.workers, progress=None if bar is None else progress
        ).to_dict()
    finally:
        if bar is not None:
            bar.finish()
    if args.report:
        write_report(storage, args.report, report)
    if args.output == "json":
        emit_json(report)
    print(summary(report), file=sys.stderr)
    return 0 if report["valid"] else 1
