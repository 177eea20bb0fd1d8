"""Local outputs get the mode `open()` would give them (issue #10: every output was 0600)."""

from __future__ import annotations

import os
from pathlib import Path

from forgeflow.storage import Storage


def test_a_new_output_respects_the_umask_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        new = tmp_path / "new.jsonl"
        Storage().write_bytes(str(new), b"{}\n")
        assert new.stat().st_mode & 0o777 == 0o640
        existing = tmp_path / "existing.jsonl"
        existing.write_bytes(b"old\n")
        existing.chmod(0o644)
        Storage().write_bytes(str(existing), b"{}\n")  # an in-place convert
        assert existing.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(previous)
