"""The run report (issue #13 "Report"): report.json from the summary, report.html from report.json."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from typing import Any

import orjson

from forgeflow.evaluation.charts import Series, bar_chart
from forgeflow.evaluation.classification import classification_of
from forgeflow.evaluation.gate import gates_for, verdict
from forgeflow.evaluation.report import build_report, f1_histogram
from forgeflow.evaluation.report_html import render_html
from forgeflow.evaluation.results import EvalResults, EvaluationSummary, compare

HOSTILE = '<script>alert("x")</script>'


def _inference(pairs: list[tuple[str, str]]) -> bytes:
    return b"".join(orjson.dumps({"prompt": "p", "inference": i, "gold": g}) + b"\n" for g, i in pairs)


def _summary(label: str = "billing") -> dict[str, Any]:
    """A real summary, built by the code that writes summary.json: gen_qa, MMLU unmeasured, classification."""
    summary = EvaluationSummary(run_id="run-1", jobs={"gen_qa": {"base": "job-b", "trained": "job-t"}})
    summary.suites.append(
        compare("gen_qa", {"f1_score": 0.2, "rougeL": 0.1}, {"f1_score": 0.6, "rougeL": 0.5})
    )
    summary.suites.append(
        compare(
            "mmlu",
            EvalResults({}, not_measured="no MMLU data offline"),
            EvalResults({}, not_measured="no MMLU data offline"),
        )
    )
    base = _inference([(label, ""), ("delivery", ""), (label, "")])
    trained = _inference([(label, label), ("delivery", label), (label, label)])
    summary.classification = {t: classification_of(d, t) for t, d in (("base", base), ("trained", trained))}
    scores = {
        t: {k: m[k] for k in ("macro_f1", "micro_f1", "weighted_f1", "accuracy")}
        for t, m in summary.classification.items()
    }
    summary.suites.append(compare("classification", scores["base"], scores["trained"]))
    summary.domain_task = "classification"
    summary.gate = verdict(summary.headlines(), gates_for(None))
    return summary.to_dict()


MIX_REPORT = {
    "unit": "records",
    "seed": 7,
    "train": {"records": 100},
    "sources": [
        {
            "name": "customer",
            "role": "customer",
            "target_share": 0.75,
            "achieved_share": 0.74,
            "mix_share": 0.75,
            "selected": 74,
        },
        {
            "name": "curated",
            "role": None,
            "target_share": 0.25,
            "achieved_share": 0.26,
            "mix_share": 0.25,
            "selected": 26,
        },
    ],
}


def test_the_report_holds_every_suite_metric_delta_verdict_mix_share_and_the_recipe_hash() -> None:
    report = build_report(_summary(), mix_report=MIX_REPORT, recipe=b"run: {}\n", estimate_usd=12.5)
    suites = {s["suite"]: s for s in report["suites"]}
    assert list(suites) == ["gen_qa", "mmlu", "classification"]
    assert suites["gen_qa"]["delta"] == 0.4
    assert suites["gen_qa"]["delta_points"] == 40.0
    assert {m["name"]: m["delta"] for m in suites["gen_qa"]["metrics"]} == {"f1_score": 0.4, "rougeL": 0.4}
    assert report["verdict"]["verdict"] == "promoted"
    assert [g["gate"] for g in report["verdict"]["gates"]] == [
        "mmlu_max_drop",
        "general_max_drop",
        "domain_min_gain",
    ]
    assert report["mix"]["sources"][0] == {
        "name": "customer", "role": "customer", "declared_share": 0.75, "achieved_share": 0.74,
        "mix_share": 0.75, "selected": 74,
    }  # fmt: skip
    assert report["recipe"]["sha256"] == hashlib.sha256(b"run: {}\n").hexdigest()
    assert report["cost"] == {"estimate_usd": 12.5, "actual_usd": None, "jobs": []}
    trained = report["classification"]["trained"]
    assert trained["per_label_f1"] == {"billing": 0.8, "delivery": 0.0}
    assert trained["f1_histogram"] == [1, 0, 0, 0, 0, 0, 0, 0, 1, 0]


def test_an_unmeasured_suite_stays_none_and_reads_not_measured_never_a_number() -> None:
    report = build_report(_summary())
    mmlu = next(s for s in report["suites"] if s["suite"] == "mmlu")
    assert (mmlu["base"], mmlu["trained"], mmlu["delta"]) == (None, None, None)
    assert mmlu["note"] == "not measured: no MMLU data offline"
    html = render_html(report)
    row = re.search(r"<tr><th>mmlu</th>.*?</tr>", html)
    assert row is not None
    assert row.group(0).count("not measured") >= 3
    assert "mmlu_max_drop: not measured: no MMLU data offline" in html


def test_missing_inputs_are_unknown_not_invented() -> None:
    report = build_report({"run_id": "r"})
    assert report["verdict"] == {"verdict": None, "failed": [], "unmeasured": [], "gates": []}
    assert report["suites"] == []
    assert report["classification"] == {}
    assert report["mix"] is None
    assert report["recipe"]["sha256"] is None
    assert report["cost"] == {"estimate_usd": None, "actual_usd": None, "jobs": []}
    html = render_html(report)
    assert 'Verdict: <span class="unknown">unknown</span>' in html
    assert "pre-flight estimate unknown; actual unknown" in html


def test_keys_the_report_does_not_know_yet_are_carried_and_shown() -> None:
    """Another issue's additions (a general suite, the actual cost, a baseline) show up without a change."""
    summary = _summary()
    summary["suites"]["general"] = {
        "metric": "f1_score",
        "base": 0.5,
        "trained": 0.4,
        "base_metrics": {"f1_score": 0.5},
        "trained_metrics": {"f1_score": 0.4},
    }
    summary["cost"] = {
        "estimate_usd": 10.0,
        "actual_usd": 8.25,
        "jobs": [{"job_name": "train-1", "billable_seconds": 60, "usd": 8.25}],
    }
    summary["baseline"] = {"reused": True}
    report = build_report(summary)
    general = next(s for s in report["suites"] if s["suite"] == "general")
    assert general["delta"] == -0.1
    assert report["cost"]["actual_usd"] == 8.25
    assert report["other"] == {"baseline": {"reused": True}}
    html = render_html(report)
    assert "actual $8.25" in html
    assert "train-1" in html
    assert "baseline" in html
    assert "<th>general</th>" in html


def test_the_verdict_of_a_regressed_run_names_each_failed_gate() -> None:
    summary = _summary()
    summary["gate"] = verdict(
        {"general": {"metric": "f1_score", "delta": -0.05, "note": None}}, gates_for(None)
    )
    html = render_html(build_report(summary))
    assert 'class="regressed">regressed' in html
    assert "general_max_drop: 5.0 points (threshold 2.0)" in html


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_user_text_is_escaped_everywhere_it_lands() -> None:
    summary = _summary(label=HOSTILE)
    summary["suites"][HOSTILE] = {"metric": HOSTILE, "base": 0.1, "trained": 0.2, "note": HOSTILE}
    mix = {**MIX_REPORT, "sources": [{**MIX_REPORT["sources"][0], "name": HOSTILE}]}
    html = render_html(build_report(summary, mix_report=mix))
    parser = _Collector()
    parser.feed(html)
    assert "script" not in parser.tags  # no element from user text: every label stayed text
    assert HOSTILE in "".join(parser.text)
    assert "<script" not in html.lower()


def test_the_page_is_self_contained() -> None:
    html = render_html(build_report(_summary(), mix_report=MIX_REPORT))
    assert not re.search(r"(src|href)=\"https?:", html)
    assert html.count("<svg") == 3  # base vs trained, per-label F1, mix shares


def test_a_chart_draws_a_bar_per_value_and_marks_a_missing_one() -> None:
    svg = bar_chart("t", ["a", "b"], [Series("base", (0.5, None)), Series("trained", (1.0, 0.25))], y_max=1.0)
    assert svg.count("<rect x=") == 3 + 2  # three bars and two legend swatches
    assert ">n/m<" in svg


def test_f1_histogram_puts_one_in_the_last_bin() -> None:
    assert f1_histogram([0.0, 0.05, 0.1, 0.99, 1.0]) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]
