"""A SHA-256 computed on a second thread while the caller goes on producing the bytes it digests.

hashlib releases the GIL while it hashes a buffer over 2 KiB (CPython Modules/hashlib.h,
HASHLIB_GIL_MINSIZE = 2048), so the digest of a 1 MiB write batch runs on the other core while the writer
interleaves the next one (`write.py`; bench/mix.py on 100 MB: 176–193 against 164–181 MB/s, three
alternating runs). The scan hashes its input inline: its forked workers already keep both cores busy,
and a thread there measured no faster. One worker thread keeps the updates in order; at most `_PENDING`
chunks wait for it, so memory stays bounded when hashing falls behind.
"""

from __future__ import annotations

import hashlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

_PENDING = 4  # batches queued at most (1 MiB each)


class BackgroundSha256:
    """`update(data)` queues `data` (bytes the caller no longer changes); `hexdigest()` waits for all."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        self._pending: deque[Future[None]] = deque()

    def update(self, data: bytes) -> None:
        if len(self._pending) >= _PENDING:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._digest.update, data))

    def hexdigest(self) -> str:
        while self._pending:
            self._pending.popleft().result()
        return self._digest.hexdigest()

    def close(self) -> None:
        """Stops the worker thread (waiting for the queued updates)."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> BackgroundSha256:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
