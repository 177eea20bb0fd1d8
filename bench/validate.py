"""Validator benchmark: ForgeFlow against per-record pydantic models, on five corpora, in one run.

    python bench/validate.py                 # five ~25 MB corpora (about a minute)
    python bench/validate.py --size-mb 100   # larger corpora
    python bench/validate.py --big           # adds the 1 GB text corpus (peak-RSS target)

The corpora (issue 14): text SFT with system prompts and ~900-byte turns holding punctuation (":", "[",
"<", so the reserved-string check runs), multi-turn SFT, DPO, multimodal SFT (images, or one video or
document per record), and text SFT with 10 % invalid records. For each, four child processes read the
same file: ForgeFlow in one process (`validate_stream`), ForgeFlow with one worker process per CPU
(`validate_uri(..., workers=N)`, byte ranges), the baseline (every record through the pydantic models of
the same rules, the public reference validator's approach) and bare `orjson.loads` per line (the parsing
bound). Each prints wall and CPU seconds (workers' included) and its peak RSS (getrusage ru_maxrss; for
the parallel run the parent's plus N times the largest worker's, an upper bound of their sum). Ratios
are taken within one run; CPU-time ratios are printed too, as on a shared machine wall-clock figures
are noisy. The parallel report is checked identical to the one-process report (a digest of each).
Corpora go to a temporary directory (never into the repository) and are deleted afterwards.

Targets: >= 5x the baseline on every corpus (stretch: >= 25 % of bare orjson); peak RSS <= 150 MB on 1 GB.
The verdict line says which run meets the 5x: one process (CPU time) or the N workers (wall clock).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

TARGET_RATIO = 5.0
STRETCH_SHARE = 0.25
TARGET_RSS_MB = 150.0
WORKERS = max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2)

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


def _turn(rng: random.Random, low: int, high: int) -> str:
    # Realistic punctuation: times, references and markup make every text take the reserved-string check.
    ticket = f"(ticket {rng.randint(1, 99999)} at 10:{rng.randint(10, 59)}: see [1] <b>note</b>)"
    return f"{_text(rng, low, high)} {ticket}"


def _media(rng: random.Random, kind: str, number: int) -> dict[str, Any]:
    fmt = {"image": rng.choice(["png", "jpeg"]), "video": "mp4", "document": "pdf"}[kind]
    uri = f"s3://bench-media/tickets/{number}/{kind}-{rng.randint(0, 10**6)}.{fmt}"
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": uri, "bucketOwner": "123456789012"}}}}


def _system(rng: random.Random) -> list[dict[str, str]]:
    return [{"text": "You are the support assistant of an outdoor-gear shop. " + _text(rng, 5, 20)}]


def _sft(
    rng: random.Random, number: int, exchanges: tuple[int, int], words: tuple[int, int]
) -> dict[str, Any]:
    messages = []
    for _ in range(rng.randint(*exchanges)):
        messages.append({"role": "user", "content": [{"text": _turn(rng, *words)}]})
        answer = rng.choice(LABELS) if rng.random() < 0.2 else _turn(rng, *words)
        messages.append({"role": "assistant", "content": [{"text": answer}]})
    return {"schemaVersion": "bedrock-conversation-2024", "system": _system(rng), "messages": messages}


def _text_sft(rng: random.Random, number: int) -> dict[str, Any]:
    return _sft(rng, number, (1, 2), (100, 140))  # ~900-byte turns


def _multi_turn(rng: random.Random, number: int) -> dict[str, Any]:
    return _sft(rng, number, (4, 8), (10, 40))


def _dpo(rng: random.Random, number: int) -> dict[str, Any]:
    record = _sft(rng, number, (1, 3), (20, 100))
    last = record["messages"][-1]
    del last["content"]
    last["candidates"] = [
        {"content": [{"text": _turn(rng, 20, 100)}], "preferenceLabel": "preferred"},
        {"content": [{"text": _turn(rng, 5, 40)}], "preferenceLabel": "non-preferred"},
    ]
    return record


def _multimodal(rng: random.Random, number: int) -> dict[str, Any]:
    record = _sft(rng, number, (1, 3), (20, 120))
    kind = rng.choice(["image", "image", "video", "document"])
    count = rng.randint(1, 4) if kind == "image" else 1
    record["messages"][0]["content"] += [_media(rng, kind, number) for _ in range(count)]
    return record


def _invalid_tenth(rng: random.Random, number: int) -> dict[str, Any]:
    record = _text_sft(rng, number)
    if number % 10 == 3:  # 10 % invalid, each with one realistic fault
        fault = rng.randrange(3)
        if fault == 0:
            record["messages"][0]["content"][0]["text"] += " User: hello"
        elif fault == 1:
            record["messages"][-1]["role"] = "user"
        else:
            record["messages"][0]["content"] = []
    return record


CORPORA: dict[str, tuple[Callable[[random.Random, int], dict[str, Any]], bool]] = {
    "text SFT, system, ~900 B turns": (_text_sft, True),
    "multi-turn SFT": (_multi_turn, True),
    "DPO": (_dpo, True),
    "multimodal SFT": (_multimodal, True),
    "text SFT, 10 % invalid": (_invalid_tenth, False),
}


def generate(path: Path, size_mb: int, kind: str, seed: int = 1) -> int:
    """Writes about `size_mb` MB of `kind` records; returns the byte count."""
    make = CORPORA[kind][0]
    rng = random.Random(seed)
    target = size_mb * 1_000_000
    written = 0
    number = 0
    with path.open("wb", buffering=8 * 1024 * 1024) as out:
        while written < target:
            batch = b"".join(orjson.dumps(make(rng, number + i)) + b"\n" for i in range(1000))
            number += 1000
            out.write(batch)
            written += len(batch)
    return written


def _baseline(stream: Any) -> tuple[int, bool]:
    from pydantic import ValidationError

    from forgeflow.dataset.converse import DPORecord, SFTRecord  # imported by measure() before the clock

    records, valid = 0, True
    for line in stream:
        record = orjson.loads(line)
        model = DPORecord if "candidates" in record["messages"][-1] else SFTRecord
        try:
            model.model_validate(record)
        except ValidationError:
            valid = False
        records += 1
    return records, valid


def _read(path: Path, mode: str) -> tuple[int, bool, str]:
    """Records, verdict and report digest of one way of reading `path`."""
    from forgeflow.dataset.validation import ValidationOptions, validate_stream, validate_uri
    from forgeflow.storage import Storage

    if mode == "parallel":
        report = validate_uri(Storage(), str(path), ValidationOptions(), workers=WORKERS)
    elif mode == "forgeflow":
        with path.open("rb") as stream:
            report = validate_stream(stream, ValidationOptions(), str(path))
    else:
        with path.open("rb") as stream:
            if mode == "pydantic":
                records, valid = _baseline(stream)
            else:
                records, valid = sum(1 for line in stream if orjson.loads(line) is not None), True
        return records, valid, ""
    digest = hashlib.sha256(orjson.dumps(report.to_dict(), option=orjson.OPT_SORT_KEYS)).hexdigest()
    return report.records, report.valid, digest


def _import_readers() -> None:
    import forgeflow.dataset.converse
    import forgeflow.dataset.validation
    import forgeflow.storage  # noqa: F401


def measure(path: Path, mode: str) -> dict[str, Any]:
    """Runs in the child process: reads `path` one way and reports time and peak RSS."""
    size = path.stat().st_size
    _import_readers()  # the clock measures reading, not a cold start (bench/cold_imports.py does that)
    started, cpu = time.perf_counter(), time.process_time()
    records, valid, digest = _read(path, mode)
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = time.process_time() - cpu + children.ru_utime + children.ru_stime
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    if mode == "parallel":
        peak_kb += WORKERS * children.ru_maxrss  # ru_maxrss of children: the largest one's
    return {
        "mb": size / 1e6,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "mb_s": size / 1e6 / seconds,
        "records_s": records / seconds,
        "peak_rss_mb": peak_kb / 1024,
        "valid": valid,
        "digest": digest,
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


def _row(name: str, result: dict[str, Any]) -> str:
    return (
        f"  {name:10} {result['mb_s']:8.1f} {result['mb'] / result['cpu_seconds']:9.1f} "
        f"{result['records_s']:11,.0f} {result['peak_rss_mb']:9.1f}"
    )


def bench_corpus(folder: Path, kind: str, size_mb: int) -> bool:
    """Generates one corpus, measures the four readers and prints their rows; True when on target."""
    path = folder / f"{kind.replace(' ', '_').replace(',', '').replace('%', 'pct')}-{size_mb}.jsonl"
    generate(path, size_mb, kind)
    modes = ("forgeflow", "parallel", "pydantic", "orjson")
    ours, par, theirs, bare = (run_child(path, mode) for mode in modes)
    ratio = theirs["seconds"] / ours["seconds"]
    cpu_ratio = theirs["cpu_seconds"] / ours["cpu_seconds"]
    par_ratio = theirs["seconds"] / par["seconds"]
    share = bare["cpu_seconds"] / ours["cpu_seconds"]
    print(f"{kind} ({ours['mb']:.0f} MB)")
    for name, result in (
        ("forgeflow", ours),
        (f"ff x{WORKERS}", par),
        ("pydantic", theirs),
        ("orjson", bare),
    ):
        print(_row(name, result))
    verdict_ok = ours["valid"] == CORPORA[kind][1] and par["digest"] == ours["digest"]
    single_ok, par_ok = cpu_ratio >= TARGET_RATIO, par_ratio >= TARGET_RATIO
    met = "OK (one process)" if single_ok else f"OK ({WORKERS} workers only)" if par_ok else "BELOW TARGET"
    print(
        f"  -> one process: {ratio:.2f}x the baseline (wall), {cpu_ratio:.2f}x (CPU), {share:.0%} of bare "
        f"orjson (CPU); {WORKERS} workers: {par_ratio:.2f}x (wall); {met}"
        f"{'' if verdict_ok else ' (unexpected verdict or parallel report differs)'}"
    )
    return (single_ok or par_ok) and verdict_ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=25, help="size of each corpus (default 25)")
    parser.add_argument("--big", action="store_true", help="also validate a 1 GB text corpus (RSS target)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="forgeflow", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.mode)))
        return 0
    print(
        f"targets: >= {TARGET_RATIO:.0f}x the pydantic baseline (CPU time, same run) on every corpus; "
        f"stretch >= {STRETCH_SHARE:.0%} of bare orjson; peak RSS <= {TARGET_RSS_MB:.0f} MB on 1 GB"
    )
    print(f"  {'reader':10} {'MB/s':>8} {'MB/CPU-s':>9} {'records/s':>11} {'RSS MB':>9}")
    print(f"  (machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start)")
    failed = False
    with tempfile.TemporaryDirectory(prefix="forgeflow-bench-") as folder:
        for kind in CORPORA:
            failed |= not bench_corpus(Path(folder), kind, args.size_mb)
        if args.big:
            path = Path(folder) / "big.jsonl"
            generate(path, 1000, "text SFT, system, ~900 B turns")
            for mode in ("forgeflow", "parallel"):
                result = run_child(path, mode)
                rss_ok = result["peak_rss_mb"] <= TARGET_RSS_MB
                name = "one process" if mode == "forgeflow" else f"{WORKERS} workers (RSS summed)"
                rss = result["peak_rss_mb"]
                print(
                    f"1 GB text SFT, {name}: {result['mb_s']:.1f} MB/s, peak RSS {rss:.1f} MB "
                    f"({'OK' if rss_ok else 'ABOVE TARGET'})"
                )
                failed |= mode == "forgeflow" and not rss_ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
