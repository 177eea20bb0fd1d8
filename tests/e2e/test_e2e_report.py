"""Issue #13 "Report" end to end on the local runtime: the pipeline writes the report, the CLI fetches it.

One real `forgeflow local run` (real template, ASL and handlers on moto) of a small labelled dataset; every
test reads what that run saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from forgeflow_tools.cli.main import main

from .test_e2e_evaluation import TEMPLATE, _labelled

pytestmark = pytest.mark.slow


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("report-run")
    data = _labelled(folder / "tickets.jsonl", 60)
    runs, mlruns = folder / "runs", folder / "mlruns"
    code, out, _ = _cli(
        ["local", "run", str(data), "--no-curated", "--template", str(TEMPLATE), "--outputs-dir", str(runs),
         "--tracking-uri", str(mlruns), "--output", "json"]
    )  # fmt: skip
    document = json.loads(out)
    # Customer-only: the stand-in's general suite drops, the gate says regressed (exit 3); a regressed run
    # gets its report like any evaluated run.
    assert code == 3, document
    outputs = Path(document["outputs_dir"])
    return {"runs": runs, "outputs": outputs, "run_id": outputs.name, "mlruns": mlruns}


def _prefix(saved_run: dict[str, Any]) -> Path:
    return saved_run["outputs"] / "s3" / "runs" / saved_run["run_id"]


def test_the_pipeline_writes_a_report_that_parses_and_matches_the_summary(saved_run: dict[str, Any]) -> None:
    prefix = _prefix(saved_run)
    report = json.loads((prefix / "report" / "report.json").read_text(encoding="utf-8"))
    summary = json.loads((prefix / "evaluation" / "summary.json").read_text(encoding="utf-8"))
    assert report["run_id"] == saved_run["run_id"]
    assert sorted(s["suite"] for s in report["suites"]) == sorted(summary["suites"])
    assert report["verdict"]["verdict"] == summary["gate"]["verdict"]
    assert report["emulated"] is True
    recipe = (prefix / "recipe" / "train" / "recipe.yaml").read_bytes()
    assert report["recipe"]["sha256"] == hashlib.sha256(recipe).hexdigest()
    mix = json.loads((prefix / "mix" / "mix_report.json").read_text(encoding="utf-8"))
    assert [s["achieved_share"] for s in report["mix"]["sources"]] == [
        s["achieved_share"] for s in mix["sources"]
    ]
    assert report["classification"]["trained"]["per_label_f1"]

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append(tag)

    parser = Tags()
    parser.feed((prefix / "report" / "report.html").read_text(encoding="utf-8"))
    assert parser.tags.count("svg") == 3
    assert "script" not in parser.tags


def test_runs_report_downloads_both_files(saved_run: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "report"
    code, stdout, _ = _cli(
        ["runs", "report", saved_run["run_id"], "--local", "--runs-dir", str(saved_run["runs"]),
         "--out", str(out), "--output", "json"]
    )  # fmt: skip
    assert code == 0
    document = json.loads(stdout)
    assert document["run_id"] == saved_run["run_id"]
    assert document["emulated"] is True
    for name in ("report.json", "report.html"):
        assert (out / name).read_bytes() == (_prefix(saved_run) / "report" / name).read_bytes()


def test_runs_report_of_an_unknown_run_or_a_run_without_report_exits_2(
    saved_run: dict[str, Any], tmp_path: Path
) -> None:
    code, _, err = _cli(["runs", "report", "no-such-run", "--local", "--runs-dir", str(saved_run["runs"])])
    assert code == 2
    assert "no-such-run" in err
    # The same run, saved without its report (as a run that stopped before evaluation is).
    runs = tmp_path / "runs"
    shutil.copytree(saved_run["outputs"], runs / saved_run["run_id"])
    shutil.rmtree(runs / saved_run["run_id"] / "s3" / "runs" / saved_run["run_id"] / "report")
    code, _, err = _cli(["runs", "report", saved_run["run_id"], "--local", "--runs-dir", str(runs)])
    assert code == 2
    assert "[NO_REPORT]" in err
    assert "report.json" in err
    code, _, err = _cli(["runs", "report", saved_run["run_id"], "--local", "--stack", "s"])
    assert code == 2
    assert "either --local or --stack" in err


def test_runs_show_prints_the_verdict_and_each_suites_delta(saved_run: dict[str, Any]) -> None:
    code, stdout, _ = _cli(
        ["runs", "show", saved_run["run_id"], "--local", "--runs-dir", str(saved_run["runs"])]
    )
    assert code == 0
    report = json.loads((_prefix(saved_run) / "report" / "report.json").read_text(encoding="utf-8"))
    assert f"verdict     {report['verdict']['verdict']} (emulated" in stdout
    classification = next(s for s in report["suites"] if s["suite"] == "classification")
    assert f"{classification['delta']:+.4f}" in stdout
    code, stdout, _ = _cli(
        ["runs", "show", saved_run["run_id"], "--local", "--runs-dir", str(saved_run["runs"]),
         "--output", "json"]
    )  # fmt: skip
    assert json.loads(stdout)["evaluation"]["suites"]["classification"]["delta"] == classification["delta"]


def test_the_local_run_is_an_mlflow_run_in_the_file_store(saved_run: dict[str, Any]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=saved_run["mlruns"].as_uri())
    experiment = client.get_experiment_by_name("forgeflow")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    report = json.loads((_prefix(saved_run) / "report" / "report.json").read_text(encoding="utf-8"))
    classification = next(s for s in report["suites"] if s["suite"] == "classification")
    assert run.data.tags["forgeflow.run_id"] == saved_run["run_id"]
    assert run.data.tags["forgeflow.verdict"] == report["verdict"]["verdict"]
    assert run.data.metrics["classification.delta"] == classification["delta"]
    assert run.data.params["technique"] == "sft-lora"
    assert {"model", "plan", "recipe", "seed"} <= set(run.data.params)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert artifacts == {"mix_report.json", "recipe.yaml", "report.json", "report.html"}
