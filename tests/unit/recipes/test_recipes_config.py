"""Run config loading: flat mapping, `training:` section of a run request, files, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeflow.errors import DataError, InputError
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.config import load_run_config, training_config_for_run


def test_recipes_config_flat_mapping() -> None:
    config = training_config_for_run({"model": "pro", "technique": "dpo-full", "replicas": 12})
    assert (config.model, config.technique, config.replicas) == (NovaModel.PRO, Technique.DPO_FULL, 12)


def test_recipes_config_training_section_takes_top_level_model() -> None:
    config = training_config_for_run(
        {"model": "micro", "technique": "sft-full", "mix": {"ignored": True}, "training": {"budget_usd": 50}}
    )
    assert (config.model, config.technique, config.budget_usd) == (NovaModel.MICRO, Technique.SFT_FULL, 50)


def test_recipes_config_unknown_field_is_named() -> None:
    with pytest.raises(DataError, match="instance_tyep"):
        training_config_for_run({"instance_tyep": "ml.p5.48xlarge"})


@pytest.mark.parametrize(
    "bad",
    [
        {"model": "nova-9"},
        {"budget_usd": -1},
        {"prices": {"ml.p5.48xlarge": 0}},
        {"max_runtime_seconds": 10**8},
    ],
)
def test_recipes_config_invalid_values(bad: dict[str, object]) -> None:
    with pytest.raises(DataError):
        training_config_for_run(bad)


def test_recipes_config_file(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("model: lite-2\ntraining:\n  overrides:\n    training_config.max_steps: 20\n")
    config = training_config_for_run(load_run_config(path))
    assert config.model is NovaModel.LITE_2
    assert config.overrides == {"training_config.max_steps": 20}
    with pytest.raises(InputError):
        load_run_config(tmp_path / "missing.yaml")
    path.write_text("model: [unclosed\n")
    with pytest.raises(DataError, match="not valid YAML"):
        training_config_for_run(load_run_config(path))
