"""The fast path (issue 14) changes nothing but speed: same verdicts, codes, pointers, messages, counts."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.dataset.blocks import ACCOUNT_ID
from forgeflow.dataset.fast import FastPath, raw_clear, scan_lines, unclear_lines
from forgeflow.dataset.passes import LinePass
from forgeflow.dataset.record import RecordOutcome, RecordValidator
from forgeflow.dataset.report import ReportBuilder
from forgeflow.dataset.rules import RESERVED_PATTERN, RESERVED_STRINGS
from forgeflow.dataset.validation import ValidationOptions, validate_stream
from forgeflow.nova import Method, NovaModel
from tests.unit.dataset.test_dataset_fuzz import (
    COMMON,
    DPO_ONLY,
    SFT_ONLY,
    converse_like,
    dpo_records,
    sft_records,
)

HERE = Path(__file__).parent
FILES = sorted((HERE / "corpus").glob("*.jsonl")) + sorted((HERE / "valid").glob("*.jsonl"))
OPTIONS = [
    ValidationOptions(),
    ValidationOptions(method=Method.SFT, model=NovaModel.LITE_2),
    ValidationOptions(model=NovaModel.MICRO, strict=True),
    ValidationOptions(method=Method.DPO, platform="bedrock"),
]


def _slow(options: ValidationOptions) -> RecordValidator:
    """A validator whose fast path declines every record: the full walk alone, as before issue 14."""
    validator = RecordValidator(options)
    validator.fast.counts = lambda *_: None  # type: ignore[method-assign]
    return validator


def _same(fast: RecordOutcome, slow: RecordOutcome) -> None:
    assert fast.errors == slow.errors
    assert fast.warnings == slow.warnings
    assert (fast.counts, fast.est_tokens, fast.method) == (slow.counts, slow.est_tokens, slow.method)
    assert fast.canonical == slow.canonical
    assert fast.sorted_json in (None, slow.sorted_json)  # the fast path leaves the dump to who needs it


def _lines(record: dict[str, Any]) -> list[bytes]:
    # orjson writes UTF-8; json.dumps escapes every non-ASCII character as \uXXXX, as many exports do.
    return [orjson.dumps(record), json.dumps(record).encode(), json.dumps(record, indent=1).encode()]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("options", OPTIONS, ids=range(len(OPTIONS)))
def test_every_corpus_file_gets_the_report_the_full_walk_gives(
    path: Path, options: ValidationOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = validate_stream(io.BytesIO(path.read_bytes()), options).to_dict()
    monkeypatch.setattr("forgeflow.dataset.fast.FastPath.counts", lambda *_: None)
    assert fast == validate_stream(io.BytesIO(path.read_bytes()), options).to_dict()


@pytest.mark.parametrize("name", ["text_sft", "dpo", "multimodal_sft"])
def test_the_common_valid_shapes_take_the_fast_path(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    walked: list[int] = []
    full = RecordValidator._record
    monkeypatch.setattr(RecordValidator, "_record", lambda self, *a: walked.append(1) or full(self, *a))
    report = validate_stream(io.BytesIO((HERE / "valid" / f"{name}.jsonl").read_bytes()))
    assert report.valid
    assert report.valid_records > 0
    assert walked == []


mutation_names = st.sampled_from(sorted({**COMMON, **SFT_ONLY, **DPO_ONLY}))


@settings(max_examples=300, deadline=None)
@given(
    record=sft_records() | dpo_records(),
    mutations=st.lists(mutation_names, max_size=2),
    options=st.sampled_from(OPTIONS),
    data=st.data(),
)
def test_a_mutated_record_gets_the_outcome_of_the_full_walk(
    record: dict[str, Any], mutations: list[str], options: ValidationOptions, data: st.DataObject
) -> None:
    mutated = copy.deepcopy(record)
    for name in mutations:
        mutation = {**COMMON, **SFT_ONLY, **DPO_ONLY}[name]
        try:
            mutation(mutated, data)
        except (KeyError, IndexError, AttributeError):
            continue  # the mutation does not apply to this shape (an SFT mutation on a DPO record)
    for line in _lines(mutated):
        _same(RecordValidator(options).check(3, line), _slow(options).check(3, line))


def _reordered(value: Any) -> Any:
    """The same JSON value with every object's keys in reverse order."""
    if type(value) is dict:
        return {key: _reordered(value[key]) for key in reversed(value)}
    if type(value) is list:
        return [_reordered(item) for item in value]
    return value


def _duplicates(lines: list[bytes], options: ValidationOptions) -> int:
    report = validate_stream(io.BytesIO(b"\n".join(lines) + b"\n"), options)
    return report.stats.duplicates


@settings(max_examples=100, deadline=None)
@given(
    pair=st.lists(sft_records(), min_size=2, max_size=2) | st.lists(dpo_records(), min_size=2, max_size=2),
    mutations=st.lists(mutation_names, max_size=1),
    options=st.sampled_from(OPTIONS),
    data=st.data(),
)
def test_duplicates_are_the_records_of_equal_sorted_dumps_whatever_the_path(
    pair: list[dict[str, Any]], mutations: list[str], options: ValidationOptions, data: st.DataObject
) -> None:
    first, second = pair
    for name in mutations:  # a mutated second record: valid or not, fast or full walk
        try:
            {**COMMON, **SFT_ONLY, **DPO_ONLY}[name](second, data)
        except (KeyError, IndexError, AttributeError):
            continue
    lines = [line for record in (first, _reordered(first), second) for line in _lines(record)[:2]]
    slow = _slow(options)
    walked = [slow.check(1, line) for line in lines]
    sorted_dumps = [o.sorted_json for o in walked if o.valid]
    expected = len(sorted_dumps) - len(set(sorted_dumps))
    assert _duplicates(lines, options) == expected


@settings(max_examples=300, deadline=None)
@given(value=converse_like, options=st.sampled_from(OPTIONS))
def test_arbitrary_json_gets_the_outcome_of_the_full_walk(value: Any, options: ValidationOptions) -> None:
    line = orjson.dumps(value)
    _same(RecordValidator(options).check(1, line), _slow(options).check(1, line))


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(sft_records(), min_size=2, max_size=8),
    general=st.lists(st.booleans(), min_size=8, max_size=8),
    chunk_bytes=st.sampled_from([64, 1 << 20]),
    options=st.sampled_from(OPTIONS),
)
def test_a_file_mixing_both_paths_gets_the_report_of_the_full_walk(
    records: list[dict[str, Any]], general: list[bool], chunk_bytes: int, options: ValidationOptions
) -> None:
    # A trailing space sends a valid line down the general path: the fast path's records reach the builder
    # as one batch per chunk, after the chunk's other records, and the longest record, its line and the
    # first image/video lines must still be those of the file order (equal estimates are likely here).
    lines = [orjson.dumps(r) + (b" " if slow else b"") for r, slow in zip(records, general, strict=False)]
    body = b"\n".join(lines) + b"\n"
    assert _report(body, RecordValidator(options), chunk_bytes) == _report(body, _slow(options), chunk_bytes)


def _turns(user: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": [{"text": "ok"}]}]}
    )


def _media(kind: str) -> dict[str, Any]:
    fmt = "png" if kind == "image" else "mp4"
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": f"s3://media/a.{fmt}"}}}}


@pytest.mark.parametrize("general_first", [True, False], ids=["general-first", "fast-first"])
def test_the_longest_and_first_media_lines_keep_the_file_order_across_paths(general_first: bool) -> None:
    # Lines 2 and 3 are equal records (an image, the longest estimate). The one with a trailing space takes
    # the general path and reaches the builder before the chunk's fast-path batch: line 2 wins either way.
    short, long = _turns([{"text": "hi"}]), _turns([{"text": "why " * 9000}, _media("image")])  # > a video
    pair = [long + b" ", long] if general_first else [long, long + b" "]
    body = b"\n".join([short, *pair, _turns([{"text": "see"}, _media("video")])]) + b"\n"
    options = ValidationOptions(model=NovaModel.LITE_2)
    report = _report(body, RecordValidator(options), 1 << 20)
    assert report["stats"]["longest_record"]["line"] == 2
    assert report["errors"][0]["code"] == "IMAGES_AND_VIDEOS_IN_DATASET"
    assert report["errors"][0]["message"].startswith("line 2 has images and line 4 a video")
    assert report == _report(body, _slow(options), 1 << 20)


def _report(body: bytes, validator: RecordValidator, chunk_bytes: int) -> dict[str, Any]:
    """The report of `body` read `chunk_bytes` at a time."""
    builder = ReportBuilder(validator.options, "<test>")
    LinePass(validator, builder, chunk_bytes=chunk_bytes).run(io.BytesIO(body))
    return builder.finish(validator.method).to_dict()


# -- the raw-line reserved-string test ---------------------------------------------------------------

reserved_text = st.lists(
    st.sampled_from(
        [*RESERVED_STRINGS, "USER", ":", "<", "[", "]", ">", "eos", "\u212a", "\u0130", "\\", " "]
    )
    | st.text(max_size=4),
    max_size=8,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(texts=st.lists(reserved_text, min_size=1, max_size=3))
def test_a_raw_line_is_cleared_only_when_no_text_holds_a_reserved_string(texts: list[str]) -> None:
    record = {
        "system": [{"text": texts[0]}],
        "messages": [{"role": "user", "content": [{"text": t}]} for t in texts],
    }
    held = any(RESERVED_PATTERN.search(text.lower()) for text in texts)
    for line in _lines(record):
        if held:
            assert not raw_clear(line), line


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(reserved_text, max_size=12), escaped=st.booleans())
def test_a_whole_chunk_scan_marks_exactly_the_lines_raw_clear_does_not_clear(
    texts: list[str], escaped: bool
) -> None:
    lines = [
        json.dumps({"text": text}).encode()  # escapes every non-ASCII character as \\u
        if escaped
        else orjson.dumps({"messages": [{"role": "user", "content": [{"text": text}]}]})  # raw UTF-8
        for text in texts
    ]
    body = b"\n".join(lines)
    assert unclear_lines(body) == {
        index for index, line in enumerate(body.split(b"\n")) if not raw_clear(line)
    }
    unclear, spelled = scan_lines(body)
    assert unclear == unclear_lines(body)
    # A reserved string spelled in the raw bytes marks its line spelled (sent to the full walk at once).
    assert spelled <= unclear
    assert {
        index
        for index, line in enumerate(lines)
        if any(s.lower().encode() in line.lower() for s in RESERVED_STRINGS)
    } <= spelled


def _counted_fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    fast_counts = FastPath.counts

    def counted(self: FastPath, record: dict[str, Any], dpo_dataset: bool, clear: bool) -> Any:
        calls.append(len(calls))
        return fast_counts(self, record, dpo_dataset, clear)

    monkeypatch.setattr(FastPath, "counts", counted)
    return calls


def test_a_line_spelling_a_reserved_string_is_walked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 14 (10 % invalid corpus): such a line took a fast walk that stopped at the reserved string,
    # then the full walk; the chunk scan has already seen the string, so the full walk alone runs.
    def line(text: str) -> bytes:
        turns = [
            {"role": "user", "content": [{"text": text}]},
            {"role": "assistant", "content": [{"text": "ok"}]},
        ]
        return orjson.dumps({"messages": turns})

    body = b"\n".join([line("first"), line("fine"), line("hi User: hello"), line("fine too")]) + b"\n"
    calls = _counted_fast_calls(monkeypatch)
    report = validate_stream(io.BytesIO(body))
    assert [(issue.line, issue.code) for issue in report.errors] == [(3, "RESERVED_TOKEN")]
    assert len(calls) == 3  # lines 1 (the general path), 2 and 4
    monkeypatch.undo()
    monkeypatch.setattr("forgeflow.dataset.fast.FastPath.counts", lambda *_: None)
    assert validate_stream(io.BytesIO(body)).to_dict() == report.to_dict()


OWNERS = ["123456789012", "12345678901", "1234567890123", "", "12345678901\n", "12345678901²", "١٢٣٤٥٦٧٨٩٠١٢"]


@pytest.mark.parametrize("owner", [*OWNERS, None, 123456789012])
@pytest.mark.parametrize("fmt", ["png", "PNG", "Png", "tiff", None])
def test_the_fast_media_check_agrees_with_the_full_walk(owner: Any, fmt: Any) -> None:
    # The fast path tests bucketOwner by isascii/isdigit, not ACCOUNT_ID, and a format as it is first.
    location = {"uri": "s3://bucket/a.png", "bucketOwner": owner}
    image = {"format": fmt, "source": {"s3Location": location}}
    turns = [{"role": "user", "content": [{"text": "see"}, {"image": image}]}]
    record = {"messages": [*turns, {"role": "assistant", "content": [{"text": "ok"}]}]}
    validator, slow = RecordValidator(), _slow(ValidationOptions())
    _same(validator.check_record(1, record), slow.check_record(1, copy.deepcopy(record)))
    if type(owner) is str and fmt == "png":
        assert validator.check_record(1, record).valid == (ACCOUNT_ID.fullmatch(owner) is not None)


def test_an_escaped_reserved_string_is_not_cleared() -> None:
    assert not raw_clear(b'{"messages":[{"role":"user","content":[{"text":"\\u0055ser: hi"}]}]}')
    assert not raw_clear('{"text":"<un\u212a>"}'.encode())  # the Kelvin sign lowers to "k"
    assert raw_clear(b'{"messages":[{"role":"user","content":[{"text":"at 10:30 see [1] <b>x</b>"}]}]}')


def test_only_two_characters_outside_ascii_lower_to_ascii() -> None:
    # raw_clear relies on it: bytes.translate folds ASCII only.
    found = [c for c in map(chr, range(0x80, 0x110000)) if any(ch.isascii() for ch in c.lower())]
    assert found == ["\u0130", "\u212a"]
