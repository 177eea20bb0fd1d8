"""`forgeflow convert IN OUT`: common fine-tuning shapes → Converse JSONL, sanitized on request, validated."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from forgeflow.nova import NovaModel
from forgeflow.wording import plural
from forgeflow_tools.cli.output import add_output_argument, emit_json
from forgeflow_tools.cli.validate import add_target_arguments, summary, write_report


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert OpenAI chat, prompt/completion, instruction/output or DPO pairs to Converse JSONL",
        description="Convert a dataset to Converse JSONL (local path or s3:// URI on either side). Output "
        "is validated and written only when every record is valid. Exit 0: written; 1: invalid or "
        "unconvertible data (nothing written); 2: usage or I/O error.",
    )
    parser.add_argument(
        "input", metavar="IN", help=".jsonl, .jsonl.gz or JSON array file, local or s3://, or - for stdin"
    )
    parser.add_argument("output", metavar="OUT", help="output .jsonl, local or s3://")
    sanitize = parser.add_argument_group("sanitizing (opt-in; every change is counted in the report)")
    sanitize.add_argument("--strip-bom", action="store_true", help="remove a UTF-8 byte-order mark")
    sanitize.add_argument(
        "--normalize-newlines", action="store_true", help="accept CRLF line endings (write LF)"
    )
    sanitize.add_argument("--drop-duplicates", action="store_true", help="drop exact duplicate records")
    sanitize.add_argument(
        "--trim-whitespace", action="store_true", help="strip trailing whitespace from text blocks"
    )
    sanitize.add_argument("--sanitize", action="store_true", help="all four of the above")
    add_target_arguments(parser)
    parser.add_argument("--report", metavar="OUT.json", help="write the conversion report (path, s3:// or -)")
    add_output_argument(parser, what="the conversion report", dest="output_format")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from forgeflow.dataset.conversion import SanitizeOptions, convert_uri
    from forgeflow.dataset.validation import ValidationOptions
    from forgeflow_tools.cli.inputs import cli_storage, input_size
    from forgeflow_tools.cli.progress import progress_line

    every = args.sanitize
    sanitize = SanitizeOptions(
        strip_bom=every or args.strip_bom,
        normalize_newlines=every or args.normalize_newlines,
        drop_duplicates=every or args.drop_duplicates,
        trim_whitespace=every or args.trim_whitespace,
    )
    options = ValidationOptions(model=NovaModel(args.model), platform=args.platform)
    storage = cli_storage()
    storage.progress = progress_line(sys.stderr, "converting", None)
    if storage.progress is not None:
        storage.progress.total = input_size(storage, args.input)
    try:
        report = convert_uri(storage, args.input, args.output, sanitize=sanitize, options=options).to_dict()
    finally:
        if storage.progress is not None:
            storage.progress.finish()
    if args.report:
        write_report(storage, args.report, report)
    if args.output_format == "json":
        emit_json(report)
    print(describe(report), file=sys.stderr)
    return 0 if report["written"] else 1


def describe(report: dict[str, Any]) -> str:
    """What was read, changed and written; the validation verdict is about the records, not a file."""
    changes = report["changes"]
    shapes = ", ".join(f"{shape} ×{count}" for shape, count in report["shapes"].items()) or "none"
    trimmed = changes["whitespace_trimmed"]
    lines = [
        f"{plural(report['records_in'], 'record')} read ({shapes}), {report['records_out']:,} converted; "
        f"BOM stripped: {'yes' if changes['bom_stripped'] else 'no'}, "
        f"CRLF lines normalized: {changes['crlf_lines_normalized']:,}, "
        f"duplicates dropped: {changes['duplicates_dropped']:,}, "
        f"text blocks trimmed: {trimmed['blocks']:,} in {plural(trimmed['records'], 'record')}"
    ]
    if report["dropped_keys"]:
        dropped = ", ".join(f"{key} ×{count}" for key, count in report["dropped_keys"].items())
        lines.append(f"keys not carried over: {dropped}")
    if report["validation"] is not None:
        subject = None if report["written"] else f"the converted records of {report['source']}"
        lines.append(summary(report["validation"], subject=subject))
    if report["written"]:
        lines.append(f"wrote {report['output']}")
    else:
        lines.append(f"nothing written to {report['output']}: the converted records are invalid")
    return "\n".join(lines)
