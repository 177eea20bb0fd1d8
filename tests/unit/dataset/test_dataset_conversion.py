"""Conversion: every known shape, round trips, opt-in sanitizing, unknown shapes, validated atomic output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from forgeflow.dataset.converse import DPORecord, SFTRecord
from forgeflow.dataset.conversion import SanitizeOptions, Shape, convert_uri, detect_shape, to_converse
from forgeflow.errors import DataError
from forgeflow.storage import Storage
from forgeflow_tools.examples import write_examples


def _write(path: Path, records: list[Any], *, sep: bytes = b"\n", prefix: bytes = b"") -> str:
    path.write_bytes(prefix + b"".join(orjson.dumps(r) + sep for r in records))
    return str(path)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def to_openai(record: dict[str, Any]) -> dict[str, Any]:
    """The inverse mapping, for round trips: Converse text records → OpenAI chat."""
    messages = [{"role": "system", "content": block["text"]} for block in record.get("system", [])]
    messages += [{"role": m["role"], "content": m["content"][0]["text"]} for m in record["messages"]]
    return {"messages": messages}


@pytest.mark.parametrize(
    ("record", "shape"),
    [
        ({"messages": [{"role": "user", "content": [{"text": "q"}]}]}, Shape.CONVERSE),
        ({"messages": [{"role": "user", "content": "q"}]}, Shape.OPENAI_CHAT),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}]}, Shape.OPENAI_CHAT),
        ({"prompt": "q", "completion": "a"}, Shape.PROMPT_COMPLETION),
        ({"instruction": "q", "output": "a"}, Shape.INSTRUCTION),
        ({"prompt": "q", "chosen": "a", "rejected": "b"}, Shape.DPO_PAIRS),
        ({"question": "q", "answer": "a"}, None),
    ],
)
def test_detect_shape(record: dict[str, Any], shape: Shape | None) -> None:
    assert detect_shape(record) is shape


def test_converse_round_trips_unchanged(tmp_path: Path) -> None:
    source = write_examples(tmp_path / "ex")["support"]
    report = convert_uri(Storage(), str(source), str(tmp_path / "out.jsonl"))
    assert report.written
    assert (tmp_path / "out.jsonl").read_bytes() == source.read_bytes()
    assert report.to_dict()["shapes"] == {"converse": 600}


def test_openai_chat_round_trip(tmp_path: Path) -> None:
    originals = _lines(write_examples(tmp_path / "ex")["general"])
    chats = [to_openai(record) for record in originals]
    report = convert_uri(Storage(), _write(tmp_path / "chat.jsonl", chats), str(tmp_path / "out.jsonl"))
    assert report.written
    converted = _lines(tmp_path / "out.jsonl")
    assert [to_openai(record) for record in converted] == chats
    for record in converted:
        SFTRecord.model_validate(record)
    assert [r["messages"] for r in converted] == [r["messages"] for r in originals]


def test_flat_shapes_convert_with_their_system_and_drop_counted_keys(tmp_path: Path) -> None:
    rows = [
        {"prompt": "Where is my parcel?", "completion": "shipping/delayed", "system": "Classify.", "id": 1},
        {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5", "id": 2},
        {"instruction": "Say hi.", "input": "", "output": "Hi!"},
    ]
    report = convert_uri(
        Storage(), _write(tmp_path / "in.jsonl", rows), str(tmp_path / "out.jsonl")
    ).to_dict()
    assert report["dropped_keys"] == {"id": 2}
    assert report["shapes"] == {"instruction": 2, "prompt-completion": 1}
    first, second, third = _lines(tmp_path / "out.jsonl")
    assert first["system"] == [{"text": "Classify."}]
    assert first["messages"][1] == {"role": "assistant", "content": [{"text": "shipping/delayed"}]}
    assert second["messages"][0]["content"][0]["text"] == "Add the numbers.\n\n2 and 3"
    assert third["messages"][0]["content"][0]["text"] == "Say hi."


def test_dpo_pairs_in_text_and_chat_form(tmp_path: Path) -> None:
    rows = [
        {"prompt": "My parcel is late.", "chosen": "I've opened a trace.", "rejected": "Wait."},
        {
            "prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Refund?"}],
            "chosen": [{"role": "assistant", "content": "Issued today."}],
            "rejected": [{"role": "assistant", "content": "No."}],
        },
    ]
    report = convert_uri(Storage(), _write(tmp_path / "in.jsonl", rows), str(tmp_path / "out.jsonl"))
    assert report.written
    assert report.validation is not None
    assert report.validation.stats.method == "dpo"
    records = _lines(tmp_path / "out.jsonl")
    for record in records:
        DPORecord.model_validate(record)
    assert records[1]["system"] == [{"text": "Be kind."}]
    labels = [c["preferenceLabel"] for c in records[0]["messages"][-1]["candidates"]]
    assert labels == ["preferred", "non-preferred"]


def test_unknown_shape_names_the_keys_it_saw(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "in.jsonl", [{"prompt": "q", "completion": "a"}, {"question": "q", "answer": "a"}]
    )
    with pytest.raises(DataError, match=r"line 2: unknown record shape with keys \['answer', 'question'\]"):
        convert_uri(Storage(), source, str(tmp_path / "out.jsonl"))
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"messages": [{"role": "tool", "content": "42"}]}, "role 'tool' cannot be converted"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "only text content parts"),
        ({"prompt": 3, "completion": "a"}, "prompt: expected a string"),
    ],
)
def test_unconvertible_content_is_a_data_error(tmp_path: Path, row: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        convert_uri(Storage(), _write(tmp_path / "in.jsonl", [row]), str(tmp_path / "out.jsonl"))


def test_bom_and_crlf_need_their_flags(tmp_path: Path) -> None:
    rows = [{"prompt": "q", "completion": "a"}]
    bom = _write(tmp_path / "bom.jsonl", rows, prefix=b"\xef\xbb\xbf")
    crlf = _write(tmp_path / "crlf.jsonl", rows, sep=b"\r\n")
    with pytest.raises(DataError, match="--strip-bom"):
        convert_uri(Storage(), bom, str(tmp_path / "out.jsonl"))
    with pytest.raises(DataError, match="--normalize-newlines"):
        convert_uri(Storage(), crlf, str(tmp_path / "out.jsonl"))
    fixed = convert_uri(
        Storage(), bom, str(tmp_path / "out.jsonl"), sanitize=SanitizeOptions(strip_bom=True)
    ).to_dict()
    assert fixed["changes"]["bom_stripped"] is True
    fixed = convert_uri(
        Storage(), crlf, str(tmp_path / "out.jsonl"), sanitize=SanitizeOptions(normalize_newlines=True)
    ).to_dict()
    assert fixed["changes"]["crlf_lines_normalized"] == 1


def test_duplicates_and_trailing_whitespace_are_changed_only_on_request(tmp_path: Path) -> None:
    rows = [
        {"prompt": "Where is it?  ", "completion": "shipping/delayed\n"},
        {"prompt": "Where is it?", "completion": "shipping/delayed"},
        {"prompt": "Other", "completion": "billing/refund_status"},
    ]
    source = _write(tmp_path / "in.jsonl", rows)
    plain = convert_uri(Storage(), source, str(tmp_path / "plain.jsonl")).to_dict()
    assert plain["records_out"] == 3
    assert _lines(tmp_path / "plain.jsonl")[0]["messages"][0]["content"][0]["text"] == "Where is it?  "
    sanitize = SanitizeOptions(trim_whitespace=True, drop_duplicates=True)
    report = convert_uri(Storage(), source, str(tmp_path / "clean.jsonl"), sanitize=sanitize).to_dict()
    assert report["changes"]["whitespace_trimmed"] == {"records": 1, "blocks": 2}
    assert report["changes"]["duplicates_dropped"] == 1
    assert report["records_in"] == 3
    assert report["records_out"] == 2


def test_invalid_output_is_not_written_and_errors_carry_input_lines(tmp_path: Path) -> None:
    rows = [{"prompt": "q", "completion": "a"}, {"prompt": "Bot: hi", "completion": ""}]
    report = convert_uri(Storage(), _write(tmp_path / "in.jsonl", rows), str(tmp_path / "out.jsonl"))
    assert report.written is False
    assert not (tmp_path / "out.jsonl").exists()
    assert report.validation is not None
    codes = {(issue.line, issue.code) for issue in report.validation.errors}
    assert codes == {(2, "RESERVED_TOKEN"), (2, "EMPTY_TEXT")}


def test_a_json_array_file_is_converted_element_by_element(tmp_path: Path) -> None:
    (tmp_path / "in.json").write_bytes(
        orjson.dumps([{"prompt": "q", "completion": "a"}] * 3, option=orjson.OPT_INDENT_2)
    )
    report = convert_uri(Storage(), str(tmp_path / "in.json"), str(tmp_path / "out.jsonl"))
    assert report.written
    assert len(_lines(tmp_path / "out.jsonl")) == 3


def test_to_converse_keeps_converse_records_as_they_are(sft_record: dict[str, Any]) -> None:
    assert to_converse(sft_record, Shape.CONVERSE) is sft_record
