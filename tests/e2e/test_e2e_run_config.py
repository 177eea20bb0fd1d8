"""The run config on the real template (issue #10): the docs' run.yaml trains what `recipe render` prints,
and a config `recipe render` refuses ends in Run Failed at the recipe stage, before any job."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from forgeflow_tools.cli.main import main as cli
from tests.unit.pipeline.test_pipeline_run_config import DOCS_RUN_YAML

pytestmark = pytest.mark.slow


def _render(config: str, tmp_path: Path) -> tuple[int, str]:
    path = tmp_path / "run.yaml"
    path.write_text(config)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli(["recipe", "render", "--config", str(path)])
    return code, out.getvalue()


def test_the_docs_run_yaml_and_a_refused_config_through_the_whole_pipeline(
    local_stack, example_data, tmp_path: Path
) -> None:
    runtime = local_stack()
    config = DOCS_RUN_YAML + "name: docs-example\n"
    code, printed = _render(config, tmp_path)
    assert code == 0
    runtime.drop_dataset(example_data["support"], sidecar=config.encode())
    arn = runtime.wait_for_executions(1)[-1]["executionArn"]
    outcome = runtime.outcome(arn)
    assert outcome.status == "SUCCEEDED", outcome.events
    uploaded = runtime.read(f"runs/{outcome.run_id}/recipe/train/recipe.yaml").decode()
    assert uploaded in printed
    recipe = yaml.safe_load(uploaded)["training_config"]
    assert (recipe["max_length"], recipe["trainer"]["max_epochs"]) == (8192, 3)

    refused = "training:\n  overrides:\n    training_config.model.optim.lr: 1.5\n"
    assert _render(refused, tmp_path)[0] == 1
    jobs = len(runtime.emulator.jobs())
    runtime.drop_dataset(example_data["support"], sidecar=refused.encode())
    outcome = runtime.outcome(runtime.wait_for_executions(2)[-1]["executionArn"])
    assert outcome.status == "FAILED"
    failed = outcome.events[-1]
    assert (failed["detail-type"], failed["detail"]["stage"]) == ("Run Failed", "recipe")
    assert "lr" in failed["detail"]["message"]
    assert len(runtime.emulator.jobs()) == jobs
