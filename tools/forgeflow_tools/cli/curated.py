"""`forgeflow curated upload DIR --stack NAME`: load curated general-purpose data into a deployed stack.

Every `.jsonl` under DIR is validated first (as `forgeflow validate`, the method from its first record);
if any file is invalid nothing is uploaded. Valid files go to `<CuratedDataPrefix><method>/<name>`
(curated/sft/, curated/dpo/), where the default mix plan of every run blends them in.
Exit codes: 0 uploaded, 1 a file is invalid (nothing uploaded), 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from forgeflow.errors import DataError, InputError
from forgeflow.nova import Method
from forgeflow_tools.cli.follow import add_stack_arguments


def register(subparsers: Any) -> None:
    curated = subparsers.add_parser(
        "curated", help="manage a deployed stack's curated data", description=__doc__
    )
    commands = curated.add_subparsers(dest="curated_command", required=True, metavar="COMMAND")
    upload = commands.add_parser(
        "upload",
        help="validate every .jsonl of a folder, then upload them under the curated prefix",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    upload.add_argument("folder", type=Path, help="folder of curated Converse JSONL files")
    add_stack_arguments(upload)
    upload.set_defaults(func=upload_command)


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise InputError(f"{folder} {what}", code="NOT_FOUND", hint="name a folder of .jsonl files")
    files = sorted(folder.rglob("*.jsonl"))
    if not files:
        raise InputError(f"{folder} holds no .jsonl file", code="NOT_FOUND")
    return files


def upload_command(args: argparse.Namespace) -> int:
    from forgeflow.composition import default_storage
    from forgeflow.dataset.options import ValidationOptions
    from forgeflow.dataset.validation import validate_uri
    from forgeflow_tools.cli.validate import summary
    from forgeflow_tools.deployed import find_stack
    from forgeflow_tools.local.curated import method_of

    files = _files(args.folder)
    storage = default_storage()
    planned: list[tuple[Method, Path]] = []
    invalid: list[tuple[Method, Path]] = []
    for path in files:
        method = method_of(path)
        report = validate_uri(storage, str(path), ValidationOptions(method=method)).to_dict()
        sys.stderr.write(summary(report, shown=3) + "\n")
        (planned if report["valid"] else invalid).append((method, path))
    if invalid:
        names = ", ".join(str(path) for _, path in invalid)
        raise DataError(f"not uploaded: {names} invalid", code="INVALID_CURATED", hint="fix them, then retry")
    stack = find_stack(args.stack, profile=args.profile, region=args.region)
    s3 = stack.client("s3")
    prefix = stack.outputs["CuratedDataPrefix"]
    for method, path in planned:
        key = f"{prefix}{method.value}/{path.name}"
        s3.upload_file(str(path), stack.bucket, key)
        sys.stdout.write(f"uploaded s3://{stack.bucket}/{key}\n")
    sys.stderr.write(f"stack {stack.name} ({stack.where}): {len(planned)} curated file(s) uploaded\n")
    return 0
