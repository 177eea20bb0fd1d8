"""The general suite's held-out slice (forgeflow.evaluation.general) and the mix's exclusion of it."""

from __future__ import annotations

from pathlib import Path

import orjson

from forgeflow.dataset.canonical import record_hash
from forgeflow.evaluation.general import GENERAL_FRACTION, in_general_holdout, write_general_eval
from forgeflow.mixing.engine import run_mix
from forgeflow.mixing.plan import load_plan
from forgeflow.storage import Storage
from forgeflow_tools.examples import write_examples


def _records(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_the_slice_is_the_seeded_fraction_of_the_pool_and_its_gen_qa_lines(tmp_path: Path) -> None:
    files = write_examples(tmp_path / "ex")
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "general.jsonl").write_bytes(files["general"].read_bytes())
    general = write_general_eval(Storage(), str(pool) + "/", str(tmp_path / "out") + "/")
    assert general is not None
    records = _records(files["general"])
    held_out = [r for r in records if in_general_holdout(record_hash(r))]
    assert general.queries == len(held_out)
    assert abs(len(held_out) / len(records) - GENERAL_FRACTION) < 0.05
    lines = _records(Path(general.uri))
    last_users = [r["messages"][-2]["content"][0]["text"] for r in held_out]
    assert [line["query"] for line in lines] == last_users
    again = write_general_eval(Storage(), str(pool) + "/", str(tmp_path / "again") + "/")
    assert again is not None
    assert again.sha256 == general.sha256  # the same pool, the same slice: the baseline cache's key


def test_an_empty_pool_has_no_general_suite(tmp_path: Path) -> None:
    (tmp_path / "pool").mkdir()
    (tmp_path / "pool" / "empty.jsonl").write_bytes(b"\n")
    assert write_general_eval(Storage(), str(tmp_path / "pool") + "/", str(tmp_path / "out") + "/") is None


def test_the_mix_keeps_the_slice_out_of_train_and_counts_it(tmp_path: Path) -> None:
    files = write_examples(tmp_path / "ex")
    plan = load_plan(
        {
            "validation_fraction": 0.1,
            "sources": [
                {"name": "customer", "role": "customer", "uri": str(files["support"]), "weight": 0.7},
                {"name": "curated", "uri": str(files["general"]), "weight": 0.3},
            ],
        }
    )
    report = run_mix(plan, str(tmp_path / "mix"), Storage(), exclude=in_general_holdout)
    held_out = {record_hash(r) for r in _records(files["general"]) if in_general_holdout(record_hash(r))}
    train = {record_hash(r) for r in _records(tmp_path / "mix" / "train.jsonl")}
    assert held_out
    assert not held_out & train
    curated = next(source for source in report.to_dict()["sources"] if source["name"] == "curated")
    assert curated["excluded"] == len(held_out)
    customer = next(source for source in report.to_dict()["sources"] if source["name"] == "customer")
    assert customer["excluded"] == 0  # the customer's data is never held out for the general suite
