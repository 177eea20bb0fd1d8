"""`classification_metrics` at its edges: the refusals word for word, the default number of confusions,
and the counts the report shows (the gaps `make mutate` found, docs/mutation.md)."""

from __future__ import annotations

import orjson
import pytest

from forgeflow.errors import DataError
from forgeflow.evaluation.classification import classification_of
from forgeflow.evaluation.metrics import classification_metrics
from forgeflow.evaluation.report import build_report


def _refusal(references: list[str], predictions: list[str]) -> DataError:
    with pytest.raises(DataError) as caught:
        classification_metrics(references, predictions)
    return caught.value


def test_a_count_mismatch_names_both_counts_and_how_to_fix_it() -> None:
    error = _refusal(["a", "b", "a"], ["a"])
    assert str(error) == (
        "3 references but 1 predictions (score one prediction per reference, in the same order)"
    )
    assert error.exit_code == 1


def test_no_reference_says_the_evaluation_set_is_empty() -> None:
    error = _refusal([], [])
    assert str(error) == "no reference labels to score (the evaluation set holds no record)"
    assert error.exit_code == 1


def test_the_top_confusions_default_to_the_ten_most_frequent_wrong_pairs() -> None:
    # Twelve wrong pairs, reference "r<i>" predicted as "p" i + 1 times, and one right answer.
    references, predictions = ["r0"], ["r0"]
    for index in range(12):
        references += [f"r{index:02}"] * (index + 1)
        predictions += ["p"] * (index + 1)
    confusions = classification_metrics(references, predictions)["top_confusions"]
    assert confusions == [
        {"reference": f"r{index:02}", "prediction": "p", "count": index + 1} for index in range(11, 1, -1)
    ]


def test_the_report_shows_how_many_records_and_out_of_set_answers_each_target_scored() -> None:
    lines = [("billing", "billing"), ("delivery", "refund"), ("billing", "Billing "), ("delivery", "x")]
    inference = b"".join(orjson.dumps({"prompt": "p", "inference": i, "gold": g}) + b"\n" for g, i in lines)
    summary = {"run_id": "run-1", "classification": {"trained": classification_of(inference, "trained")}}
    trained = build_report(summary)["classification"]["trained"]
    assert (trained["records"], trained["labels"], trained["out_of_set_predictions"]) == (4, 2, 2)
    assert trained["scores"]["accuracy"] == 0.5
