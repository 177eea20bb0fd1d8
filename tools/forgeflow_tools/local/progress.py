"""The live, state-by-state view of one execution, drawn from its Step Functions history.

Each state is printed when it is first entered and again when it ends (with its duration, or the error
that failed it); poll loops are not repeated but counted. The emulated SageMaker jobs' secondary
statuses are shown as they change, labelled "emulated".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

JobsProvider = Callable[[], Sequence[tuple[str, str, str]]]


@dataclass
class ProgressView:
    stream: TextIO
    jobs: JobsProvider | None = None
    job_note: str = " (emulated)"  # the local runtime's jobs train nothing; a deployed stack's do
    _seen: int = 0
    _entered: dict[str, dt.datetime] = field(default_factory=dict)
    _visits: dict[str, int] = field(default_factory=dict)
    _job_states: dict[str, str] = field(default_factory=dict)
    _current: str | None = None
    _failed: set[str] = field(default_factory=set)

    def _print(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, history: Sequence[dict[str, Any]]) -> None:
        for event in history[self._seen :]:
            self._event(event)
        self._seen = len(history)
        self._show_jobs()

    def _event(self, event: dict[str, Any]) -> None:
        kind = str(event["type"])
        if kind.endswith("StateEntered"):
            name = str(event["stateEnteredEventDetails"]["name"])
            self._current = name
            self._visits[name] = self._visits.get(name, 0) + 1
            self._entered[name] = event["timestamp"]
            if self._visits[name] == 1:
                self._print(f"  ▸ {name}")
        elif kind.endswith("StateExited"):
            name = str(event["stateExitedEventDetails"]["name"])
            if self._visits.get(name, 0) == 1 and name not in self._failed:
                took = (event["timestamp"] - self._entered.get(name, event["timestamp"])).total_seconds()
                self._print(f"  ✓ {name:<28} {took:6.2f}s")
        elif kind == "TaskFailed":
            details = (
                event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
            )
            self._failed.add(self._current or "?")
            self._print(f"  ✗ {self._current or '?':<28} {details.get('error', 'error')}")
        elif kind.startswith("Execution") and kind != "ExecutionStarted":
            loops = {name: count for name, count in self._visits.items() if count > 1}
            if loops:
                self._print(
                    "    poll loops: " + ", ".join(f"{name} ×{count}" for name, count in loops.items())
                )
            self._print(f"  ■ {kind.removeprefix('Execution').upper()}")

    def _show_jobs(self) -> None:
        if self.jobs is None:
            return
        for name, status, secondary in self.jobs():
            label = f"{status}/{secondary}"
            if self._job_states.get(name) != label:
                self._job_states[name] = label
                self._print(f"    ↳ SageMaker job {name}: {secondary}{self.job_note}")
