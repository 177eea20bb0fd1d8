"""`forgeflow convert IN OUT`: common fine-tuning shapes → Converse JSONL, sanitized on request, validated."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from forgeflow.nova import NovaModel
from forgeflow_tools.cli.validate import add_target_arguments, summary, write_report


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert OpenAI chat, prompt/completion, instruction/output or DPO pairs to Converse JSONL",
        description="Convert a dataset to Converse JSONL (local path or s3:// URI on either side). Output "
        "is validated and written only when every record is valid. Exit 0: written; 1: invalid or "
        "unconvertible data (nothing written); 2: usage or I/O error.",
    )
    parser.add_argument("input", metavar="IN", help=".jsonl (or JSON array) file, local or s3://")
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from forgeflow.composition import default_storage
    from forgeflow.dataset.conversion import SanitizeOptions, convert_uri
    from forgeflow.dataset.validation import ValidationOptions

    every = args.sanitize
    sanitize = SanitizeOptions(
        strip_bom=every or args.strip_bom,
        normalize_newlines=every or args.normalize_newlines,
        drop_duplicates=every or args.drop_duplicates,
        trim_whitespace=every or args.trim_whitespace,
    )
    options = ValidationOptions(model=NovaModel(args.model), platform=args.platform)
    storage = default_storage()
    report = convert_uri(storage, args.input, args.output, sanitize=sanitize, options=options).to_dict()
    if args.report:
        write_report(storage, args.report, report)
    changes = report["changes"]
    shapes = ", ".join(f"{shape} ×{count}" for shape, count in report["shapes"].items()) or "none"
    print(
        f"{report['records_in']:,} records read ({shapes}), {report['records_out']:,} converted; "
        f"BOM stripped: {'yes' if changes['bom_stripped'] else 'no'}, "
        f"CRLF lines normalized: {changes['crlf_lines_normalized']:,}, "
        f"duplicates dropped: {changes['duplicates_dropped']:,}, "
        f"text blocks trimmed: {changes['whitespace_trimmed']['blocks']:,} "
        f"in {changes['whitespace_trimmed']['records']:,} records",
        file=sys.stderr,
    )
    if report["dropped_keys"]:
        dropped = ", ".join(f"{key} ×{count}" for key, count in report["dropped_keys"].items())
        print(f"keys not carried over: {dropped}", file=sys.stderr)
    if report["validation"] is not None:
        print(summary(report["validation"]), file=sys.stderr)
    if report["written"]:
        print(f"wrote {report['output']}", file=sys.stderr)
        return 0
    print(f"nothing written to {report['output']}: the converted records are invalid", file=sys.stderr)
    return 1
