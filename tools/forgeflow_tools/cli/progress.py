"""A one-line progress display for long work (validate, convert, split, mix): share, rate and ETA.

Shown only when stderr is a terminal; piped or redirected, the command prints no progress at all, so logs
and `2>file` stay clean.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 24


class ProgressLine:
    """Redraws `label [####....] 42.0% 12 MB of 30 MB, 85 MB/s, ETA 0:03` in place (at most every 0.2 s)."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        total: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 0.2,
    ) -> None:
        self._stream = stream
        self._label = label
        self.total = total
        self._clock = clock
        self._interval = interval
        self._started = clock()
        self._shown_at: float | None = None
        self.done = 0

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = self._clock()
        if self._shown_at is not None and now - self._shown_at < self._interval:
            return
        self._shown_at = now
        self._stream.write("\r" + self.render(now) + "\x1b[K")  # \x1b[K: clear what a longer line left
        self._stream.flush()

    def advance(self, count: int) -> None:
        self.update(self.done + count)

    def render(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        text = f"{self._label} {self.done / 1e6:,.0f} MB"
        if self.total:
            share = min(self.done / self.total, 1.0)
            filled = int(share * WIDTH)
            bar = f"[{'#' * filled}{'.' * (WIDTH - filled)}] {share:6.1%}"
            text = f"{self._label} {bar} {self.done / 1e6:,.0f} MB of {self.total / 1e6:,.0f} MB"
        text += f", {rate / 1e6:,.1f} MB/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", ETA {_clock_time((self.total - self.done) / rate)}"
        return text

    def finish(self) -> None:
        """End the line (once something was drawn), so what follows starts on a fresh one."""
        if self._shown_at is not None:
            self._stream.write("\r" + self.render(self._clock()) + "\x1b[K\n")
            self._stream.flush()


def _clock_time(seconds: float) -> str:
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(stream: TextIO, label: str, total: int | None = None) -> ProgressLine | None:
    """A ProgressLine on `stream` when it is a terminal; None (no progress at all) otherwise."""
    return ProgressLine(stream, label, total) if stream.isatty() else None
