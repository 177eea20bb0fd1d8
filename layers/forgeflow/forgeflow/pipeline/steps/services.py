"""`Services`: the ports a step may use, built by the handler (boto3) or by a test (in-memory fakes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.ports import ResultsBus, RunLedger, TrainingJobs
from forgeflow.storage import Storage


@dataclass
class Services:
    settings: PipelineSettings
    storage: Storage
    ledger: RunLedger
    bus: ResultsBus
    jobs: TrainingJobs
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
