"""Nova facts checked against their sources (issue #12): each expected value is written here from the
source named next to it, not read from ForgeFlow's data files, so that a wrong table fails here.

HPR = aws/sagemaker-hyperpod-recipes at 263199555b2e1f8eb9b17459892e440f3242b5d9;
HPR-FT = its recipes_collection/recipes/fine-tuning/nova/nova_1_0/;
HPR-TPL = its launcher/recipe_templatization/nova/nova_recipe_template_parameters.json.
"""

from __future__ import annotations

from typing import Any

import pytest

from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.bounds import RecipeError
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.evaluation import render_eval_recipe
from forgeflow.recipes.render import RenderedRecipe, render_recipe

TC = "training_config"


def _render(model: str, technique: str, instance: str = "ml.p5.48xlarge", **overrides: Any) -> RenderedRecipe:
    return render_recipe(
        TrainingConfig(
            model=NovaModel(model),
            technique=Technique(technique),
            instance_type=instance,
            overrides=overrides,
        )
    )


# ---- rows 2 and 3: Nova Pro defaults ----


def test_facts_pro_sft_full_trains_two_epochs_by_default() -> None:
    # HPR-FT nova_pro/SFT/nova_pro_1_0_p5_gpu_sft.yaml: `max_epochs: 2`.
    assert _render("pro", "sft-full").max_epochs == 2


@pytest.mark.parametrize(
    "technique",
    [
        # HPR-FT nova_pro/DPO/nova_pro_1_0_p5_gpu_dpo.yaml: `global_batch_size: 32`.
        "dpo-full",
        # HPR-FT nova_pro/DPO/nova_pro_1_0_p5_p4d_gpu_lora_dpo.yaml: `global_batch_size: 32`.
        "dpo-lora",
    ],
)
def test_facts_pro_dpo_global_batch_size_default_is_32(technique: str) -> None:
    assert _render("pro", technique).global_batch_size == 32


def test_facts_pro_sft_full_global_batch_size_default_is_16() -> None:
    # HPR-FT nova_pro/SFT/nova_pro_1_0_p5_gpu_sft.yaml: `global_batch_size: 16` (docs/recipes.md said 32).
    assert _render("pro", "sft-full").global_batch_size == 16


# ---- row 1: g5/g6 instances have their own recipes, bounds and defaults ----

# (model, technique, instance type, the HPR recipe for it, its max_length default = its documented maximum)
G5_G6: list[tuple[str, str, str, str, int]] = [
    # nova_micro/SFT/nova_micro_1_0_g5_g6_12x_gpu_lora_sft.yaml: "between [1024, 8192]", default 8192
    ("micro", "sft-lora", "ml.g5.12xlarge", "nova_micro_1_0_g5_g6_12x_gpu_lora_sft", 8192),
    # nova_micro/SFT/nova_micro_1_0_g5_g6_48x_gpu_lora_sft.yaml: "between [1024, 8192]", default 8192
    ("micro", "sft-lora", "ml.g6.48xlarge", "nova_micro_1_0_g5_g6_48x_gpu_lora_sft", 8192),
    # nova_lite/SFT/nova_lite_1_0_g5_g6_12x_gpu_lora_sft.yaml: "between [1024, 8192]", default 8192
    ("lite", "sft-lora", "ml.g6.12xlarge", "nova_lite_1_0_g5_g6_12x_gpu_lora_sft", 8192),
    # nova_lite/SFT/nova_lite_1_0_g5_g6_48x_gpu_lora_sft.yaml: "between [1024, 8192]", default 8192
    ("lite", "sft-lora", "ml.g5.48xlarge", "nova_lite_1_0_g5_g6_48x_gpu_lora_sft", 8192),
    # nova_micro/SFT/nova_micro_1_0_g5_g6_48x_gpu_sft.yaml: "between [1024, 4096]", default 4096
    ("micro", "sft-full", "ml.g5.48xlarge", "nova_micro_1_0_g5_g6_48x_gpu_sft", 4096),
    # nova_micro/DPO/nova_micro_1_0_g5_g6_12x_gpu_lora_dpo.yaml: "between [1024, 4096]", default 4096
    ("micro", "dpo-lora", "ml.g5.12xlarge", "nova_micro_1_0_g5_g6_12x_gpu_lora_dpo", 4096),
    # nova_micro/DPO/nova_micro_1_0_g5_g6_48x_gpu_lora_dpo.yaml: "between [1024, 4096]", default 4096
    ("micro", "dpo-lora", "ml.g6.48xlarge", "nova_micro_1_0_g5_g6_48x_gpu_lora_dpo", 4096),
    # nova_lite/DPO/nova_lite_1_0_g5_g6_48x_gpu_lora_dpo.yaml: "between [1024, 4096]", default 4096
    ("lite", "dpo-lora", "ml.g5.48xlarge", "nova_lite_1_0_g5_g6_48x_gpu_lora_dpo", 4096),
]


@pytest.mark.parametrize(("model", "technique", "instance", "hpr", "maximum"), G5_G6)
def test_facts_g5_g6_render_from_their_own_recipe(
    model: str, technique: str, instance: str, hpr: str, maximum: int
) -> None:
    rendered = _render(model, technique, instance)
    assert rendered.hpr_recipe == hpr
    assert rendered.max_length == maximum
    # Every g5/g6 recipe: `replicas: 1` ("allowed value is 1").
    assert rendered.replicas == 1


@pytest.mark.parametrize(("model", "technique", "instance", "hpr", "maximum"), G5_G6)
def test_facts_g5_g6_max_length_is_capped(
    model: str, technique: str, instance: str, hpr: str, maximum: int
) -> None:
    assert _render(model, technique, instance, **{f"{TC}.max_length": 1024}).max_length == 1024
    for refused in (maximum + 1024, 65536):
        with pytest.raises(RecipeError) as caught:
            _render(model, technique, instance, **{f"{TC}.max_length": refused})
        [problem] = caught.value.problems
        assert problem.key == f"{TC}.max_length"
        assert f"[1024, {maximum}]" in problem.allowed
        # The source named is the g5/g6 recipe itself.
        assert "_g5_g6_" in problem.message


def test_facts_g5_g6_micro_full_rank_uses_its_recipe_defaults() -> None:
    # HPR-FT nova_micro/SFT/nova_micro_1_0_g5_g6_48x_gpu_sft.yaml: global_batch_size 64, max_epochs 2,
    # lr 5e-6, min_lr 5e-7 (the p5 recipe: 16 and 1 epoch).
    rendered = _render("micro", "sft-full", "ml.g6.48xlarge")
    assert rendered.global_batch_size == 64
    assert rendered.max_epochs == 2
    optim = rendered.recipe[TC]["model"]["optim"]
    assert optim["lr"] == pytest.approx(5e-6)
    assert optim["sched"]["min_lr"] == pytest.approx(5e-7)


def test_facts_p5_keeps_its_own_defaults() -> None:
    # HPR-FT nova_lite/SFT/nova_lite_1_0_p5_p4d_gpu_lora_sft.yaml: max_length 32768.
    rendered = _render("lite", "sft-lora")
    assert rendered.max_length == 32768
    assert rendered.hpr_recipe == "nova_lite_1_0_p5_p4d_gpu_lora_sft"


# ---- row 4: Nova 2.0 evaluation ----


@pytest.mark.parametrize("suite", ["mmlu", "gen_qa"])
def test_facts_nova2_eval_max_new_tokens_is_capped_at_32768(suite: str) -> None:
    # HPR-TPL templates.nova_general_text_benchmark_2_0_eval and nova_bring_your_own_dataset_2_0_eval:
    # max_new_tokens {"min": 0, "max": 32768}.
    key = "inference.max_new_tokens"
    assert (
        render_eval_recipe(NovaModel.LITE_2, suite, overrides={key: 32768}).recipe["inference"][
            "max_new_tokens"
        ]
        == 32768
    )
    with pytest.raises(RecipeError) as caught:
        render_eval_recipe(NovaModel.LITE_2, suite, overrides={key: 32769})
    assert [p.key for p in caught.value.problems] == [key]


def test_facts_nova1_eval_max_new_tokens_keeps_the_1_0_cap() -> None:
    # HPR-TPL templates.nova_general_text_benchmark_eval: max_new_tokens {"min": 0, "max": 100000}.
    key = "inference.max_new_tokens"
    assert (
        render_eval_recipe(NovaModel.LITE, "mmlu", overrides={key: 65536}).recipe["inference"][
            "max_new_tokens"
        ]
        == 65536
    )
    with pytest.raises(RecipeError):
        render_eval_recipe(NovaModel.LITE, "mmlu", overrides={key: 100001})


# ---- Also: save_steps ≤ max_steps (Nova 2.0) ----


@pytest.mark.parametrize("technique", ["sft-lora", "sft-full"])
def test_facts_nova2_save_steps_may_not_exceed_max_steps(technique: str) -> None:
    # HPR nova_2_0/nova_lite/SFT/nova_lite_2_0_p5_gpu_{lora_,}sft.yaml, save_steps: "Should be less than or
    # equal to max_steps".
    ok = _render("lite-2", technique, **{f"{TC}.max_steps": 50, f"{TC}.save_steps": 50})
    assert ok.recipe[TC]["save_steps"] == 50
    with pytest.raises(RecipeError) as caught:
        _render("lite-2", technique, **{f"{TC}.max_steps": 50, f"{TC}.save_steps": 51})
    [problem] = caught.value.problems
    assert problem.key == f"{TC}.save_steps"
    assert "at most training_config.max_steps (50)" in problem.message
