"""`forgeflow mix --plan plan.yaml --out DIR_OR_S3_PREFIX`: blend customer and curated data exactly.

Writes train.jsonl, validation.jsonl and mix_report.json under --out. Exit 0: mixed; 1: the plan or
data is invalid (nothing written); 2: usage or I/O error. A summary goes to stderr; `--output json` (or
`--json`) prints the mix report on stdout. `--plan -` reads the plan from stdin (relative source paths
are then relative to the working folder). Sources may be gzip-compressed (see cli/inputs.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from forgeflow.errors import InputError
from forgeflow.nova import Method, NovaModel
from forgeflow.wording import plural
from forgeflow_tools.cli.output import add_output_argument, emit_json

_COMPUTE = ("serverful", "serverless", "hyperpod")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "mix",
        help="blend the customer dataset with curated data at exact, seeded shares",
        description="Blend a customer Converse dataset with curated JSONL sources as a mix plan says: "
        "exact shares, seeded and reproducible, streaming (local or S3). Exit 0: mixed; 1: invalid plan "
        "or data (nothing is written); 2: usage or I/O error.",
    )
    parser.add_argument(
        "--plan", required=True, metavar="PLAN", help="mix plan (YAML/JSON: path, s3:// or - for stdin)"
    )
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
    add_output_argument(parser, alias="--json", what="the mix report")
    parser.set_defaults(func=run)


def summary(report: dict[str, Any], seconds: float) -> str:
    train, validation = report["train"], report["validation"]
    lines = [
        f"MIXED: {plural(train['records'], 'train record')} (~{plural(train['est_tokens'], 'token')}), "
        f"{plural(validation['records'], 'validation record')}, seed {report['seed']}, "
        f"unit {report['unit']}, {seconds:.1f} s",
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
    from forgeflow.mixing.engine import run_mix
    from forgeflow.mixing.forge import Compute
    from forgeflow_tools.cli.inputs import cli_storage
    from forgeflow_tools.cli.progress import progress_line

    if args.workdir and not Path(args.workdir).is_dir():
        raise InputError(
            f"--workdir {args.workdir} is not an existing folder",
            code="NOT_FOUND",
            hint="create it, or leave --workdir out to use the system's temporary folder",
        )
    storage = cli_storage()
    plan = _plan(args.plan, storage)
    progress = progress_line(sys.stderr, "mixing")
    try:
        report = run_mix(
            plan,
            args.out,
            storage,
            method=Method(args.method) if args.method else None,
            model=NovaModel(args.model),
            workdir=Path(args.workdir) if args.workdir else None,
            progress=progress.update if progress is not None else None,
            compute=Compute(args.compute),
            workers=args.workers,
        )
    finally:
        if progress is not None:
            progress.finish()
    content = report.to_dict()
    print(summary(content, report.seconds), file=sys.stderr)
    if args.output == "json":
        emit_json(content)
    return 0


def _plan(source: str, storage: Any) -> Any:
    """The mix plan from a path, an s3:// URI or stdin (`-`)."""
    from forgeflow.mixing.plan import load_plan

    if source == "-":
        text = sys.stdin.read()
        # load_plan takes text (rather than a path) when it has a line break; a plan always does.
        return load_plan(text if "\n" in text else text + "\n", storage)
    return load_plan(source if source.startswith("s3://") else Path(source), storage)
