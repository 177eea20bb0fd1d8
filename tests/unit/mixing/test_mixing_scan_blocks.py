"""The mix's scan on the validator's block-level fast path: the validator's verdicts and messages, whatever
the read chunk size, and output independent of it (issue 14)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from forgeflow.dataset.validation import validate_stream
from forgeflow.errors import DataError
from forgeflow.mixing import scan
from forgeflow.mixing.engine import run_mix
from forgeflow.mixing.plan import parse_plan
from forgeflow.storage import Storage


def _text(user: str, assistant: str = "an answer", role: str = "assistant") -> bytes:
    record = {
        "messages": [
            {"role": "user", "content": [{"text": user}]},
            {"role": role, "content": [{"text": assistant}]},
        ]
    }
    return orjson.dumps(record)


# Invalid lines of every path through the scan: a parse error ending in "}", a reserved string (plain,
# upper case, and spelled with a \u escape, which the chunk scan cannot clear), a wrong role, an empty
# text, a JSON value that is no object, a CRLF line, and a truncated, unterminated last line.
INVALID = [
    b'{"messages": [}',
    _text("please answer", "User: again"),
    _text("ASSISTANT: hello"),
    _text("question", "Xser: escaped").replace(b"Xser", b"\\u0055ser"),
    _text("question", role="user"),
    _text(""),
    b"[1, 2]",
    _text("crlf and Bot: here") + b"\r",
]


def _corpus(path: Path) -> None:
    lines = [_text(f"valid question {i}", f"valid answer {i} " + "x" * (i % 7) * 9) for i in range(40)]
    for offset, bad in enumerate(INVALID):
        lines.insert(3 + offset * 5, bad)
    lines.insert(20, b"")  # a blank line: counted, not a finding
    path.write_bytes(b"\n".join(lines) + b'\n{"messages": [')


def _expected(path: Path) -> str:
    """What the mix must say: the validator's first finding of each invalid record, in line order."""
    with path.open("rb") as stream:
        report = validate_stream(stream)
    first: dict[int, Any] = {}
    for issue in report.errors:
        first.setdefault(issue.line, issue)
    entries = [
        f"{path} line {line}{f' at {issue.path}' if issue.path else ''}: {issue.message}"
        for line, issue in sorted(first.items())
    ]
    assert len(entries) == len(INVALID) + 1  # every fault made a finding, the truncated tail too
    return "customer source 'customer' has invalid records: " + "; ".join(entries)


def _plan(root: Path, validation_fraction: float = 0.0) -> Any:
    return parse_plan(
        {
            "seed": 3,
            "validation_fraction": validation_fraction,
            "sources": [{"name": "customer", "role": "customer", "uri": str(root / "customer"), "weight": 1}],
        }
    )


@pytest.mark.parametrize("chunk", [scan.CHUNK_BYTES, 64, 1])
def test_scan_findings_equal_the_validators(tmp_path: Path, monkeypatch: Any, chunk: int) -> None:
    (tmp_path / "customer").mkdir()
    path = tmp_path / "customer" / "part.jsonl"
    _corpus(path)
    monkeypatch.setattr(scan, "CHUNK_BYTES", chunk)  # small chunks: lines spanning reads
    with pytest.raises(DataError) as caught:
        run_mix(_plan(tmp_path), str(tmp_path / "out"), Storage(), workers=1)
    assert caught.value.code == "INVALID_SOURCE_RECORD"
    assert caught.value.message == _expected(path)


def test_mix_output_does_not_depend_on_the_read_chunk(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "customer").mkdir()
    lines = [_text(f"question {i} " + "é" * (i % 5), f"answer {i}") for i in range(60)]
    lines[7] = b'{ "messages" : ' + orjson.dumps(orjson.loads(lines[7])["messages"]) + b" }"  # not canonical
    lines[9] += b"\r"
    (tmp_path / "customer" / "part.jsonl").write_bytes(b"\n".join(lines) + b"\n\n")
    outputs = []
    for chunk in (scan.CHUNK_BYTES, 50):
        monkeypatch.setattr(scan, "CHUNK_BYTES", chunk)
        out = tmp_path / f"out-{chunk}"
        report = run_mix(_plan(tmp_path, 0.2), str(out), Storage(), workers=1).to_dict()
        files = [(out / name).read_bytes() for name in ("train.jsonl", "validation.jsonl")]
        outputs.append((files, report["sources"][0]["held_out"], report["sources"][0]["blank_lines"]))
    assert outputs[0] == outputs[1]
    train, validation = outputs[0][0]
    assert sorted((train + validation).splitlines()) == sorted(
        orjson.dumps(orjson.loads(line)) for line in lines
    )
    assert hashlib.sha256(train).hexdigest() != hashlib.sha256(validation).hexdigest()
