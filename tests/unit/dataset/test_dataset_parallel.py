"""Parallel validation over byte ranges (issue 14) gives the one-process report, whatever the cuts."""

from __future__ import annotations

import io
import itertools
import multiprocessing
import pickle
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeflow.dataset import parallel
from forgeflow.dataset.parallel import split_ranges, validate_file, worker_count
from forgeflow.dataset.validation import ValidationOptions, validate_stream, validate_uri
from forgeflow.nova import Method
from forgeflow.storage import Storage
from forgeflow_tools.cli.main import main
from forgeflow_tools.cli.progress import ProgressLine


def _sft(text: str) -> bytes:
    return orjson.dumps(
        {
            "messages": [
                {"role": "user", "content": [{"text": text}]},
                {"role": "assistant", "content": [{"text": "shipping/lost_parcel"}]},
            ]
        }
    )


def _dpo(text: str) -> bytes:
    candidates = [
        {"content": [{"text": "yes"}], "preferenceLabel": "preferred"},
        {"content": [{"text": "no"}], "preferenceLabel": "non-preferred"},
    ]
    return orjson.dumps(
        {
            "messages": [
                {"role": "user", "content": [{"text": text}]},
                {"role": "assistant", "candidates": candidates},
            ]
        }
    )


# Valid records (repeated: duplicates across ranges), every kind of broken line, the lines that decide
# a range's state (blank, over-long, a DPO record in an SFT file, a JSON array at the start).
LINES = [
    _sft("where is my parcel?"),
    _sft("where is my parcel?"),
    _sft("a longer question about the refund of order 12345, at 10:30 [see note] <b>now</b>"),
    _sft("User: hello"),  # RESERVED_STRING
    _sft(""),
    _dpo("which is better?"),
    b'{"messages": [{"role": "user", "content": []}]}',
    b'{"messages": "nope"}',
    b'{"schemaVersion": 3}',
    b"[1, 2]",
    b"not json",
    b"\xff\xfe",
    b"",
    b"   ",
    _sft("crlf") + b"\r",
    b"\xef\xbb\xbf" + _sft("a BOM past line 1"),  # JSON_PARSE, not BOM, even where a range starts
    b"x" * 300,  # over the 200-byte cap of some options below
]
OPTIONS = [
    ValidationOptions(),
    ValidationOptions(max_error_details=2, max_line_bytes=200),
    ValidationOptions(method=Method.DPO, strict=True, max_error_details=0),
]


def _in_process(function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
    # What the process pool does to a part: pickle it across.
    return (pickle.loads(pickle.dumps(function(task))) for task in tasks)


def _single(path: Path, options: ValidationOptions) -> dict[str, Any]:
    with path.open("rb") as stream:
        return validate_stream(stream, options, str(path)).to_dict()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    picks=st.lists(st.integers(0, len(LINES) - 1), max_size=40),
    head=st.sampled_from([b"", b"\xef\xbb\xbf", b"[", b"\n\n"]),
    terminated=st.booleans(),
    workers=st.integers(2, 7),
    chunk=st.integers(1, 400),
    options=st.sampled_from(OPTIONS),
)
def test_parallel_and_single_process_reports_are_identical(
    tmp_path: Path,
    picks: list[int],
    head: bytes,
    terminated: bool,
    workers: int,
    chunk: int,
    options: ValidationOptions,
) -> None:
    path = tmp_path / "data.jsonl"
    data = head + b"\n".join(LINES[index] for index in picks)
    path.write_bytes(data + (b"\n" if terminated and data else b""))
    parallel_report = validate_file(
        path, options, str(path), workers, mapper=_in_process, chunk_bytes=chunk
    ).to_dict()
    assert parallel_report == _single(path, options)


def test_the_worker_processes_give_the_same_report_and_leave_no_spill_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = tmp_path / "data.jsonl"
    lines = [_sft(f"question {n % 50}") for n in range(400)] + [_sft("User: hi"), b"{"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = validate_file(path, ValidationOptions(), str(path), 3).to_dict()
    assert report == _single(path, ValidationOptions())
    assert report["stats"]["duplicates"] == 350  # repeats across ranges count: one key digest everywhere
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_range_that_guessed_the_method_wrong_is_validated_again(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join([_sft("a")] * 30 + [_dpo("b")] * 30) + b"\n")
    report = validate_file(path, ValidationOptions(), str(path), 2, mapper=_in_process).to_dict()
    assert report == _single(path, ValidationOptions())
    assert report["error_codes"] == {"METHOD_MISMATCH": 30}


def test_a_json_array_after_blank_ranges_is_still_the_first_record(tmp_path: Path) -> None:
    path = tmp_path / "array.jsonl"
    path.write_bytes(b"\n" * 100 + b"[" + _sft("a") + b",\n" + _sft("b") + b"]\n")
    report = validate_file(path, ValidationOptions(), str(path), 4, mapper=_in_process).to_dict()
    assert report == _single(path, ValidationOptions())
    assert "JSON_ARRAY_FILE" in report["error_codes"]


def test_ranges_end_after_a_newline_and_cover_the_file(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"a" * 10 + b"\n" + b"b" * 3 + b"\n" + b"c" * 50)
    ranges = split_ranges(path, 5)
    assert ranges[0][0] == 0
    assert ranges[-1][1] == path.stat().st_size
    assert all(end == start for (_, end), (start, _) in itertools.pairwise(ranges))
    assert [path.read_bytes()[end - 1 : end] for _, end in ranges[:-1]] == [b"\n"] * (len(ranges) - 1)


def test_auto_workers_only_for_large_files_on_several_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "available_cpus", lambda: 4)
    assert worker_count(None, parallel.PARALLEL_MIN_BYTES - 1) == 1
    assert worker_count(None, 10 * parallel.PARALLEL_MIN_BYTES) == 4
    assert worker_count(3, 10) == 3  # asked for: tests and benchmarks split even small files
    monkeypatch.setattr(parallel, "available_cpus", lambda: 1)
    assert worker_count(None, 10 * parallel.PARALLEL_MIN_BYTES) == 1


def test_validate_uri_splits_only_plain_local_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(
        "forgeflow.dataset.validation.validate_file",
        lambda *args, **kwargs: calls.append((args[2], args[3])),
    )
    plain, packed = tmp_path / "d.jsonl", tmp_path / "d.jsonl.gz"
    plain.write_bytes(_sft("a") + b"\n")
    packed.write_bytes(b"\x1f\x8b" + b"\0" * 10)
    storage = Storage()  # local paths only
    validate_uri(storage, str(plain), workers=2)
    validate_uri(storage, str(packed), workers=2)  # gzip: one stream
    validate_uri(storage, str(plain), ValidationOptions(check_media=True), workers=2)  # a probe: one
    validate_uri(storage, str(plain), workers=1)
    validate_uri(storage, str(plain), workers=None)  # auto: a file this small is one stream
    assert calls == [(str(plain), 2)]  # only the plain file, with the workers asked for


def test_the_cli_takes_workers_and_refuses_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n".join([_sft(f"q{n % 7}") for n in range(50)] + [_sft("Bot: x")]) + b"\n")
    reports = []
    for workers in ("1", "3"):
        assert main(["validate", str(path), "--workers", workers, "--output", "json"]) == 1
        reports.append(orjson.loads(capsys.readouterr().out))
    assert reports[0] == reports[1]
    assert main(["validate", str(path), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "--workers must be 1 or more" in err
    assert "Traceback" not in err


def _progress_file(tmp_path: Path) -> Path:
    path = tmp_path / "progress.jsonl"
    path.write_bytes(b"\n".join(_sft(f"question {n} " + "words " * 40) for n in range(6000)) + b"\n")
    return path


def test_the_workers_report_progress_while_they_run(tmp_path: Path) -> None:
    # Before: the parent reported once, at the end (the bar stayed at 0 until then).
    path = _progress_file(tmp_path)
    size = path.stat().st_size
    seen: list[int] = []
    report = validate_file(
        path,
        ValidationOptions(),
        str(path),
        2,
        progress=seen.append,
        chunk_bytes=1 << 14,
        progress_bytes=1 << 14,
        poll_seconds=0.001,
    ).to_dict()
    assert report == _single(path, ValidationOptions())
    assert seen == sorted(seen)
    assert any(0 < done < size for done in seen[:-1])  # counts from the workers, while they ran
    assert seen[-1] >= size


def test_the_cli_progress_bar_follows_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _progress_file(tmp_path)
    bars: list[ProgressLine] = []

    def terminal_bar(stream: Any, label: str, total: int | None = None) -> ProgressLine:
        bars.append(ProgressLine(io.StringIO(), label, total, interval=0.0))
        return bars[-1]

    monkeypatch.setattr("forgeflow_tools.cli.progress.progress_line", terminal_bar)
    assert main(["validate", str(path), "--workers", "2"]) == 0
    assert bars[0].done >= path.stat().st_size  # was 0: the workers' reads never reached the bar


def test_workers_not_forked_key_duplicates_by_blake2b(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Forked workers share the parent's hash() secret; spawned ones do not, so their keys must be stable.
    monkeypatch.setattr(parallel, "_CONTEXT", multiprocessing.get_context("spawn"))
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\n".join(_sft(f"question {n % 50}") for n in range(400)) + b"\n")
    seen: list[int] = []
    report = validate_file(path, ValidationOptions(), str(path), 2, progress=seen.append).to_dict()
    assert report == _single(path, ValidationOptions())
    assert report["stats"]["duplicates"] == 350
    assert seen[-1] >= path.stat().st_size
