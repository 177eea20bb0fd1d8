"""`forgeflow split IN OUT_DIR`: deterministic train/validation split by seeded content hash."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from forgeflow.wording import plural
from forgeflow_tools.cli.output import add_output_argument, emit_json


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "split",
        help="split a JSONL dataset into train.jsonl and validation.jsonl",
        description="Assign each record to train or validation by a seeded hash of its content: the same "
        "input gives the same split whatever its line order; duplicates stay on one side.",
    )
    parser.add_argument(
        "input", metavar="IN", help="local .jsonl (or .jsonl.gz) file, s3:// URI, or - for stdin"
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="local folder or s3:// prefix")
    parser.add_argument("--validation-fraction", type=float, required=True, metavar="F", help="0 <= F < 1")
    parser.add_argument("--seed", type=int, default=0, help="hash seed (default 0)")
    add_output_argument(parser, what="where each side went and its record count")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from forgeflow.dataset.split import split_uri
    from forgeflow.errors import InputError
    from forgeflow_tools.cli.inputs import cli_storage, input_size
    from forgeflow_tools.cli.progress import progress_line

    if not 0.0 <= args.validation_fraction < 1.0:
        raise InputError(
            f"--validation-fraction {args.validation_fraction} is out of range",
            code="USAGE",
            hint="use 0 <= F < 1, e.g. 0.1",
        )
    storage = cli_storage()
    storage.progress = progress_line(sys.stderr, "splitting", None)
    if storage.progress is not None:
        storage.progress.total = input_size(storage, args.input)
    try:
        result = split_uri(
            storage, args.input, args.out_dir, fraction=args.validation_fraction, seed=args.seed
        )
    finally:
        if storage.progress is not None:
            storage.progress.finish()
    if args.output == "json":
        emit_json(
            {
                "train": {"uri": result.train_uri, "records": result.train},
                "validation": {"uri": result.validation_uri, "records": result.validation},
                "blank_lines": result.blank_lines,
            }
        )
    print(
        f"train: {result.train_uri} ({plural(result.train, 'record')}); "
        f"validation: {result.validation_uri} ({plural(result.validation, 'record')}); "
        f"{plural(result.blank_lines, 'blank line')} skipped",
        file=sys.stderr,
    )
    return 0
