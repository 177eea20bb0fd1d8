"""What the seed promises, pinned on the records themselves (not on a file hash the interleave alone changes).

- Subsampling: the seed decides WHICH records of a shrunk source are selected; the same seed, the same set.
- Upsampling: every repeated pass of a source holds the same records in a freshly shuffled order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forgeflow.mixing.engine import run_mix
from forgeflow.mixing.plan import parse_plan
from forgeflow.storage import Storage


def _train_of(root: Path, out: str, plan: dict[str, Any], mixdata: Any) -> list[bytes]:
    run_mix(parse_plan(plan), str(root / out), Storage())
    return list(mixdata.read_lines(root / out / "train.jsonl"))


def _plan(root: Path, seed: int, **extra: Any) -> dict[str, Any]:
    return {
        "seed": seed,
        "sources": [
            {"name": "customer", "role": "customer", "uri": str(root / "customer"), "weight": 0.5},
            {"name": "general", "role": "curated", "uri": str(root / "general"), "weight": 0.5},
        ],
        **extra,
    }


def test_the_seed_selects_which_records_of_a_subsampled_source(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 40)
    mixdata.write(tmp_path, "general", 400)  # 40 of 400 are drawn: the seed decides which

    def general_set(seed: int, out: str) -> frozenset[bytes]:
        train = _train_of(tmp_path, out, _plan(tmp_path, seed), mixdata)
        return frozenset(line for line in train if mixdata.source_of(line) == "general")

    first, again, other = general_set(7, "a"), general_set(7, "b"), general_set(8, "c")
    assert len(first) == 40
    assert first == again
    assert other != first
    assert len(other) == 40


def test_each_upsampled_pass_is_the_same_records_reshuffled(tmp_path: Path, mixdata: Any) -> None:
    customer = mixdata.write(tmp_path, "customer", 12)
    mixdata.write(tmp_path, "general", 36)
    # 36 customer records from 12: three whole passes over the customer source.
    plan = _plan(tmp_path, 3, total=72, allow_upsample=True)
    train = _train_of(tmp_path, "out", plan, mixdata)
    ours = [line for line in train if mixdata.source_of(line) == "customer"]
    assert len(ours) == 36
    passes = [ours[start : start + 12] for start in range(0, 36, 12)]
    for one_pass in passes:
        assert sorted(one_pass) == customer  # each pass: every record exactly once
    assert passes[0] != passes[1]
    assert passes[1] != passes[2]
