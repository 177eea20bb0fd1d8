"""The gen_qa metrics, computed for real: a prediction against its reference answer, then the mean.

The names are the ones Nova's gen_qa evaluation reports (reference nova-recipes.md §4); the
implementations are the simple, documented ones below (ours, not Nova's code, so numbers from a real
job may differ in tokenisation details):

- `exact_match`: 1 when the prediction equals the reference after stripping surrounding whitespace.
- `quasi_exact_match`: 1 when they are equal after `normalize` (lower case, punctuation and the articles
  a/an/the removed, whitespace collapsed: the SQuAD normalisation).
- `f1_score`: token F1 (SQuAD style: multiset overlap of tokens, harmonic mean of precision and recall)
  over whitespace tokens of the stripped texts. Two empty texts score 1, one empty text scores 0.
- `f1_score_quasi`: the same token F1 over the tokens of the normalised texts.
- `rouge1`, `rouge2`: ROUGE-N F-measure: multiset overlap of unigrams / bigrams.
- `rougeL`: ROUGE-L F-measure: longest common subsequence of tokens.
  ROUGE tokens: lower case, every run of characters other than a-z and 0-9 is a separator (the default
  tokeniser of Google's rouge-score, without stemming). Two texts without tokens score 1, one scores 0.

`bleu`, which Nova also reports, is not computed.

Classification (`classification_metrics`), for a domain task whose answers are labels:

- Labels are normalised before counting: surrounding whitespace stripped and case folded
  (`str.strip().casefold()`), so " Billing" and "billing" are one class; inner whitespace is kept.
- The classes are the labels that occur in the references. A prediction outside that set is simply
  wrong: it counts against accuracy and micro F1 but adds no class to the macro average.
- Per label: precision = TP / predictions of that label, recall = TP / support; a ratio with a zero
  denominator is 0 (scikit-learn's `zero_division=0`). macro F1 is the unweighted mean over the reference
  labels, weighted F1 the support-weighted mean, micro F1 the F1 of all decisions pooled (for one label per
  record it equals accuracy, out-of-set predictions being false positives of no class).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from forgeflow.errors import DataError

GEN_QA_METRICS = (
    "exact_match",
    "quasi_exact_match",
    "f1_score",
    "f1_score_quasi",
    "rouge1",
    "rouge2",
    "rougeL",
)

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ROUGE_SEPARATOR = re.compile(r"[^a-z0-9]+")


def normalize(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    lowered = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", lowered).split())


def _f1(prediction: Sequence[str], reference: Sequence[str]) -> float:
    if not prediction or not reference:
        return float(prediction == reference)
    common = sum((Counter(prediction) & Counter(reference)).values())
    if common == 0:
        return 0.0
    precision = common / len(prediction)
    recall = common / len(reference)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, reference: str) -> float:
    return float(prediction.strip() == reference.strip())


def quasi_exact_match(prediction: str, reference: str) -> float:
    return float(normalize(prediction) == normalize(reference))


def f1_score(prediction: str, reference: str) -> float:
    return _f1(prediction.split(), reference.split())


def f1_score_quasi(prediction: str, reference: str) -> float:
    return _f1(normalize(prediction).split(), normalize(reference).split())


def rouge_tokens(text: str) -> list[str]:
    return [token for token in _ROUGE_SEPARATOR.split(text.lower()) if token]


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def _f_measure(overlap: int, predicted: int, reference: int) -> float:
    if predicted == 0 or reference == 0:
        return float(predicted == reference)
    if overlap == 0:
        return 0.0
    precision, recall = overlap / predicted, overlap / reference
    return 2 * precision * recall / (precision + recall)


def rouge_n(prediction: str, reference: str, n: int) -> float:
    predicted = _ngrams(rouge_tokens(prediction), n)
    wanted = _ngrams(rouge_tokens(reference), n)
    overlap = sum((Counter(predicted) & Counter(wanted)).values())
    return _f_measure(overlap, len(predicted), len(wanted))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel (Allison-Dix): O(len(a) * len(b) / 64)."""
    if not a or not b:
        return 0
    positions: dict[str, int] = {}
    for index, token in enumerate(a):
        positions[token] = positions.get(token, 0) | (1 << index)
    mask = (1 << len(a)) - 1
    row = mask  # a 0 bit marks a position of `a` that ends a common subsequence
    for token in b:
        matches = row & positions.get(token, 0)
        row = ((row + matches) | (row - matches)) & mask
    return len(a) - row.bit_count()


def rouge_l(prediction: str, reference: str) -> float:
    predicted, wanted = rouge_tokens(prediction), rouge_tokens(reference)
    return _f_measure(lcs_length(predicted, wanted), len(predicted), len(wanted))


def score_pair(prediction: str, reference: str) -> dict[str, float]:
    """Every gen_qa metric of one prediction."""
    return {
        "exact_match": exact_match(prediction, reference),
        "quasi_exact_match": quasi_exact_match(prediction, reference),
        "f1_score": f1_score(prediction, reference),
        "f1_score_quasi": f1_score_quasi(prediction, reference),
        "rouge1": rouge_n(prediction, reference, 1),
        "rouge2": rouge_n(prediction, reference, 2),
        "rougeL": rouge_l(prediction, reference),
    }


def gen_qa_scores(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """The mean of each metric over (prediction, reference) pairs; an empty input scores nothing ({})."""
    totals = dict.fromkeys(GEN_QA_METRICS, 0.0)
    count = 0
    for prediction, reference in pairs:
        for name, value in score_pair(prediction, reference).items():
            totals[name] += value
        count += 1
    if count == 0:
        return {}
    return {name: round(total / count, 6) for name, total in totals.items()}


def normalize_label(label: str) -> str:
    """The class a label names: surrounding whitespace stripped, case folded."""
    return label.strip().casefold()


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _harmonic(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def classification_metrics(
    references: Sequence[str], predictions: Sequence[str], *, top: int = 10
) -> dict[str, Any]:
    """Accuracy, macro/micro/weighted F1, per-label precision/recall/F1/support and the `top` most
    frequent confusions of predictions against references (one label each, same order)."""
    if len(references) != len(predictions):
        raise DataError(
            f"{len(references)} references but {len(predictions)} predictions",
            hint="score one prediction per reference, in the same order",
        )
    if not references:
        raise DataError("no reference labels to score", hint="the evaluation set holds no record")
    gold = [normalize_label(label) for label in references]
    guessed = [normalize_label(label) for label in predictions]
    pairs = Counter(zip(gold, guessed, strict=True))
    support = Counter(gold)
    predicted = Counter(guessed)
    per_label: dict[str, dict[str, float]] = {}
    correct = 0
    for label in sorted(support):
        hits = pairs.get((label, label), 0)
        correct += hits
        precision, recall = _ratio(hits, predicted[label]), _ratio(hits, support[label])
        per_label[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _harmonic(precision, recall),
            "support": support[label],
        }
    confusions = sorted(
        ((count, ref, pred) for (ref, pred), count in pairs.items() if ref != pred),
        key=lambda item: (-item[0], item[1], item[2]),
    )[:top]
    records = len(gold)
    return {
        "records": records,
        "labels": len(support),
        "out_of_set_predictions": sum(count for label, count in predicted.items() if label not in support),
        "accuracy": correct / records,
        "macro_f1": sum(item["f1"] for item in per_label.values()) / len(per_label),
        # One decision per record: pooled precision and recall are both correct / records.
        "micro_f1": correct / records,
        "weighted_f1": sum(item["f1"] * item["support"] for item in per_label.values()) / records,
        "per_label": per_label,
        "top_confusions": [
            {"reference": ref, "prediction": pred, "count": count} for count, ref, pred in confusions
        ],
    }
