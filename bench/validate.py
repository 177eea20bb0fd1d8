"""Validator benchmark: throughput and peak memory on synthetic Converse corpora.

    python bench/validate.py                 # ~200 MB text SFT + ~50 MB multimodal SFT
    python bench/validate.py --size-mb 500   # a larger text corpus
    python bench/validate.py --big           # adds the 1 GB text corpus (peak-RSS target)

Corpora are generated into a temporary directory (never into the repository) and deleted afterwards.
Each validation runs in a fresh child process, so the peak RSS printed (getrusage ru_maxrss) is that of
the validation alone, not of the generator. A baseline line measures what validating every record with
the pydantic models would cost, on a 20 MB sample.

Targets (issue 2), one process on the reference 2-core machine: >= 50 MB/s on text SFT, peak RSS
<= 150 MB for a 1 GB file.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

TARGET_MB_S = 50.0
TARGET_RSS_MB = 150.0

WORDS = [
    "order",
    "parcel",
    "refund",
    "courier",
    "delivery",
    "invoice",
    "account",
    "password",
    "warranty",
    "exchange",
    "size",
    "colour",
    "tracking",
    "customer",
    "support",
    "shipment",
    "address",
    "payment",
    "card",
    "charge",
    "return",
    "label",
    "replacement",
    "jacket",
    "boots",
    "tent",
    "please",
    "thanks",
    "urgent",
    "yesterday",
    "week",
    "today",
    "still",
    "never",
    "arrived",
    "broken",
    "missing",
    "wrong",
    "help",
    "update",
]
LABELS = [
    "shipping/lost_parcel",
    "shipping/delayed",
    "billing/double_charge",
    "account/locked",
    "orders/cancel",
]


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))


def _media(rng: random.Random, kind: str, number: int) -> dict[str, Any]:
    fmt = {"image": rng.choice(["png", "jpeg"]), "video": "mp4", "document": "pdf"}[kind]
    uri = f"s3://bench-media/tickets/{number}/{kind}-{rng.randint(0, 10**6)}.{fmt}"
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": uri, "bucketOwner": "123456789012"}}}}


def _record(rng: random.Random, number: int, multimodal: bool) -> dict[str, Any]:
    messages = []
    for turn in range(rng.randint(1, 3)):
        content: list[dict[str, Any]] = [{"text": _text(rng, 20, 160)}]
        if multimodal and turn == 0:
            kind = rng.choice(["image", "image", "video", "document"])
            count = rng.randint(1, 4) if kind == "image" else 1
            content += [_media(rng, kind, number) for _ in range(count)]
        messages.append({"role": "user", "content": content})
        answer = rng.choice(LABELS) if rng.random() < 0.3 else _text(rng, 5, 120)
        messages.append({"role": "assistant", "content": [{"text": answer}]})
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "You are the support assistant of an outdoor-gear shop. " + _text(rng, 5, 20)}],
        "messages": messages,
    }


def generate(path: Path, size_mb: int, *, multimodal: bool, seed: int = 1) -> int:
    """Writes about `size_mb` MB of records; returns the byte count."""
    rng = random.Random(seed)
    target = size_mb * 1_000_000
    written = 0
    number = 0
    with path.open("wb", buffering=8 * 1024 * 1024) as out:
        while written < target:
            batch = b"".join(orjson.dumps(_record(rng, number + i, multimodal)) + b"\n" for i in range(1000))
            number += 1000
            out.write(batch)
            written += len(batch)
    return written


def measure(path: Path, mode: str) -> dict[str, Any]:
    """Runs in the child process: validates `path` and reports throughput and peak RSS."""
    from forgeflow.dataset.converse import SFTRecord
    from forgeflow.dataset.validation import ValidationOptions, validate_stream

    size = path.stat().st_size
    started = time.perf_counter()
    if mode == "validator":
        with path.open("rb") as stream:
            report = validate_stream(stream, ValidationOptions())
        records, valid = report.records, report.valid
    else:
        records, valid = 0, True
        with path.open("rb") as stream:
            for line in stream:
                SFTRecord.model_validate(orjson.loads(line))
                records += 1
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return {
        "mb": size / 1e6,
        "seconds": seconds,
        "mb_s": size / 1e6 / seconds,
        "records": records,
        "records_s": records / seconds,
        "peak_rss_mb": peak_kb / 1024,
        "valid": valid,
    }


def run_child(path: Path, mode: str) -> dict[str, Any]:
    answer = subprocess.run(
        [sys.executable, __file__, "--measure", str(path), "--mode", mode],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(answer.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=200, help="text SFT corpus size (default 200)")
    parser.add_argument("--multimodal-mb", type=int, default=50, help="multimodal corpus size (default 50)")
    parser.add_argument("--big", action="store_true", help="also validate a 1 GB text corpus (RSS target)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="validator", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.mode)))
        return 0

    runs = [
        ("text SFT", args.size_mb, False, "validator"),
        ("multimodal SFT", args.multimodal_mb, True, "validator"),
    ]
    runs.append(("pydantic models per record (baseline)", 20, False, "models"))
    if args.big:
        runs.append(("text SFT, 1 GB", 1000, False, "validator"))
    print(
        f"targets: >= {TARGET_MB_S:.0f} MB/s on text SFT; peak RSS <= {TARGET_RSS_MB:.0f} MB for a 1 GB file"
    )
    print(f"{'corpus':40} {'MB':>8} {'MB/s':>8} {'records/s':>11} {'peak RSS MB':>12}  verdict")
    failed = False
    with tempfile.TemporaryDirectory(prefix="forgeflow-bench-") as folder:
        for name, size_mb, multimodal, mode in runs:
            path = Path(folder) / f"{size_mb}mb-{'mm' if multimodal else 'text'}.jsonl"
            if not path.exists():
                generate(path, size_mb, multimodal=multimodal)
            result = run_child(path, mode)
            verdict = ""
            if mode == "validator" and not multimodal:
                speed_ok = result["mb_s"] >= TARGET_MB_S
                verdict = f"speed {'OK' if speed_ok else 'BELOW TARGET'}"
                failed |= not speed_ok
                if size_mb >= 1000:
                    rss_ok = result["peak_rss_mb"] <= TARGET_RSS_MB
                    verdict += f", RSS {'OK' if rss_ok else 'ABOVE TARGET'}"
                    failed |= not rss_ok
            if mode == "validator" and not result["valid"]:
                verdict += " (corpus unexpectedly invalid)"
                failed = True
            print(
                f"{name:40} {result['mb']:8.1f} {result['mb_s']:8.1f} {result['records_s']:11,.0f} "
                f"{result['peak_rss_mb']:12.1f}  {verdict}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
