"""Classification as the domain task: when a run is one, and its metrics from the gen_qa eval's answers.

A run's domain task is a run option, `domain_task`: `classification`, `free_text`, or `auto` (the
default). `auto` reads the customer's training data (the uploaded dataset, in order; the mixed `train.jsonl`
also holds curated general records, which are free text) and calls the task classification when
every record's final assistant answer is a label (rule below); otherwise the task is free text and the
gen_qa metrics alone judge it.

The label rule (`LabelSetDetector`): each answer, normalised like a label (`normalize_label`: stripped,
case folded), is one line of at most `MAX_LABEL_CHARS` characters; there are at most `MAX_LABELS` distinct
answers; and they repeat: at least `MIN_RECORDS_PER_LABEL` records per distinct answer on average, so a
free-text set of short unique answers is not mistaken for labels. The seeds' task (a 1,420-category
customer-feedback classifier, /work/shared/seeds/) passes it.

Classification metrics come from the gen_qa job's per-record outputs, `inference_output.jsonl` (one
`{"prompt", "inference", "gold"}` object a line; reference nova-recipes.md §4).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from forgeflow.errors import DataError
from forgeflow.evaluation.metrics import classification_metrics, normalize_label

MAX_LABELS = 5_000
MAX_LABEL_CHARS = 100
MIN_RECORDS_PER_LABEL = 2.0


def final_answer(record: Any) -> str | None:
    """The text of a Converse record's last assistant turn (the preferred candidate of a DPO turn)."""
    messages = record.get("messages") if isinstance(record, dict) else None
    answer: str | None = None
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        blocks = message.get("content")
        candidates = message.get("candidates")
        if isinstance(candidates, list):
            preferred = [
                c for c in candidates if isinstance(c, dict) and c.get("preferenceLabel") == "preferred"
            ]
            blocks = preferred[0].get("content") if preferred else None
        texts = (
            [b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)]
            if isinstance(blocks, list)
            else []
        )
        answer = "".join(texts) if texts else None
    return answer


class LabelSetDetector:
    """Feeds on answers one by one and says whether they are still a small label set."""

    def __init__(self) -> None:
        self.labels: set[str] = set()
        self.records = 0
        self.broken = False

    def add(self, answer: str | None) -> bool:
        """False as soon as the rule is broken (the caller may stop reading)."""
        label = normalize_label(answer) if answer is not None else ""
        if not label or "\n" in label or len(label) > MAX_LABEL_CHARS:
            self.broken = True
        else:
            self.labels.add(label)
            self.records += 1
            self.broken = len(self.labels) > MAX_LABELS
        return not self.broken

    @property
    def is_classification(self) -> bool:
        return (
            not self.broken and self.records > 0 and self.records >= MIN_RECORDS_PER_LABEL * len(self.labels)
        )


def detect_classification(lines: Iterable[bytes]) -> bool:
    """The `auto` rule over the lines of a Converse JSONL file (unparseable lines break the rule)."""
    detector = LabelSetDetector()
    for line in lines:
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            return False
        if not detector.add(final_answer(record)):
            return False
    return detector.is_classification


def inference_labels(data: bytes, source: str) -> tuple[list[str], list[str]]:
    """(references, predictions) of an `inference_output.jsonl`; DataError naming the bad line."""
    references: list[str] = []
    predictions: list[str] = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise DataError(f"{source} line {number} is not valid JSON: {error}") from error
        if not isinstance(record, dict) or not isinstance(record.get("gold"), str):
            raise DataError(
                f"{source} line {number} has no 'gold' text",
                hint="each line must be an object with 'inference' and 'gold' strings",
            )
        inference = record.get("inference")
        references.append(record["gold"])
        predictions.append(inference if isinstance(inference, str) else "")
    if not references:
        raise DataError(f"{source} holds no record", hint="did the gen_qa job answer any query?")
    return references, predictions


def classification_of(data: bytes, source: str) -> dict[str, Any]:
    """`classification_metrics` of one gen_qa job's per-record outputs."""
    references, predictions = inference_labels(data, source)
    return classification_metrics(references, predictions)
