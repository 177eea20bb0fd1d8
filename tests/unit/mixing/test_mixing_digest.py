"""The background SHA-256 (mixing/digest.py) answers what hashlib answers, in order, and stops its thread."""

from __future__ import annotations

import hashlib
import random
import threading

import pytest

from forgeflow.mixing.digest import BackgroundSha256


def test_the_background_digest_equals_hashlib_over_chunks_of_every_size() -> None:
    rng = random.Random(7)
    # Small chunks (hashed under the GIL), large ones (released) and more of them than may wait at once.
    chunks = [rng.randbytes(rng.choice([0, 1, 2047, 2048, 70_000, 1 << 20])) for _ in range(40)]
    with BackgroundSha256() as digest:
        for chunk in chunks:
            digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()


def test_the_worker_thread_ends_with_the_block_even_on_an_error() -> None:
    before = {thread.ident for thread in threading.enumerate()}

    def failing_writer() -> None:
        with BackgroundSha256() as digest:
            digest.update(b"x" * 4096)
            raise RuntimeError("the write failed")

    with pytest.raises(RuntimeError):
        failing_writer()
    assert {thread.ident for thread in threading.enumerate()} <= before
