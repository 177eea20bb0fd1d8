"""The file side of the validator, pinned where mutation testing found it unpinned (docs/mutation.md).

Exact messages of the file-level findings, the Bedrock record-count bounds at their edges, the counting of
repeated codes and the detail cap, progress reporting every 16 MiB, and the S3 media probe.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from fakes.s3 import MemoryS3

from forgeflow.dataset import report
from forgeflow.dataset.report import BEDROCK_MAX_RECORDS
from forgeflow.dataset.validation import (
    ValidationOptions,
    ValidationReport,
    storage_media_probe,
    validate_stream,
    validate_uri,
)
from forgeflow.dataset.walk import make_issue
from forgeflow.nova import NovaModel
from forgeflow.storage import Storage

MIB = 1 << 20


def _lines(*records: Any) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def _message(report: ValidationReport, code: str, *, warning: bool = False) -> str:
    found = [i for i in (report.warnings if warning else report.errors) if i.code == code]
    assert len(found) == 1, found
    return found[0].message.split("; fix: ")[0]


def test_the_file_level_findings_say_exactly_what_is_wrong(sft_record: dict[str, Any]) -> None:
    assert _message(validate_stream(io.BytesIO(b"")), "EMPTY_FILE") == "the file holds no records"
    bom = validate_stream(io.BytesIO(b"\xef\xbb\xbf" + _lines(sft_record)))
    assert _message(bom, "BOM") == "the file starts with a UTF-8 byte-order mark"
    array = validate_stream(io.BytesIO(b"  [" + orjson.dumps(sft_record) + b"]\n"))
    assert _message(array, "JSON_ARRAY_FILE") == "the file is a JSON array, not JSON Lines"
    assert array.errors[0].line == 1


def test_crlf_counts_every_line_and_names_the_first(sft_record: dict[str, Any]) -> None:
    line = orjson.dumps(sft_record)
    several = validate_stream(io.BytesIO(line + b"\n" + line + b"\r\n" + line + b"\r\n" + line + b"\r\n"))
    assert _message(several, "CRLF_LINE_ENDING", warning=True) == (
        "3 lines end with CRLF, the first is line 2"
    )
    assert several.warnings[0].line == 2
    one = validate_stream(io.BytesIO(line + b"\n" + line + b"\r\n"))
    assert _message(one, "CRLF_LINE_ENDING", warning=True) == "1 line ends with CRLF, the first is line 2"


def test_bedrock_accepts_exactly_its_maximum_record_count(
    sft_record: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bedrock's documented maximum is 20,000 records (dataset/report.py); a cap of 1,000 keeps the edge fast.
    assert BEDROCK_MAX_RECORDS == 20_000
    monkeypatch.setattr(report, "BEDROCK_MAX_RECORDS", 1_000)
    bedrock = ValidationOptions(platform="bedrock")
    line = orjson.dumps(sft_record) + b"\n"
    at_max = validate_stream(io.BytesIO(line * 1_000), bedrock)
    assert "TOO_MANY_RECORDS" not in at_max.error_codes
    over = validate_stream(io.BytesIO(line * 1_001), bedrock)
    assert _message(over, "TOO_MANY_RECORDS") == "1001 records, Bedrock accepts at most 1,000"
    assert (over.errors[-1].line, over.errors[-1].path) == (0, "")


def test_too_few_records_names_the_count_the_minimum_and_the_model(sft_record: dict[str, Any]) -> None:
    report = validate_stream(io.BytesIO(_lines(sft_record)), ValidationOptions(platform="bedrock"))
    assert _message(report, "TOO_FEW_RECORDS") == "1 records, Bedrock needs at least 8 for lite"


def test_the_lite_2_minimum_of_200_is_for_sft_and_the_detected_method_decides(
    sft_record: dict[str, Any], dpo_record: dict[str, Any]
) -> None:
    lite_2 = ValidationOptions(platform="bedrock", model=NovaModel.LITE_2)
    dpo = validate_stream(io.BytesIO(_lines(*[dpo_record] * 10)), lite_2)
    assert "TOO_FEW_RECORDS" not in dpo.error_codes  # DPO keeps the minimum of 8
    sft = validate_stream(io.BytesIO(_lines(*[sft_record] * 10)), lite_2)
    assert _message(sft, "TOO_FEW_RECORDS").startswith("10 records, Bedrock needs at least 200")


def test_images_and_videos_in_one_lite_2_dataset_name_both_lines() -> None:
    def media(kind: str, fmt: str) -> dict[str, Any]:
        block = {kind: {"format": fmt, "source": {"s3Location": {"uri": f"s3://m/x.{fmt}"}}}}
        user = {"role": "user", "content": [{"text": "Describe this."}, block]}
        return {"messages": [user, {"role": "assistant", "content": [{"text": "A parcel."}]}]}

    text = {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}
    data = _lines(text, media("image", "png"), text, media("video", "mp4"))
    report = validate_stream(io.BytesIO(data), ValidationOptions(model=NovaModel.LITE_2))
    assert _message(report, "IMAGES_AND_VIDEOS_IN_DATASET") == (
        "line 2 has images and line 4 a video; Nova 2 Lite trains one kind per dataset"
    )


def test_repeated_codes_are_counted_and_details_capped_at_the_limit() -> None:
    options = ValidationOptions(max_error_details=2)
    report = ValidationReport(source="s", options=options)
    for line in (1, 2, 3):
        report.add(make_issue(line, "", "JSON_PARSE", "bad"))
        report.add(make_issue(line, "", "BLANK_LINE", "blank"), warning=True)
    assert (report.error_count, report.error_codes, len(report.errors)) == (3, {"JSON_PARSE": 3}, 2)
    assert (report.warning_count, report.warning_codes, len(report.warnings)) == (3, {"BLANK_LINE": 3}, 2)
    assert report.to_dict()["errors_truncated"] is True


def test_blank_lines_are_counted_in_the_statistics(sft_record: dict[str, Any]) -> None:
    report = validate_stream(io.BytesIO(_lines(sft_record) + b"\n  \n" + _lines(sft_record)))
    assert report.stats.blank_lines == 2
    assert report.warning_codes == {"BLANK_LINE": 2}


def test_a_stream_without_a_name_is_called_stream() -> None:
    assert validate_stream(io.BytesIO(b"")).source == "<stream>"


def test_progress_is_reported_every_16_mib_and_at_the_end() -> None:
    # Lines over the cap are skipped unparsed: 40 lines of exactly 1 MiB (newline included) cost no JSON.
    data = (b"x" * (MIB - 1) + b"\n") * 40
    calls: list[int] = []
    report = validate_stream(io.BytesIO(data), ValidationOptions(max_line_bytes=1), progress=calls.append)
    assert calls == [16 * MIB, 32 * MIB, 40 * MIB]
    assert report.records == 40
    assert report.error_codes == {"LINE_TOO_LONG": 40}


def test_validate_uri_reports_progress_over_the_whole_file(tmp_path: Any, sft_record: dict[str, Any]) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(_lines(sft_record, sft_record))
    calls: list[int] = []
    report = validate_uri(Storage(), str(path), progress=calls.append)
    assert report.valid
    assert calls == [path.stat().st_size]


def test_the_media_probe_answers_with_the_object_size_or_none() -> None:
    s3 = MemoryS3()
    s3.put("media", "a.png", b"12345")
    probe = storage_media_probe(Storage(s3))
    assert probe("s3://media/a.png") == 5
    assert probe("s3://media/missing.png") is None
    assert s3.heads[0] == ("media", "a.png", None)


def test_the_media_probe_takes_a_head_without_a_size_as_empty() -> None:
    class Sizeless(MemoryS3):
        def head(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
            return {"ETag": '"e"'}

    assert storage_media_probe(Storage(Sizeless()))("s3://media/a.png") == 0


def test_the_options_default_to_sagemaker_lite_and_refuse_impossible_caps() -> None:
    from pydantic import ValidationError

    defaults = ValidationOptions()
    assert (defaults.method, defaults.model, defaults.platform, defaults.strict) == (
        None,
        NovaModel.LITE,
        "sagemaker",
        False,
    )
    assert (defaults.max_error_details, defaults.check_media) == (100, False)
    assert ValidationOptions(max_error_details=0, max_line_bytes=1).max_error_details == 0
    for bad in ({"max_error_details": -1}, {"max_line_bytes": 0}, {"platform": "azure"}, {"colour": 1}):
        with pytest.raises(ValidationError):
            ValidationOptions(**bad)
