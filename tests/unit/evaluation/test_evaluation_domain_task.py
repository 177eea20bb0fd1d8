"""The domain task rule (labels or free text) and classification metrics from `inference_output.jsonl`."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from forgeflow.errors import DataError
from forgeflow.evaluation.classification import (
    MAX_LABELS,
    classification_of,
    detect_classification,
    final_answer,
)
from forgeflow.evaluation.results import read_inference


def _record(answer: str) -> bytes:
    messages = [
        {"role": "user", "content": [{"text": "the parcel never came"}]},
        {"role": "assistant", "content": [{"text": answer}]},
    ]
    return json.dumps({"schemaVersion": "bedrock-conversation-2024", "messages": messages}).encode()


def test_answers_from_a_small_repeating_label_set_are_classification() -> None:
    lines = [_record(label) for label in ["Delivery/Late", "billing", " Delivery/late "] * 4]
    assert detect_classification(lines)


@pytest.mark.parametrize(
    "answers",
    [
        [f"answer {index}" for index in range(20)],  # short but unique: free text, not labels
        ["billing", "billing", "it arrived\nlate", "billing"],  # a multi-line answer
        ["billing", "x" * 101, "billing", "billing"],  # an answer longer than a label
        ["billing", "", "billing"],  # an empty answer
    ],
)
def test_free_text_answers_are_not_classification(answers: list[str]) -> None:
    assert not detect_classification([_record(answer) for answer in answers])


def test_more_labels_than_the_limit_are_not_classification() -> None:
    lines = [_record(f"label {index % (MAX_LABELS + 1)}") for index in range(2 * (MAX_LABELS + 1))]
    assert not detect_classification(lines)


def test_an_unparseable_line_or_a_record_without_assistant_text_breaks_the_rule() -> None:
    assert not detect_classification([_record("billing"), b"{not json", _record("billing")])
    assert final_answer({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}) is None


def test_the_preferred_candidate_is_a_dpo_records_answer() -> None:
    record = {
        "messages": [
            {
                "role": "assistant",
                "candidates": [
                    {"content": [{"text": "refund"}], "preferenceLabel": "non-preferred"},
                    {"content": [{"text": "billing"}], "preferenceLabel": "preferred"},
                ],
            }
        ]
    }
    assert final_answer(record) == "billing"


def _outputs(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def test_metrics_come_from_the_per_record_outputs() -> None:
    lines = [
        json.dumps({"prompt": "p", "inference": inference, "gold": gold}).encode()
        for inference, gold in [("billing", "billing"), ("refund", "billing"), ("refund", "refund")]
    ]
    metrics = classification_of(_outputs(lines), "inference_output.jsonl")
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["top_confusions"] == [{"reference": "billing", "prediction": "refund", "count": 1}]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([b'{"inference": "a", "gold": "a"}', b"{oops"], "line 2 is not valid JSON"),
        ([b'{"inference": "a"}'], "line 1 has no 'gold' text"),
        ([b""], "holds no record"),
    ],
)
def test_malformed_outputs_name_the_line(lines: list[bytes], message: str) -> None:
    with pytest.raises(DataError, match=message):
        classification_of(_outputs(lines), "out.jsonl")


def test_an_archive_without_per_record_outputs_is_refused_clearly() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b'{"results": {"all": {"f1_score": 0.5}}}'
        info = tarfile.TarInfo("run/eval_results/results_1.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match=r"no inference_output\.jsonl"):
        read_inference(buffer.getvalue(), "s3://b/output.tar.gz")
