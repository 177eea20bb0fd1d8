"""Nova eval outputs → metrics, and the trained-vs-base comparison."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from forgeflow.errors import DataError
from forgeflow.evaluation.results import (
    EMULATED_SCORES,
    EvalResults,
    EvaluationSummary,
    compare,
    parse_results,
    read_results,
)


def archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def results(document: object) -> bytes:
    return json.dumps(document).encode()


def test_standard_benchmarks_read_results_all() -> None:
    data = archive(
        {
            "run/eval_results/results_2026-01-01.json": results(
                {"results": {"all": {"accuracy": 0.75, "accuracy_stderr": 0.01}, "mmlu:x": {"accuracy": 0.1}}}
            )
        }
    )
    assert parse_results(data) == {"accuracy": 0.75, "accuracy_stderr": 0.01}


def test_gen_qa_reads_the_task_key_and_skips_non_numbers() -> None:
    document = {
        "results": {"custom|gen_qa_gen_qa|0": {"f1_score": 0.5, "bleu": 12, "note": "x", "flag": True}}
    }
    data = archive(
        {"eval_results/details/x.parquet": b"PAR1", "eval_results/results_1.json": results(document)}
    )
    assert parse_results(data) == {"f1_score": 0.5, "bleu": 12.0}


def test_the_newest_results_file_wins() -> None:
    data = archive(
        {
            "a/eval_results/results_2026-01-01T00.json": results({"results": {"all": {"accuracy": 0.1}}}),
            "a/eval_results/results_2026-01-02T00.json": results({"results": {"all": {"accuracy": 0.2}}}),
        }
    )
    assert parse_results(data) == {"accuracy": 0.2}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"manifest.json": b"{}"}, "holds no results_"),
        ({"eval_results/results_1.json": b"{not json"}, "not valid JSON"),
        ({"eval_results/results_1.json": results({"scores": {}})}, "no 'results' mapping"),
        ({"eval_results/results_1.json": results({"results": {"all": {}}})}, "holds no metrics"),
    ],
)
def test_unusable_outputs_say_why(files: dict[str, bytes], message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_results(archive(files), "s3://b/job/output/output.tar.gz")


def test_not_an_archive() -> None:
    with pytest.raises(DataError, match="not a readable tar archive"):
        parse_results(b"plain bytes")


def test_compare_uses_the_suite_headline_metric() -> None:
    mmlu = compare("mmlu", {"accuracy": 0.75}, {"accuracy": 0.74})
    assert mmlu.headline() == {
        "metric": "accuracy",
        "base": 0.75,
        "trained": 0.74,
        "delta": -0.01,
        "note": None,
    }
    unknown = compare("bbh", {"exact_match": 0.3, "z": 1.0}, {"exact_match": 0.4})
    assert (unknown.metric, unknown.delta) == ("exact_match", 0.1)
    missing = compare("gen_qa", {}, {"f1_score": 0.5})
    assert missing.delta is None


def test_summary_document() -> None:
    summary = EvaluationSummary(run_id="r1", jobs={"mmlu": {"base": "j1", "trained": "j2"}})
    summary.suites.append(compare("mmlu", {"accuracy": 0.5}, {"accuracy": 0.6}))
    document = summary.to_dict()
    assert document["suites"]["mmlu"]["delta"] == 0.1
    assert document["suites"]["mmlu"]["trained_metrics"] == {"accuracy": 0.6}
    assert summary.headlines()["mmlu"]["metric"] == "accuracy"


def test_a_not_measured_results_file_is_read_without_error() -> None:
    reason = "MMLU needs its benchmark data and a real model; neither is available offline (emulated job)"
    data = archive(
        {"r/eval_results/results_1.json": results({"results": {}, "emulated": True, "not_measured": reason})}
    )
    assert read_results(data) == EvalResults(metrics={}, emulated=True, not_measured=reason)
    assert parse_results(data) == {}
    real = archive({"eval_results/results_1.json": results({"results": {"all": {"accuracy": 0.5}}})})
    assert read_results(real) == EvalResults(metrics={"accuracy": 0.5})


def test_an_unmeasured_suite_compares_to_nulls_with_the_reason() -> None:
    why = EvalResults(metrics={}, emulated=True, not_measured="no data offline")
    both = compare("mmlu", why, why)
    assert both.headline() == {
        "metric": "accuracy",
        "base": None,
        "trained": None,
        "delta": None,
        "note": "not measured: no data offline",
    }
    one = compare("mmlu", why, EvalResults(metrics={"accuracy": 0.7}))
    assert one.headline()["trained"] == 0.7
    assert one.headline()["note"] == "base not measured: no data offline"
    assert one.to_dict()["not_measured"] == {"base": "no data offline"}


def test_emulated_scores_say_so_in_the_note_and_the_summary() -> None:
    summary = EvaluationSummary(run_id="r1")
    summary.suites.append(compare("mmlu", {"accuracy": 0.5}, {"accuracy": 0.6}))
    assert summary.emulated is False
    assert summary.to_dict()["emulated"] is False
    emulated = compare(
        "gen_qa", EvalResults({"f1_score": 0.0}, emulated=True), EvalResults({"f1_score": 0.8}, emulated=True)
    )
    summary.suites.append(emulated)
    assert emulated.headline()["note"] == EMULATED_SCORES
    assert emulated.delta == 0.8
    assert summary.emulated is True
    assert summary.to_dict()["emulated"] is True
