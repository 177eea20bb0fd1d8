"""`classification_metrics` against scikit-learn (a test-only dependency) on random label sets."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from forgeflow.errors import DataError
from forgeflow.evaluation.metrics import classification_metrics, normalize_label


def _sklearn(references: list[str], predictions: list[str]) -> dict[str, object]:
    gold = [normalize_label(label) for label in references]
    guessed = [normalize_label(label) for label in predictions]
    labels = sorted(set(gold))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, guessed, labels=labels, zero_division=0
    )
    return {
        "accuracy": accuracy_score(gold, guessed),
        # Macro and weighted over the reference labels only: an out-of-set prediction adds no class.
        "macro_f1": f1_score(gold, guessed, labels=labels, average="macro", zero_division=0),
        "weighted_f1": f1_score(gold, guessed, labels=labels, average="weighted", zero_division=0),
        # Micro over every label seen: an out-of-set prediction is a false positive, not ignored.
        "micro_f1": f1_score(gold, guessed, average="micro", zero_division=0),
        "per_label": {
            label: (float(p), float(r), float(f), int(s))
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
    }


def _random_case(rng: random.Random, labels: int, records: int) -> tuple[list[str], list[str]]:
    names = [f"Category {index}" for index in range(labels)]
    references = [rng.choice(names) for _ in range(records)]
    # Predictions: right, a confusion within the set, a label outside it, or one with odd case/spaces.
    extra = [f"unknown {index}" for index in range(max(1, labels // 10))]
    predictions = []
    for gold in references:
        roll = rng.random()
        if roll < 0.4:
            predictions.append(gold)
        elif roll < 0.5:
            predictions.append(f"  {gold.upper()} ")
        elif roll < 0.85:
            predictions.append(rng.choice(names))
        else:
            predictions.append(rng.choice(extra))
    return references, predictions


@pytest.mark.parametrize(
    ("labels", "records", "seed"),
    [(2, 30, 1), (7, 200, 2), (60, 500, 3), (1420, 5000, 4), (1420, 900, 5)],
)
def test_classification_metrics_match_sklearn(labels: int, records: int, seed: int) -> None:
    references, predictions = _random_case(random.Random(seed), labels, records)
    ours = classification_metrics(references, predictions)
    theirs = _sklearn(references, predictions)
    for name in ("accuracy", "macro_f1", "weighted_f1", "micro_f1"):
        assert ours[name] == pytest.approx(theirs[name], abs=1e-12), name
    assert ours["labels"] == len(theirs["per_label"])  # type: ignore[arg-type]
    for label, (precision, recall, f1, support) in theirs["per_label"].items():  # type: ignore[attr-defined]
        row = ours["per_label"][label]
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((precision, recall, f1))
        assert row["support"] == support


def test_labels_absent_from_predictions_score_zero_and_still_count_in_the_macro() -> None:
    references = ["a", "a", "b", "c"]
    predictions = ["a", "a", "a", "zzz"]  # b and c never predicted; zzz is not a class
    ours = classification_metrics(references, predictions)
    assert ours["per_label"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert "zzz" not in ours["per_label"]
    assert ours["out_of_set_predictions"] == 1
    assert ours["macro_f1"] == pytest.approx(_sklearn(references, predictions)["macro_f1"])
    assert ours["micro_f1"] == ours["accuracy"] == 0.5


def test_labels_are_normalised_for_case_and_surrounding_whitespace() -> None:
    ours = classification_metrics([" Billing", "refund"], ["billing ", "REFUND"])
    assert ours["accuracy"] == 1.0
    assert sorted(ours["per_label"]) == ["billing", "refund"]


def test_top_confusions_are_the_most_frequent_wrong_pairs() -> None:
    references = ["a"] * 5 + ["b"] * 3
    predictions = ["b"] * 3 + ["c"] * 2 + ["a"] * 3
    confusions = classification_metrics(references, predictions, top=2)["top_confusions"]
    assert confusions == [
        {"reference": "a", "prediction": "b", "count": 3},
        {"reference": "b", "prediction": "a", "count": 3},
    ]


@pytest.mark.parametrize(("references", "predictions"), [([], []), (["a"], []), (["a"], ["a", "b"])])
def test_mismatched_or_empty_inputs_are_refused_clearly(
    references: list[str], predictions: list[str]
) -> None:
    with pytest.raises(DataError, match="reference"):
        classification_metrics(references, predictions)
