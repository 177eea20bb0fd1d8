"""Baseline cache entries (forgeflow.evaluation.baseline) and a job's actual cost (forgeflow.jobs.billing)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from forgeflow.evaluation import baseline
from forgeflow.jobs.billing import job_cost, run_cost
from forgeflow.ports import JobState
from forgeflow.recipes.cost import PriceTable
from forgeflow.storage import Storage

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_an_entry_names_its_job_and_is_a_miss_once_its_archive_is_gone(tmp_path: Path) -> None:
    storage = Storage()
    archive = tmp_path / "output.tar.gz"
    archive.write_bytes(b"x")
    gen_qa = tmp_path / "gen_qa.jsonl"
    gen_qa.write_bytes(b'{"query": "q", "response": "r"}\n')
    digest = baseline.dataset_hash(storage, str(gen_qa))
    assert baseline.dataset_hash(storage, None) == "benchmark"
    uri = str(tmp_path / "baseline" / "lite" / "general" / f"{digest}.json")
    assert baseline.read_entry(storage, uri) is None
    written = baseline.write_entry(
        storage,
        uri,
        job_name="forgeflow-r-eval-general-base-1",
        output_archive=str(archive),
        run_id="r",
        now=NOW,
    )
    assert (written.model, written.suite, written.dataset_sha256) == ("lite", "general", digest)
    assert baseline.read_entry(storage, uri) == written
    archive.unlink()
    assert baseline.read_entry(storage, uri) is None  # stale: the next base job overwrites it


def test_an_unreadable_entry_is_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "baseline" / "lite" / "mmlu" / "benchmark.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"{not json")
    assert baseline.read_entry(Storage(), str(path)) is None


def state(seconds: int | None, instance: str | None = "ml.p5.48xlarge", count: int = 2) -> JobState:
    return JobState("j", "Completed", "Completed", "", None, None, NOW, seconds, instance, count)


def test_a_job_costs_billable_seconds_times_instances_times_the_hourly_price() -> None:
    prices = PriceTable.default()
    hourly = prices.lookup("ml.p5.48xlarge", "us-east-1")[0]
    assert hourly is not None
    row = job_cost(state(1800), "train", prices, "us-east-1")
    assert row["usd"] == pytest.approx(round(0.5 * 2 * hourly.usd_per_hour, 4))
    assert (row["stage"], row["instance_count"], row["billable_seconds"]) == ("train", 2, 1800)


def test_an_unbilled_or_unpriced_job_is_listed_not_summed() -> None:
    prices = PriceTable.default()
    rows = [
        job_cost(state(3600, count=1), "train", prices, "us-east-1"),
        job_cost(state(None), "smoke", prices, "us-east-1"),
        job_cost(state(60, instance="ml.unknown.xlarge"), "eval-mmlu-base", prices, "us-east-1"),
    ]
    cost = run_cost(rows, 10.0)
    assert cost["actual_usd"] == rows[0]["usd"]
    assert cost["estimate_usd"] == 10.0
    assert len(cost["unpriced"]) == 2


def test_a_nova_model_s_key_is_its_name_and_the_stand_in_s_follows_its_curated_pool(tmp_path: Path) -> None:
    storage = Storage()
    pool = tmp_path / "curated"
    (pool / "sft").mkdir(parents=True)
    (pool / "sft" / "general.jsonl").write_bytes(b'{"a": 1}\n')
    assert baseline.model_key("lite", storage) == "lite"  # (model, suite, eval-dataset hash) as before
    before = baseline.model_key("lite", storage, f"{pool}/")
    assert before.startswith("lite.stand-in-")
    assert baseline.model_key("lite", storage, f"{pool}/") == before  # same pool, same key
    (pool / "sft" / "general.jsonl").write_bytes(b'{"a": 1}\n{"b": 2}\n')
    assert baseline.model_key("lite", storage, f"{pool}/") != before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert baseline.model_key("lite", storage, f"{empty}/").startswith("lite.stand-in-")
