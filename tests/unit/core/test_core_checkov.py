"""checkov's skip list (.checkov.yaml) is the one reviewed place for skips: each carries a written reason."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
CHECK_ID = re.compile(r"^\s*- (CKV2?_[A-Z0-9]+_\d+)\s*$")


def _reasons(text: str) -> dict[str, str]:
    """Each skipped check id → the comment lines right above it."""
    reasons: dict[str, str] = {}
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("# "))
            continue
        match = CHECK_ID.match(line)
        if match:
            reasons[match.group(1)] = " ".join(comment)
        comment = []
    return reasons


def test_every_skipped_check_has_a_specific_reason() -> None:
    text = (ROOT / ".checkov.yaml").read_text(encoding="utf-8")
    skipped = yaml.safe_load(text)["skip-check"]
    reasons = _reasons(text)
    assert sorted(reasons) == sorted(skipped), "every skip-check entry must be a bare id under its comment"
    assert len(set(skipped)) == len(skipped)
    for check, reason in reasons.items():
        assert len(reason.split()) >= 15, f"{check}: say why it does not apply (a comment above the id)"


def test_the_reason_checker_refuses_an_unexplained_skip() -> None:
    assert _reasons("skip-check:\n  # why\n  - CKV_AWS_1\n  - CKV_AWS_2\n") == {
        "CKV_AWS_1": "why",
        "CKV_AWS_2": "",
    }


def test_make_test_runs_checkov_with_the_pinned_tools() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test:.* checkov", makefile, re.MULTILINE)
    pins = re.search(r"^IAC_TOOLS\s*:=\s*(.+)$", makefile, re.MULTILINE)
    assert pins is not None
    constraints = (ROOT / "constraints-tools.txt").read_text(encoding="utf-8").splitlines()
    for pin in pins.group(1).split():
        assert "==" in pin
        assert pin in constraints, f"{pin} must match constraints-tools.txt"
