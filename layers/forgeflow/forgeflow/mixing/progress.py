"""Progress of one mix in bytes read and written, reported to the caller's callback in coarse steps.

Shared by the scan (bytes read, also from forked scan processes) and the write (bytes written); the
engine creates the meter, adjusts its total once the selection is known, and finishes it.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]
_PROGRESS_STEP = 8 * 1024 * 1024


class ProgressMeter:
    """Counts bytes and calls `callback(done, total)` at most once per step of 8 MiB (and at the end)."""

    def __init__(self, callback: Progress | None, total: int) -> None:
        self._callback = callback
        self.total = max(total, 1)
        self.done = 0
        self._next = _PROGRESS_STEP

    def advance(self, amount: int) -> None:
        self.done += amount
        if self._callback is not None and self.done >= self._next:
            self._next = self.done + _PROGRESS_STEP
            self._callback(min(self.done, self.total), self.total)

    def finish(self) -> None:
        if self._callback is not None:
            self._callback(self.total, self.total)
