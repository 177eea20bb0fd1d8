"""In-memory implementations of `forgeflow.ports`, for pure domain tests that run in milliseconds.

Each fake keeps what it was given in plain attributes, so a test can set up a state and assert on it
directly (`ledger.rows["r1"].status`, `bus.entries`, `jobs.stopped`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from forgeflow.pipeline.errors import RunsAtCapacity
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.steps import Services
from forgeflow.ports import ACTIVE_STATUSES, JobState, LedgerRow
from forgeflow.storage import Storage

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class FakeJobs:
    """Training jobs by name and status (Step Functions creates them; the steps describe, stop, list)."""

    statuses: dict[str, str] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)

    def describe(self, name: str) -> JobState:
        status = self.statuses[name]
        return JobState(
            name=name,
            status=status,
            secondary_status="Training",
            failure_reason="boom" if status == "Failed" else "",
            model_artifacts=f"s3://b/{name}/model.tar.gz",
            output_uri="s3://b/runs/r1/jobs/",
            created_at=NOW,
        )

    def stop(self, name: str) -> bool:
        self.stopped.append(name)
        self.statuses[name] = "Stopping"
        return True

    def list_active(self, name_contains: str) -> list[str]:
        return [n for n, s in self.statuses.items() if name_contains in n and s in ACTIVE_STATUSES]


@dataclass
class FakeLedger:
    rows: dict[str, LedgerRow] = field(default_factory=dict)

    @classmethod
    def of(cls, *rows: dict[str, Any]) -> FakeLedger:
        return cls({row["run_id"]: LedgerRow.model_validate(row) for row in rows})

    def register(self, row: LedgerRow, *, max_running: int | None = None) -> bool:
        if row.run_id in self.rows:
            return False
        running = sum(1 for known in self.rows.values() if known.status == "RUNNING")
        if max_running is not None and row.status == "RUNNING" and running >= max_running:
            raise RunsAtCapacity.at(max_running)
        self.rows[row.run_id] = row.model_copy(deep=True)
        return True

    def get(self, run_id: str) -> LedgerRow | None:
        return self.rows.get(run_id)

    def update(self, run_id: str, **fields: Any) -> None:
        self.rows[run_id] = self.rows[run_id].model_copy(update=fields)

    def reclaim(self, run_id: str, execution_arn: str, *, max_running: int | None = None) -> bool:
        row = self.rows.get(run_id)
        if row is None or row.status != "FAILED":
            return False
        running = sum(1 for known in self.rows.values() if known.status == "RUNNING")
        if max_running is not None and running >= max_running:
            raise RunsAtCapacity.at(max_running)
        cleared = {
            "outcome_event_id": None,
            "error_code": None,
            "message": None,
            "result_uri": None,
            "approval_token": None,
            "approval_requested_at": None,
        }
        self.update(run_id, status="RUNNING", execution_arn=execution_arn, stage="register", **cleared)
        return True

    def add_job(self, run_id: str, job_name: str) -> None:
        row = self.rows[run_id]
        if job_name not in row.job_names:
            row.job_names.append(job_name)

    def find_by_execution(self, execution_arn: str) -> LedgerRow | None:
        return next((r for r in self.rows.values() if r.execution_arn == execution_arn), None)

    def hold_for_approval(self, run_id: str, execution_arn: str, token: str) -> bool:
        row = self.rows.get(run_id)
        if row is None or row.status != "RUNNING" or row.execution_arn != execution_arn:
            return False
        self.update(run_id, approval_token=token, approval_requested_at=NOW.isoformat(), stage="approval")
        return True


@dataclass
class FakeBus:
    entries: list[dict[str, Any]] = field(default_factory=list)

    def put(self, entry: dict[str, Any]) -> str:
        self.entries.append(entry)
        return f"event-{len(self.entries)}"


def fake_services(
    jobs: FakeJobs | None = None,
    ledger: FakeLedger | None = None,
    bus: FakeBus | None = None,
    storage: Storage | None = None,
    settings: PipelineSettings | None = None,
) -> Services:
    """Services wired to fakes (local-disk storage, a fixed clock); run `r1` is registered and RUNNING."""
    return Services(
        settings=settings or PipelineSettings(data_bucket="b", results_bus_name="results"),
        storage=storage or Storage(),
        ledger=ledger if ledger is not None else FakeLedger.of({"run_id": "r1", "status": "RUNNING"}),
        bus=bus or FakeBus(),
        jobs=jobs or FakeJobs(),
        clock=lambda: NOW,
        sleep=lambda seconds: None,
    )
