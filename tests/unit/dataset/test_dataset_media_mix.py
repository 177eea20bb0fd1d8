"""Media mixing across a record and a dataset, and tools on Nova 2 Lite (issue 12, rows 5 and 6).

Sources: "Preparing data for fine-tuning Understanding models" (Nova user guide,
fine-tune-prepare-data-understanding.html): "A sample ... can only have 1 video", a dataset "can be text
with images or text with videos"; "Fine-tune Nova 2.0" (SageMaker dg/nova-fine-tune-2.html): "You cannot
mix images and videos within the same dataset or across different turns".
"""

from __future__ import annotations

import io
from typing import Any

import orjson

from forgeflow.dataset.validation import RecordValidator, ValidationOptions, validate_stream
from forgeflow.nova import NovaModel


def _media(kind: str, number: int) -> dict[str, Any]:
    fmt = "png" if kind == "image" else "mp4"
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": f"s3://media/{kind}-{number}.{fmt}"}}}}


def _record(*user_media: list[dict[str, Any]]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for number, media in enumerate(user_media):
        messages.append({"role": "user", "content": [{"text": f"Look {number}."}, *media]})
        messages.append({"role": "assistant", "content": [{"text": "Seen."}]})
    return {"messages": messages}


def _codes(record: dict[str, Any]) -> list[str]:
    return [issue.code for issue in RecordValidator().check(1, orjson.dumps(record)).errors]


def test_two_videos_in_one_message_are_one_error_not_two() -> None:
    assert _codes(_record([_media("video", 1), _media("video", 2)])) == ["TOO_MANY_VIDEOS"]


def test_a_video_and_images_in_one_message_are_one_error_not_two() -> None:
    assert _codes(_record([_media("video", 1), _media("image", 2)])) == ["VIDEO_WITH_OTHER_MEDIA"]


def test_one_video_and_no_image_per_record_is_valid() -> None:
    assert _codes(_record([_media("video", 1)], [])) == []
    assert _codes(_record([_media("image", 1)], [_media("image", 2)])) == []


def _dataset(records: list[dict[str, Any]], model: NovaModel) -> list[tuple[str, int]]:
    data = b"".join(orjson.dumps(record) + b"\n" for record in records)
    report = validate_stream(io.BytesIO(data), ValidationOptions(model=model))
    return [(issue.code, issue.line) for issue in report.errors]


def test_nova_2_refuses_image_records_and_video_records_in_one_dataset_once() -> None:
    records = [_record([_media("image", 1)]), _record([_media("video", 2)]), _record([_media("video", 3)])]
    assert _dataset(records, NovaModel.LITE_2) == [("IMAGES_AND_VIDEOS_IN_DATASET", 2)]
    assert _dataset(records[1:], NovaModel.LITE_2) == []


def test_the_dataset_rule_counts_invalid_records_too() -> None:
    broken_image_record = _record([_media("image", 1)])
    broken_image_record["messages"][1]["role"] = "user"
    records = [broken_image_record, _record([_media("video", 2)])]
    assert ("IMAGES_AND_VIDEOS_IN_DATASET", 2) in _dataset(records, NovaModel.LITE_2)
