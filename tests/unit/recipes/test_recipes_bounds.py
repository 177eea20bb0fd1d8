"""One test per documented bound, both sides of each boundary (values written from the sources, not
read from bounds.yaml, so that a wrong table fails here)."""

from __future__ import annotations

from typing import Any

import pytest

from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.bounds import RecipeError
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.render import RenderedRecipe, render_recipe

P5 = "ml.p5.48xlarge"
P4D = "ml.p4d.24xlarge"
TC = "training_config"
OPT = "training_config.model.optim"
LORA1 = "training_config.model.peft.lora_tuning"

# (model, technique, instance type, key, accepted value, refused value)
CASES: list[tuple[str, str, str, str, Any, Any]] = [
    # max_length: multiple of 1024 in [1024, 65536]; Lite LoRA and DPO ≤ 32768; DPO on p4d ≤ 16384
    ("lite", "sft-full", P5, f"{TC}.max_length", 1024, -1024),
    ("lite", "sft-full", P5, f"{TC}.max_length", 65536, 66560),
    ("micro", "sft-lora", P5, f"{TC}.max_length", 65536, 66560),
    ("pro", "sft-lora", P5, f"{TC}.max_length", 65536, 66560),
    ("lite", "sft-full", P5, f"{TC}.max_length", 3072, 3000),
    ("lite", "sft-lora", P5, f"{TC}.max_length", 32768, 33792),
    ("lite", "dpo-full", P5, f"{TC}.max_length", 32768, 33792),
    ("micro", "dpo-lora", P5, f"{TC}.max_length", 32768, 33792),
    ("lite", "dpo-full", P4D, f"{TC}.max_length", 16384, 17408),
    # global_batch_size: SFT {16, 32, 64}, Pro ≤ 32; DPO full {…, 128}; DPO LoRA {…, 64}
    ("lite", "sft-lora", P5, f"{TC}.global_batch_size", 16, 8),
    ("lite", "sft-lora", P5, f"{TC}.global_batch_size", 64, 128),
    ("micro", "sft-full", P5, f"{TC}.global_batch_size", 32, 48),
    ("pro", "sft-lora", P5, f"{TC}.global_batch_size", 32, 64),
    ("pro", "sft-full", P5, f"{TC}.global_batch_size", 16, 64),
    ("lite", "dpo-full", P5, f"{TC}.global_batch_size", 16, 8),
    ("lite", "dpo-full", P5, f"{TC}.global_batch_size", 128, 256),
    ("pro", "dpo-lora", P5, f"{TC}.global_batch_size", 64, 128),
    # max_epochs ≥ 1; SFT ≤ 100 (template); DPO ≤ 5
    ("lite", "sft-lora", P5, f"{TC}.trainer.max_epochs", 1, 0),
    ("lite", "sft-lora", P5, f"{TC}.trainer.max_epochs", 100, 101),
    ("lite", "dpo-full", P5, f"{TC}.trainer.max_epochs", 5, 6),
    ("micro", "dpo-lora", P5, f"{TC}.trainer.max_epochs", 1, 0),
    # dropouts in [0, 1]
    ("lite", "sft-lora", P5, f"{TC}.model.hidden_dropout", 0.0, -0.01),
    ("lite", "sft-lora", P5, f"{TC}.model.hidden_dropout", 1.0, 1.01),
    ("lite", "sft-lora", P5, f"{TC}.model.attention_dropout", 0.0, -0.01),
    ("lite", "sft-lora", P5, f"{TC}.model.attention_dropout", 1.0, 1.01),
    ("lite", "dpo-full", P5, f"{TC}.model.ffn_dropout", 0.0, -0.01),
    ("lite", "dpo-full", P5, f"{TC}.model.ffn_dropout", 1.0, 1.01),
    # optimizer
    ("lite", "sft-lora", P5, f"{OPT}.lr", 1.0, 1.5),
    ("lite", "sft-lora", P5, f"{OPT}.lr", 2e-6, -1.0),
    ("lite", "sft-lora", P5, f"{OPT}.eps", 1e-10, 9e-11),
    ("lite", "sft-lora", P5, f"{OPT}.eps", 1e-6, 1.1e-6),
    ("lite", "sft-lora", P5, f"{OPT}.weight_decay", 0.0, -0.1),
    ("lite", "sft-lora", P5, f"{OPT}.weight_decay", 1.0, 1.1),
    ("lite", "sft-lora", P5, f"{OPT}.betas", [0.0, 1.0], [-0.1, 0.9]),
    ("lite", "sft-lora", P5, f"{OPT}.betas", [0.9, 1.0], [0.9, 1.01]),
    ("lite", "sft-lora", P5, f"{OPT}.sched.warmup_steps", 1, 0),
    ("lite", "sft-lora", P5, f"{OPT}.sched.warmup_steps", 20, 21),
    ("lite", "sft-lora", P5, f"{OPT}.sched.constant_steps", 0, -1),
    ("lite", "sft-lora", P5, f"{OPT}.sched.min_lr", 1e-7, 9e-8),
    ("lite", "sft-lora", P5, f"{OPT}.sched.min_lr", 9.9e-6, 1e-5),  # must stay below lr (1e-5)
    # LoRA
    ("lite", "sft-lora", P5, f"{LORA1}.loraplus_lr_ratio", 1.0, 0.99),
    ("lite", "sft-lora", P5, f"{LORA1}.loraplus_lr_ratio", 70.0, 70.5),
    ("lite", "sft-lora", P5, f"{LORA1}.alpha", 32, 16),
    ("lite", "sft-lora", P5, f"{LORA1}.alpha", 192, 224),
    ("micro", "dpo-lora", P5, f"{LORA1}.alpha", 96, 100),
    ("lite", "sft-lora", P5, f"{LORA1}.adapter_dropout", 0.0, -0.1),
    ("lite", "sft-lora", P5, f"{LORA1}.adapter_dropout", 1.0, 1.1),
    # DPO beta in [0.001, 0.1]
    ("lite", "dpo-full", P5, f"{TC}.model.dpo_cfg.beta", 0.001, 0.0009),
    ("pro", "dpo-lora", P5, f"{TC}.model.dpo_cfg.beta", 0.1, 0.11),
    # Nova 2.0 Lite
    ("lite-2", "sft-lora", P5, f"{TC}.max_length", 8192, 4096),
    ("lite-2", "sft-lora", P5, f"{TC}.max_length", 65536, 24576),
    ("lite-2", "sft-full", P5, f"{TC}.global_batch_size", 32, 16),
    ("lite-2", "sft-full", P5, f"{TC}.global_batch_size", 128, 256),
    ("lite-2", "sft-lora", P5, f"{TC}.max_steps", 4, 3),
    ("lite-2", "sft-lora", P5, f"{TC}.max_steps", 100000, 100001),
    ("lite-2", "sft-lora", P5, f"{TC}.save_steps", 1, 0),
    ("lite-2", "sft-lora", P5, f"{TC}.save_steps", 100, 100001),  # ≤ max_steps (100) and 100000
    ("lite-2", "sft-lora", P5, f"{TC}.val_check_interval", 1, 0),
    ("lite-2", "sft-lora", P5, f"{TC}.val_check_interval", 100000, 100001),
    ("lite-2", "sft-lora", P5, f"{TC}.limit_val_batches", 0, -1),
    ("lite-2", "sft-lora", P5, f"{TC}.limit_val_batches", 100000, 100001),
    ("lite-2", "sft-lora", P5, f"{TC}.lr_scheduler.warmup_steps", 0, -1),
    ("lite-2", "sft-lora", P5, f"{TC}.lr_scheduler.warmup_steps", 100, 101),
    ("lite-2", "sft-lora", P5, f"{TC}.lr_scheduler.min_lr", 0.0, -0.1),
    ("lite-2", "sft-lora", P5, f"{TC}.lr_scheduler.min_lr", 9e-6, 1e-5),  # below lr (1e-5)
    ("lite-2", "sft-lora", P5, f"{TC}.optim_config.lr", 1.0, 1.1),
    ("lite-2", "sft-lora", P5, f"{TC}.optim_config.weight_decay", 1.0, 1.1),
    ("lite-2", "sft-lora", P5, f"{TC}.optim_config.adam_beta1", 0.0, -0.1),
    ("lite-2", "sft-lora", P5, f"{TC}.optim_config.adam_beta2", 1.0, 1.1),
    ("lite-2", "sft-lora", P5, f"{TC}.peft.lora_tuning.alpha", 160, 150),
    ("lite-2", "sft-lora", P5, f"{TC}.peft.lora_tuning.lora_plus_lr_ratio", 1.0, 0.5),
    ("lite-2", "sft-lora", P5, f"{TC}.peft.lora_tuning.lora_plus_lr_ratio", 70.0, 71.0),
    ("lite-2", "sft-full", P5, f"{TC}.model_importance_score.fine_tuned_model", 0.0, -0.1),
    ("lite-2", "sft-full", P5, f"{TC}.model_importance_score.fine_tuned_model", 1.0, 1.1),
]

# (model, technique, instance type, accepted counts, refused counts)
REPLICAS: list[tuple[str, str, str, list[int], list[int]]] = [
    ("micro", "sft-lora", P5, [2, 4, 8], [1, 3, 16]),
    ("micro", "dpo-full", P4D, [2, 8], [1, 16]),
    ("lite", "sft-full", P5, [4, 8, 16], [2, 32]),
    ("lite", "dpo-lora", "ml.p5en.48xlarge", [4, 16], [2, 32]),
    ("pro", "sft-lora", P5, [6, 12, 24], [3, 48]),
    ("pro", "dpo-full", P5, [6, 24], [3, 48]),
    ("pro", "dpo-full", P4D, [12, 24], [6, 48]),
    ("micro", "sft-lora", "ml.g5.12xlarge", [1], [2]),
    ("lite", "dpo-lora", "ml.g6.48xlarge", [1], [2]),
    ("lite-2", "sft-lora", P5, [4, 8, 16], [1, 32]),
]

# (model, technique, instance type) that no documented recipe runs on
BAD_INSTANCES = [
    ("pro", "sft-full", P4D),
    ("pro", "sft-lora", "ml.g5.12xlarge"),
    ("lite", "sft-full", "ml.g5.12xlarge"),
    ("lite", "dpo-lora", "ml.g5.12xlarge"),
    ("lite-2", "sft-lora", P4D),
    ("micro", "sft-lora", "ml.m5.large"),
]


def _render(
    model: str, technique: str, instance: str, overrides: dict[str, Any], **kw: Any
) -> RenderedRecipe:
    replicas = kw.pop("replicas", None)
    if replicas is None and instance.startswith("ml.g"):
        replicas = 1
    if replicas is None and model == "pro" and instance == P4D:
        replicas = 12
    return render_recipe(
        TrainingConfig(
            model=NovaModel(model),
            technique=Technique(technique),
            instance_type=instance,
            replicas=replicas,
            overrides=overrides,
        )
    )


def _case_id(case: tuple[str, str, str, str, Any, Any]) -> str:
    return f"{case[0]}-{case[1]}-{case[3].rsplit('.', 1)[-1]}-{case[5]}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_recipes_bound_accepts_the_boundary(case: tuple[str, str, str, str, Any, Any]) -> None:
    model, technique, instance, key, good, _ = case
    rendered = _render(model, technique, instance, {key: good})
    node: Any = rendered.recipe
    for part in key.split("."):
        node = node[part]
    assert node == pytest.approx(good)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_recipes_bound_refuses_beyond_the_boundary(case: tuple[str, str, str, str, Any, Any]) -> None:
    model, technique, instance, key, _, bad = case
    with pytest.raises(RecipeError) as caught:
        _render(model, technique, instance, {key: bad})
    # The key is named (a dependent key may be named too: min_lr < lr, save_steps follows max_steps).
    named = [p for p in caught.value.problems if p.key.split("[")[0] == key]
    assert named, [p.key for p in caught.value.problems]
    problem = named[0]
    # The message names the key, the value and the allowed range (with its source).
    assert key in problem.message
    assert "allowed" in problem.message
    assert "source:" in problem.message


@pytest.mark.parametrize(("model", "technique", "instance", "good", "bad"), REPLICAS)
def test_recipes_bound_replicas(
    model: str, technique: str, instance: str, good: list[int], bad: list[int]
) -> None:
    for count in good:
        assert _render(model, technique, instance, {}, replicas=count).replicas == count
    for count in bad:
        with pytest.raises(RecipeError) as caught:
            _render(model, technique, instance, {}, replicas=count)
        assert [p.key for p in caught.value.problems] == ["replicas"]
        assert f"replicas = {count}" in caught.value.problems[0].message


@pytest.mark.parametrize(("model", "technique", "instance"), BAD_INSTANCES)
def test_recipes_bound_instance_types(model: str, technique: str, instance: str) -> None:
    with pytest.raises(RecipeError) as caught:
        _render(model, technique, instance, {}, replicas=1)
    assert [p.key for p in caught.value.problems] == ["instance_type"]


def test_recipes_bound_lite_lora_64k_is_refused_but_full_rank_is_not() -> None:
    with pytest.raises(RecipeError, match="LoRA is not supported at 64k"):
        _render("lite", "sft-lora", P5, {"training_config.max_length": 65536})
    assert _render("lite", "sft-full", P5, {"training_config.max_length": 65536}).max_length == 65536


def test_recipes_bound_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RecipeError) as caught:
        _render(
            "lite",
            "sft-lora",
            P5,
            {
                "training_config.global_batch_size": 8,
                "training_config.trainer.max_epochs": 0,
                f"{LORA1}.alpha": 1,
            },
        )
    assert len(caught.value.problems) == 3


def test_recipes_bound_default_replicas_follow_the_instance_type() -> None:
    g5 = render_recipe(TrainingConfig(model=NovaModel.MICRO, instance_type="ml.g5.12xlarge"))
    assert g5.replicas == 1
    p4d = render_recipe(TrainingConfig(model=NovaModel.PRO, technique=Technique.DPO_FULL, instance_type=P4D))
    assert p4d.replicas == 12
    assert render_recipe(TrainingConfig(model=NovaModel.PRO)).replicas == 6
