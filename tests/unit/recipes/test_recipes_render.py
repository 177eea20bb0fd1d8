"""Rendering: golden recipes per supported combination, overrides, fixed and unknown keys, YAML safety."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from forgeflow.errors import DataError
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.bounds import RecipeError
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.render import render_recipe

GOLDEN = Path(__file__).parent / "golden"
COMBINATIONS = [(m, t) for m in ("micro", "lite", "pro") for t in Technique] + [
    ("lite-2", Technique.SFT_LORA),
    ("lite-2", Technique.SFT_FULL),
]


@pytest.mark.parametrize(("model", "technique"), COMBINATIONS)
def test_recipes_render_matches_golden(model: str, technique: Technique) -> None:
    rendered = render_recipe(TrainingConfig(model=NovaModel(model), technique=technique, name="golden-run"))
    path = GOLDEN / f"recipe_{model}_{technique.value}.yaml"
    text = rendered.to_yaml()
    if os.environ.get("FORGEFLOW_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    # The YAML round-trips to the same mapping (no tags, nothing lost).
    assert yaml.safe_load(text) == rendered.recipe


# The g5/g6 recipes (their own base recipes: recipes/data/base/*_g5_g6.yaml).
G5_G6 = [
    ("micro", Technique.SFT_LORA, "ml.g5.12xlarge"),
    ("micro", Technique.SFT_FULL, "ml.g6.48xlarge"),
    ("micro", Technique.DPO_LORA, "ml.g5.48xlarge"),
    ("lite", Technique.SFT_LORA, "ml.g6.12xlarge"),
    ("lite", Technique.DPO_LORA, "ml.g5.48xlarge"),
]


@pytest.mark.parametrize(("model", "technique", "instance"), G5_G6)
def test_recipes_render_g5_g6_matches_golden(model: str, technique: Technique, instance: str) -> None:
    config = TrainingConfig(
        model=NovaModel(model), technique=technique, name="golden-run", instance_type=instance
    )
    path = GOLDEN / f"recipe_{model}_{technique.value}_g5_g6.yaml"
    text = render_recipe(config).to_yaml()
    if os.environ.get("FORGEFLOW_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("model", ["lite-2"])
@pytest.mark.parametrize("technique", [Technique.DPO_LORA, Technique.DPO_FULL])
def test_recipes_render_refuses_dpo_on_nova_2(model: str, technique: Technique) -> None:
    with pytest.raises(DataError, match="not supported for Nova model 'lite-2'"):
        render_recipe(TrainingConfig(model=NovaModel(model), technique=technique))


def test_recipes_render_fixed_identifiers() -> None:
    expected = {
        "micro": ("amazon.nova-micro-v1:0:128k", "nova-micro/prod"),
        "lite": ("amazon.nova-lite-v1:0:300k", "nova-lite/prod"),
        "pro": ("amazon.nova-pro-v1:0:300k", "nova-pro/prod"),
        "lite-2": ("amazon.nova-2-lite-v1:0:256k", "nova-lite-2/prod"),
    }
    for model, (model_type, path) in expected.items():
        rendered = render_recipe(TrainingConfig(model=NovaModel(model)))
        assert (rendered.model_type, rendered.model_name_or_path) == (model_type, path)


def test_recipes_render_nested_and_dotted_overrides_merge() -> None:
    config = TrainingConfig(
        overrides={
            "training_config": {"max_length": 16384, "trainer": {"max_epochs": 3}},
            "training_config.model.optim.lr": "2e-5",  # YAML 1.1 reads 2e-5 as a string: coerced
        }
    )
    rendered = render_recipe(config)
    assert rendered.max_length == 16384
    assert rendered.max_epochs == 3
    assert rendered.recipe["training_config"]["model"]["optim"]["lr"] == pytest.approx(2e-5)
    # Untouched keys keep the base recipe's values.
    assert rendered.recipe["training_config"]["model"]["peft"]["lora_tuning"]["alpha"] == 128


def test_recipes_render_unknown_key_is_named_with_suggestion() -> None:
    with pytest.raises(RecipeError) as caught:
        render_recipe(TrainingConfig(overrides={"training_config": {"max_lenght": 4096}}))
    (problem,) = caught.value.problems
    assert problem.key == "training_config.max_lenght"
    assert "did you mean training_config.max_length" in problem.message


def test_recipes_render_lora_key_on_full_rank_is_unknown() -> None:
    with pytest.raises(RecipeError, match=r"training_config\.model\.peft\.lora_tuning\.alpha"):
        render_recipe(
            TrainingConfig(
                technique=Technique.SFT_FULL,
                overrides={"training_config.model.peft.lora_tuning.alpha": 64},
            )
        )


@pytest.mark.parametrize(
    "key",
    [
        "run.model_type",
        "run.model_name_or_path",
        "run.replicas",
        "run.data_s3_path",
        "training_config.model.optim.name",
        "training_config.model.peft.peft_scheme",
    ],
)
def test_recipes_render_fixed_keys_cannot_be_overridden(key: str) -> None:
    with pytest.raises(RecipeError) as caught:
        render_recipe(TrainingConfig(overrides={key: "x"}))
    assert [p.key for p in caught.value.problems] == [key]
    assert "cannot be overridden" in caught.value.problems[0].message


def test_recipes_render_section_override_is_refused() -> None:
    with pytest.raises(RecipeError, match="is a section"):
        render_recipe(TrainingConfig(overrides={"training_config.model.optim": 1}))


def test_recipes_render_type_errors_name_the_key() -> None:
    with pytest.raises(RecipeError) as caught:
        render_recipe(TrainingConfig(overrides={"training_config.global_batch_size": "many"}))
    assert caught.value.problems[0].key == "training_config.global_batch_size"
    with pytest.raises(RecipeError, match="adam_w_mode"):
        render_recipe(TrainingConfig(overrides={"training_config.model.optim.adam_w_mode": [1]}))
    with pytest.raises(RecipeError, match=r"max_epochs"):
        render_recipe(TrainingConfig(overrides={"training_config.trainer.max_epochs": True}))


def test_recipes_render_nova2_save_steps_follows_max_steps() -> None:
    rendered = render_recipe(
        TrainingConfig(model=NovaModel.LITE_2, overrides={"training_config.max_steps": 40})
    )
    assert rendered.recipe["training_config"]["save_steps"] == 40
    assert rendered.max_steps == 40
    assert rendered.max_epochs is None
    pinned = render_recipe(
        TrainingConfig(
            model=NovaModel.LITE_2,
            overrides={"training_config": {"max_steps": 40, "save_steps": 10}},
        )
    )
    assert pinned.recipe["training_config"]["save_steps"] == 10


def test_recipes_render_nova2_full_rank_peft_is_the_string_null() -> None:
    rendered = render_recipe(TrainingConfig(model=NovaModel.LITE_2, technique=Technique.SFT_FULL))
    assert "peft_scheme: 'null'" in rendered.to_yaml()
    nova1 = render_recipe(TrainingConfig(technique=Technique.SFT_FULL))
    assert nova1.recipe["training_config"]["model"]["peft"]["peft_scheme"] is None


def test_recipes_render_yaml_is_safe_for_hostile_strings() -> None:
    name = "run: !!python/object:os.system 'rm -rf /'\n# not a comment"
    rendered = render_recipe(TrainingConfig(name=name))
    assert yaml.safe_load(rendered.to_yaml())["run"]["name"] == name


def test_recipes_render_base_recipe_is_not_mutated_between_renders() -> None:
    render_recipe(TrainingConfig(overrides={"training_config.max_length": 4096}))
    assert render_recipe(TrainingConfig()).max_length == 32768
