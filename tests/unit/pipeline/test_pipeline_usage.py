"""Issue #15: what an ended run used (jobs by stage and status, GPU instance-hours, actual cost) and the
dashboard metrics it becomes."""

from __future__ import annotations

from dataclasses import replace

from fakes import FakeJobs, FakeLedger, fake_services

from forgeflow.pipeline.state import RunEnd
from forgeflow.pipeline.usage import end_metrics, job_stage, record_run_end
from forgeflow.ports import JobState
from forgeflow.recipes.cost import PriceTable


class BilledJobs(FakeJobs):
    """FakeJobs whose jobs were billed `seconds` on `count` instances of `instance`."""

    def __init__(self, statuses: dict[str, str], instance: str, seconds: int, count: int) -> None:
        super().__init__(statuses)
        self.billing = {"billable_seconds": seconds, "instance_type": instance, "instance_count": count}

    def describe(self, name: str) -> JobState:
        return replace(super().describe(name), **self.billing)


def test_run_end_counts_jobs_by_stage_and_status_and_prices_the_billed_hours() -> None:
    names = ["forgeflow-r1-smoke-1", "forgeflow-r1-train-1", "forgeflow-r1-train-2", "forgeflow-r1-gone-1"]
    jobs = BilledJobs(
        {names[0]: "Completed", names[1]: "Failed", names[2]: "Stopped"}, "ml.p5.48xlarge", 1800, 2
    )
    ledger = FakeLedger.of({"run_id": "r1", "job_names": names})
    services = fake_services(jobs=jobs, ledger=ledger)
    services.jobs.describe = _missing_is_failed(jobs)

    ended = record_run_end("r1", services, "Run Failed", stage="train")

    assert ended.jobs == {"smoke/Completed": 1, "train/Failed": 1, "train/Stopped": 1}
    assert ended.gpu_instance_hours == 3.0  # three jobs × 1800 s × 2 instances
    price, _ = PriceTable.default().lookup("ml.p5.48xlarge", services.settings.region)
    assert price is not None
    assert ended.actual_cost_usd == round(3.0 * price.usd_per_hour, 4)
    # The ledger keeps the run's totals and which jobs are counted (the missing name is not).
    row = ledger.rows["r1"].model_extra or {}
    assert row["counted_jobs"] == names[:3]
    assert (row["gpu_instance_hours"], ledger.rows["r1"].actual_cost_usd) == (3.0, ended.actual_cost_usd)


def test_a_rerun_counts_only_its_own_jobs_and_adds_to_the_run_totals() -> None:
    first = ["forgeflow-r1-train-1"]
    jobs = BilledJobs({first[0]: "Failed"}, "ml.p5.48xlarge", 3600, 1)
    ledger = FakeLedger.of({"run_id": "r1", "job_names": first})
    services = fake_services(jobs=jobs, ledger=ledger)
    record_run_end("r1", services, "Run Failed", stage="train")
    # The re-run's attempt continues the names; its end must not count train-1 again.
    jobs.statuses["forgeflow-r1-train-2"] = "Completed"
    ledger.update("r1", job_names=[*first, "forgeflow-r1-train-2"])

    again = record_run_end("r1", services, "Run Succeeded")

    assert again.jobs == {"train/Completed": 1}
    assert again.gpu_instance_hours == 1.0
    assert (ledger.rows["r1"].model_extra or {})["gpu_instance_hours"] == 2.0
    # The row's cost is the whole run's: both executions' jobs.
    each = again.actual_cost_usd  # both jobs billed the same hour
    assert each is not None
    assert each > 0
    assert ledger.rows["r1"].actual_cost_usd == round(2 * each, 4)


def test_an_unpriced_instance_type_leaves_the_actual_cost_unknown_not_zero() -> None:
    jobs = BilledJobs({"forgeflow-r1-train-1": "Completed"}, "ml.unknown.large", 3600, 1)
    ledger = FakeLedger.of({"run_id": "r1", "job_names": ["forgeflow-r1-train-1"]})
    ended = record_run_end("r1", fake_services(jobs=jobs, ledger=ledger), "Run Succeeded")
    assert (ended.actual_cost_usd, ended.gpu_instance_hours) == (None, 0.0)


def test_end_metrics_name_the_outcome_stage_verdict_and_jobs() -> None:
    failed = end_metrics(RunEnd(detail_type="Run Failed", stage="smoke", jobs={"smoke/Failed": 2}))
    assert [(p.name, p.value, p.dimensions) for p in failed] == [
        ("RunsFailed", 1, ()),
        ("RunsFailed", 1, (("stage", "smoke"),)),
        ("JobsEnded", 2, (("stage", "smoke"), ("status", "Failed"))),
        ("GpuInstanceHours", 0.0, ()),
    ]
    regressed = end_metrics(RunEnd(detail_type="Run Succeeded", verdict="regressed", actual_cost_usd=9.5))
    assert [p.name for p in regressed] == [
        "RunsSucceeded",
        "RunsRegressed",
        "GpuInstanceHours",
        "ActualCostUsd",
    ]


def test_job_stage_reads_the_job_name() -> None:
    assert [job_stage(f"forgeflow-r-1-{s}-3") for s in ("smoke", "train", "eval-mmlu-base", "x")] == [
        "smoke",
        "train",
        "evaluate",
        "other",
    ]


def _missing_is_failed(jobs: FakeJobs):  # type: ignore[no-untyped-def]
    from forgeflow.pipeline.errors import JobFailed

    describe = jobs.describe

    def answer(name: str) -> JobState:
        if name not in jobs.statuses:
            raise JobFailed(f"no job {name}")
        return describe(name)

    return answer
