"""The byte-level line reader: same lines as a plain split, whatever the chunking; long lines skipped."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.dataset.lines import iter_lines


def _expected(data: bytes, cap: int) -> list[tuple[int, bytes | None, int, bool]]:
    pieces = data.split(b"\n")
    terminated = [True] * (len(pieces) - 1)
    if pieces[-1] == b"":
        pieces.pop()
    else:
        terminated.append(False)
    return [
        (number, None if len(piece) > cap else piece, len(piece), ended)
        for number, (piece, ended) in enumerate(zip(pieces, terminated, strict=True), start=1)
    ]


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"\n", b"a", b"bc", b"\r\n", b"{}", b"x" * 20]), max_size=60).map(
        b"".join
    ),
    cap=st.integers(min_value=1, max_value=40),
    chunk=st.integers(min_value=1, max_value=16),
)
def test_lines_match_a_plain_split_for_any_chunking(data: bytes, cap: int, chunk: int) -> None:
    lines = [tuple(line) for line in iter_lines(io.BytesIO(data), max_line_bytes=cap, chunk_bytes=chunk)]
    assert lines == _expected(data, cap)


def test_a_50_mb_single_line_is_skipped_not_buffered() -> None:
    data = b'{"messages": "' + b"x" * (50 * 1024 * 1024) + b'"}\n{}\n'
    lines = list(iter_lines(io.BytesIO(data)))
    assert [(line.number, line.data, line.terminated) for line in lines] == [
        (1, None, True),
        (2, b"{}", True),
    ]
    assert lines[0].size == len(data) - 4


def test_last_line_without_newline_is_flagged() -> None:
    lines = list(iter_lines(io.BytesIO(b"{}\n{")))
    assert lines[-1].terminated is False
    assert lines[-1].data == b"{"


def test_empty_stream_has_no_lines() -> None:
    assert list(iter_lines(io.BytesIO(b""))) == []
