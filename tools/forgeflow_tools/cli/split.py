"""`forgeflow split IN OUT_DIR`: deterministic train/validation split by seeded content hash."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "split",
        help="split a JSONL dataset into train.jsonl and validation.jsonl",
        description="Assign each record to train or validation by a seeded hash of its content: the same "
        "input gives the same split whatever its line order; duplicates stay on one side.",
    )
    parser.add_argument("input", metavar="IN", help="local .jsonl file or s3:// URI")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="local folder or s3:// prefix")
    parser.add_argument("--validation-fraction", type=float, required=True, metavar="F", help="0 <= F < 1")
    parser.add_argument("--seed", type=int, default=0, help="hash seed (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from forgeflow.composition import default_storage
    from forgeflow.dataset.split import split_uri
    from forgeflow.errors import InputError

    if not 0.0 <= args.validation_fraction < 1.0:
        raise InputError(
            f"--validation-fraction {args.validation_fraction} is out of range",
            code="USAGE",
            hint="use 0 <= F < 1, e.g. 0.1",
        )
    result = split_uri(
        default_storage(), args.input, args.out_dir, fraction=args.validation_fraction, seed=args.seed
    )
    print(
        f"train: {result.train_uri} ({result.train:,} records); "
        f"validation: {result.validation_uri} ({result.validation:,} records); "
        f"{result.blank_lines:,} blank lines skipped",
        file=sys.stderr,
    )
    return 0
