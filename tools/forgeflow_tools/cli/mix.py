"""`forgeflow mix --plan plan.yaml --out DIR_OR_S3_PREFIX`: blend customer and curated data exactly.

Writes train.jsonl, validation.jsonl and mix_report.json under --out. Exit 0: mixed; 1: the plan or
data is invalid (nothing written); 2: usage or I/O error. A summary goes to stderr; --json prints the
mix report on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from forgeflow.errors import InputError
from forgeflow.nova import Method, NovaModel

_COMPUTE = ("serverful", "serverless", "hyperpod")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "mix",
        help="blend the customer dataset with curated data at exact, seeded shares",
        description="Blend a customer Converse dataset with curated JSONL sources as a mix plan says: "
        "exact shares, seeded and reproducible, streaming (local or S3). Exit 0: mixed; 1: invalid plan "
        "or data (nothing is written); 2: usage or I/O error.",
    )
    parser.add_argument("--plan", required=True, metavar="PLAN", help="mix plan (YAML/JSON, path or s3://)")
    parser.add_argument(
        "--out", required=True, metavar="DIR_OR_S3_PREFIX", help="where train/validation/report go"
    )
    parser.add_argument(
        "--method", choices=[m.value for m in Method], help="default: the first customer record decides"
    )
    parser.add_argument("--model", choices=[m.value for m in NovaModel], default=NovaModel.LITE.value)
    parser.add_argument(
        "--compute",
        choices=_COMPUTE,
        default="serverful",
        help="where training runs; nova:<category> sources need hyperpod or serverless (Nova Forge)",
    )
    parser.add_argument("--workdir", metavar="DIR", help="temporary spill folder (default: system temp)")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes scanning local sources in parallel (default: one per source, up to the CPUs)",
    )
    parser.add_argument("--json", action="store_true", help="print the mix report as JSON on stdout")
    parser.set_defaults(func=run)


def _progress_bar(stream: TextIO) -> Any:
    if not stream.isatty():
        return None

    def show(done: int, total: int) -> None:
        share = min(done / total, 1.0) if total else 1.0
        filled = int(share * 30)
        stream.write(f"\rmixing [{'#' * filled}{'.' * (30 - filled)}] {share:6.1%} {done / 1e6:,.0f} MB")
        stream.flush()

    return show


def summary(report: dict[str, Any], seconds: float) -> str:
    train, validation = report["train"], report["validation"]
    lines = [
        f"MIXED: {train['records']:,} train records (~{train['est_tokens']:,} tokens), "
        f"{validation['records']:,} validation records, seed {report['seed']}, unit {report['unit']}, "
        f"{seconds:.1f} s",
        f"  {'source':<20} {'available':>10} {'selected':>10} {'repeats':>8} {'target':>8} {'achieved':>9}",
    ]
    for source in report["sources"]:
        lines.append(
            f"  {source['name']:<20} {source['available']:>10,} {source['selected']:>10,} "
            f"{source['repeats']:>8,} {source['target_share']:>8.2%} {source['achieved_share']:>9.2%}"
        )
    run = report["longest_same_source_run"]
    if run["length"]:
        lines.append(
            f"  longest same-source run: {run['length']} ({run['source']}, from line {run['start_line']})"
        )
    if report["forge"]:
        forge = report["forge"]
        categories = ", ".join(f"{k} {v}%" for k, v in forge["nova_data_percentages"].items())
        lines.append(
            f"  Forge data mixing ({report['compute']}): "
            f"customer_data_percent {forge['customer_data_percent']}, "
            f"Nova categories {categories}"
        )
    lines.append(f"  train.jsonl sha256 {train['sha256']}  → {train['uri']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import orjson

    from forgeflow.composition import default_storage
    from forgeflow.mixing.engine import run_mix
    from forgeflow.mixing.forge import Compute
    from forgeflow.mixing.plan import load_plan

    if args.workdir and not Path(args.workdir).is_dir():
        raise InputError(
            f"--workdir {args.workdir} is not an existing folder",
            code="NOT_FOUND",
            hint="create it, or leave --workdir out to use the system's temporary folder",
        )
    storage = default_storage()
    plan = load_plan(args.plan if args.plan.startswith("s3://") else Path(args.plan), storage)
    progress = _progress_bar(sys.stderr)
    try:
        report = run_mix(
            plan,
            args.out,
            storage,
            method=Method(args.method) if args.method else None,
            model=NovaModel(args.model),
            workdir=Path(args.workdir) if args.workdir else None,
            progress=progress,
            compute=Compute(args.compute),
            workers=args.workers,
        )
    finally:
        if progress is not None:
            sys.stderr.write("\n")
    content = report.to_dict()
    print(summary(content, report.seconds), file=sys.stderr)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(content, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
    return 0
