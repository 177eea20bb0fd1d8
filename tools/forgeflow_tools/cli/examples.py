"""`forgeflow examples OUT_DIR`: write the shipped example datasets (deterministic for a seed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "examples",
        help="write the example datasets (support SFT, general SFT, DPO)",
        description="Write the example Converse datasets into OUT_DIR: support_sft.jsonl (customer-support "
        "classification), general_sft.jsonl (curated general-purpose data) and support_dpo.jsonl.",
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path)
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from forgeflow.errors import InputError
    from forgeflow_tools.examples import write_examples

    try:
        written = write_examples(args.out_dir, seed=args.seed)
    except OSError as error:
        raise InputError(f"cannot write to {args.out_dir}: {error.strerror}", code="WRITE_ERROR") from error
    for name, path in written.items():
        lines = path.read_bytes().count(b"\n")
        print(f"{name}: {path} ({lines} records)")
    return 0
