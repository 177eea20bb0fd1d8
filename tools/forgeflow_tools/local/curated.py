"""The curated data of a local run: the shipped general-purpose sets unless the user brings their own.

On AWS the default mix plan blends in every curated `.jsonl` under `<CuratedDataPrefix><method>/`; a new
stack's bucket has none there. Locally the runtime uploads the shipped sets (`forgeflow_tools.examples`:
`general_sft.jsonl` under `sft/`, `general_dpo.jsonl` under `dpo/`) so that `forgeflow local run my.jsonl`
mixes whatever the dataset's method. `--curated` replaces them; `--no-curated` runs the dataset unmixed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
import yaml

from forgeflow.errors import InputError
from forgeflow.nova import Method

# The plan of an unmixed run: the customer data alone (its uri is filled in by the Mix stage).
UNMIXED_PLAN = {
    "validation_fraction": 0.1,
    "sources": [{"name": "customer", "role": "customer", "weight": 1.0}],
}


def curated_files(args: argparse.Namespace, scratch: Path) -> list[tuple[Method, Path]]:
    """(method, file) of every curated file to upload: the user's, the shipped sets, or none."""
    if args.no_curated:
        return []
    if not args.curated:
        from forgeflow_tools.examples import write_examples

        shipped = write_examples(scratch / "curated")
        return [(Method.SFT, shipped["general"]), (Method.DPO, shipped["general_dpo"])]
    found: list[tuple[Method, Path]] = []
    for given in args.curated:
        files = sorted(given.rglob("*.jsonl")) if given.is_dir() else [given]
        if not given.exists() or not files:
            raise InputError(f"--curated {given}: no .jsonl file there", code="NOT_FOUND")
        found.extend((method_of(path), path) for path in files)
    return found


def method_of(path: Path) -> Method:
    """DPO when the first record has preference candidates, else SFT (the validator checks the rest)."""
    try:
        with path.open("rb") as stream:
            first = next((line for line in stream if line.strip()), b"")
    except OSError as error:
        raise InputError(f"cannot read --curated {path}: {error.strerror or error}") from None
    try:
        record: Any = orjson.loads(first) if first else {}
    except orjson.JSONDecodeError:
        return Method.SFT  # not JSON: the Mix stage's validation names the problem with its line
    messages = record.get("messages", []) if isinstance(record, dict) else []
    dpo = any(isinstance(m, dict) and "candidates" in m for m in messages)
    return Method.DPO if dpo else Method.SFT


def describe_curated(args: argparse.Namespace, curated: list[tuple[Method, Path]], prefix: str) -> str:
    """The line a local run prints about its curated data."""
    if args.no_curated:
        return "curated: none (--no-curated): the run is unmixed, it trains on the dataset alone"
    uploaded = ", ".join(f"{prefix}{method.value}/{path.name}" for method, path in curated)
    if not args.curated:
        return (
            f"curated: the shipped general-purpose sets ({uploaded}); replace with --curated, or --no-curated"
        )
    return f"curated: {uploaded} (from --curated)"


def run_sidecar(config: Path | None, *, unmixed: bool, require_approval: bool = False) -> bytes | None:
    """The sidecar to upload: the run config as given; unmixed, with the customer-only plan added
    (a `mix` the config sets itself is kept); `--require-approval` sets the run option."""
    text = config.read_bytes() if config is not None else None
    if not unmixed and not require_approval:
        return text
    try:
        document = yaml.safe_load(text) if text else {}
    except yaml.YAMLError as error:
        raise InputError(f"--config {config}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise InputError(f"--config {config}: expected a mapping of run options")
    if unmixed:
        document.setdefault("mix", UNMIXED_PLAN)
    if require_approval:
        document["require_approval"] = True
    return yaml.safe_dump(document, sort_keys=False).encode()
