"""What a refused recipe tells its user, word for word, and how several rules of one key combine.

The bounds themselves are tested at both sides of each boundary in test_recipes_bounds.py; here the
message (key, value, allowed range, every source), the refusal's fields, and the combination rules of
data/bounds.yaml's header ("all rules whose `when` matches apply together ... the stricter source always
wins") whatever the order of the rules. Values and sources are those of data/bounds.yaml (DG-SFT, DG-DPO,
HPR-TPL, HPR-RCP: seed 004 and shared/reference/nova-recipes.md §1.2-§1.6).
"""

from __future__ import annotations

from typing import Any

import pytest

from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes import bounds
from forgeflow.recipes.bounds import Bound, Context, RecipeError, check_bounds, effective_bounds
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.render import render_recipe
from forgeflow.recipes.tables import table

P5 = "ml.p5.48xlarge"
OPT = "training_config.model.optim"
LITE_LORA = "Nova lite sft-lora on ml.p5.48xlarge"


def _refusal(model: str, technique: str, instance: str, overrides: dict[str, Any], **kw: Any) -> RecipeError:
    config = TrainingConfig(
        model=NovaModel(model),
        technique=Technique(technique),
        instance_type=instance,
        overrides=overrides,
        **kw,
    )
    with pytest.raises(RecipeError) as caught:
        render_recipe(config)
    return caught.value


# (model, technique, overrides, key, value, allowed, sources): one refusal each, as the user reads it.
MESSAGES: list[tuple[str, str, dict[str, Any], str, Any, str, str]] = [
    # two rules on one key: both sources, the stricter maximum, the multiple
    (
        "lite",
        "sft-lora",
        {"training_config.max_length": 33792},
        "training_config.max_length",
        33792,
        "[1024, 32768], a multiple of 1024",
        "DG-SFT: tunable to the nearest 1024 multiple, 1024-65536; DG-SFT: Lite LoRA supports at most 32768;"
        " seed limits table: LoRA is not supported at 64k for Nova Lite",
    ),
    # an allowed set cut by another rule's maximum: only the values in range are offered
    (
        "pro",
        "sft-full",
        {"training_config.global_batch_size": 64},
        "training_config.global_batch_size",
        64,
        "one of {16, 32}",
        "DG-SFT and HPR-TPL nova_lora_sft / nova_sft: 16, 32, 64; DG-SFT: max value 32 for Nova Pro",
    ),
    # a minimum only: the open side is "inf"
    (
        "lite",
        "sft-lora",
        {f"{OPT}.sched.constant_steps": -1},
        f"{OPT}.sched.constant_steps",
        -1,
        "[0, inf]",
        "DG-SFT: steps at constant learning rate (a step count: never negative)",
    ),
    # a relation to another key, with that key's value
    (
        "lite",
        "sft-lora",
        {f"{OPT}.sched.min_lr": 1e-5},
        f"{OPT}.sched.min_lr",
        1e-5,
        "[1e-07, 1], less than training_config.model.optim.lr (1e-05)",
        "DG-SFT / DG-DPO: 0-1 and less than lr; HPR-TPL: 1e-7 to 1 (stricter)",
    ),
    (
        "lite-2",
        "sft-lora",
        {"training_config.save_steps": 200, "training_config.max_steps": 100},
        "training_config.save_steps",
        200,
        "[1, 100000], at most training_config.max_steps (100)",
        'HPR-TPL nova_sft_2_0: 1-100000; HPR-RCP nova_lite_2_0_p5_gpu_{lora_,}sft: save_steps "should be less'
        ' than or equal to max_steps"',
    ),
    # one item of a list, named by its index
    (
        "lite",
        "sft-lora",
        {f"{OPT}.betas": [0.9, 1.01]},
        f"{OPT}.betas[1]",
        1.01,
        "[0, 1]",
        "DG-SFT / DG-DPO: each beta between 0.0 and 1.0",
    ),
]


@pytest.mark.parametrize("case", MESSAGES, ids=[case[3].rsplit(".", 1)[-1] for case in MESSAGES])
def test_recipes_bounds_refusal_word_for_word(
    case: tuple[str, str, dict[str, Any], str, Any, str, str],
) -> None:
    model, technique, overrides, key, value, allowed, sources = case
    error = _refusal(model, technique, P5, overrides)
    [problem] = error.problems
    assert (problem.key, problem.value, problem.allowed) == (key, value, allowed)
    shown = str(value).removesuffix(".0")
    context = f"Nova {model} {technique} on {P5}"
    assert (
        problem.message
        == f"{key} = {shown} is not allowed for {context}: allowed {allowed} (source: {sources})"
    )
    assert str(error) == f"recipe refused (1 problem):\n  - {problem.message}"
    assert error.code == "RECIPE_OUT_OF_BOUNDS"


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        # a whole float reads as an integer ("= 71", as the range reads "[1, 70]") ...
        ("training_config.peft.lora_tuning.lora_plus_lr_ratio", 71.0, "71"),
        # ... a fraction keeps its digits ...
        ("training_config.optim_config.lr", 1.5, "1.5"),
        # ... and from 1e15 on Python's own spelling, not a 16-digit integer
        ("training_config.optim_config.lr", 1e14, "100000000000000"),
        ("training_config.optim_config.lr", 1e15, "1000000000000000.0"),
    ],
)
def test_recipes_bounds_refused_value_as_written(key: str, value: float, shown: str) -> None:
    [problem] = _refusal("lite-2", "sft-lora", P5, {key: value}).problems
    assert problem.value == value
    assert problem.message.startswith(f"{key} = {shown} is not allowed for Nova lite-2 sft-lora on {P5}: ")


def test_recipes_bounds_every_problem_listed_in_the_error() -> None:
    error = _refusal(
        "lite",
        "sft-lora",
        P5,
        {"training_config.global_batch_size": 8, "training_config.trainer.max_epochs": 0},
    )
    first, second = error.problems
    assert (first.key, second.key) == (
        "training_config.global_batch_size",
        "training_config.trainer.max_epochs",
    )
    assert first.message.startswith(f"training_config.global_batch_size = 8 is not allowed for {LITE_LORA}: ")
    assert first.allowed == "one of {16, 32, 64}"
    assert second.allowed == "[1, 100]"
    assert str(error) == f"recipe refused (2 problems):\n  - {first.message}\n  - {second.message}"


def test_recipes_bounds_unknown_key_points_to_the_docs() -> None:
    error = _refusal("lite", "sft-lora", P5, {"training_config.nope": 1})
    assert error.hint == "see docs/recipes.md for the keys of each recipe"
    assert str(error).endswith(" (see docs/recipes.md for the keys of each recipe)")


def test_recipes_bounds_undocumented_instance_type_word_for_word() -> None:
    error = _refusal("pro", "dpo-full", "ml.g5.12xlarge", {}, replicas=1)
    [problem] = error.problems
    allowed = "one of {ml.p4d.24xlarge, ml.p5.48xlarge, ml.p5en.48xlarge}"
    assert (problem.key, problem.value, problem.allowed) == ("instance_type", "ml.g5.12xlarge", allowed)
    assert problem.message == (
        f"instance_type = ml.g5.12xlarge is not documented for Nova pro dpo-full: allowed {allowed} (source: "
        "HPR-TPL nova_pro_1_0_p5_gpu_{sft,dpo}: [6, 12, 24]; HPR-META p5/p5en only; "
        "HPR-TPL nova_pro_1_0_p4d_gpu_dpo: [12, 24])"
    )


def test_recipes_bounds_replica_count_word_for_word() -> None:
    [problem] = _refusal("pro", "dpo-full", P5, {}, replicas=3).problems
    assert (problem.key, problem.value, problem.allowed) == ("replicas", 3, "one of {6, 12, 24}")
    assert problem.message == (
        f"replicas = 3 is not allowed for Nova pro dpo-full on {P5}: allowed one of {{6, 12, 24}} "
        "(source: HPR-TPL nova_pro_1_0_p5_gpu_{sft,dpo}: [6, 12, 24]; HPR-META p5/p5en only)"
    )


def test_recipes_bounds_a_partial_recipe_is_checked_on_the_keys_it_has() -> None:
    # max_length, the first rule's key, is absent: the keys after it are still checked.
    partial = {"training_config": {"trainer": {"max_epochs": 0}}}
    problems = check_bounds(partial, Context(NovaModel.LITE, Technique.SFT_LORA, P5))
    assert [(p.key, p.value) for p in problems] == [("training_config.trainer.max_epochs", 0)]


# -- the combination of rules, on an edited table ------------------------------------------------------


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A bounds table the test edits; bounds.py reads it as it reads data/bounds.yaml."""
    edited: dict[str, Any] = table("bounds.yaml")
    monkeypatch.setattr(bounds, "table", lambda name: edited)
    return edited


def _effective(context: Context) -> dict[str, tuple[Any, ...]]:
    return {
        # the relations and sources are listed in rule order; what they admit does not depend on it
        key: (b.key, b.minimum, b.maximum, b.allowed, b.multiple_of, sorted(b.less_than), sorted(b.at_most))
        for key, b in effective_bounds(context).items()
    }


@pytest.mark.parametrize(
    ("model", "technique", "instance"),
    [
        ("lite", "sft-lora", P5),  # loraplus_lr_ratio: min 0 / max 100 (DG), then 1-70 (HPR-TPL)
        ("lite", "dpo-full", P5),  # global_batch_size: {16..256} (DG-DPO), then {16..128} (HPR-TPL)
        ("pro", "sft-full", P5),  # global_batch_size: enum, then max 32
        ("lite", "dpo-full", "ml.p4d.24xlarge"),  # max_length: 65536, 32768, then 16384
    ],
)
def test_recipes_bounds_the_stricter_rule_wins_in_any_order(
    rules: dict[str, Any], model: str, technique: str, instance: str
) -> None:
    context = Context(NovaModel(model), Technique(technique), instance)
    in_table_order = _effective(context)
    rules["rules"].reverse()
    assert _effective(context) == in_table_order
    for key, value in in_table_order.items():
        assert value[0] == key


def test_recipes_bounds_multiples_combine_to_their_lcm(rules: dict[str, Any]) -> None:
    key = "training_config.save_top_k"
    rules["rules"] = [
        {"key": key, "when": {"generation": 2}, "multiple_of": 4, "source": "four"},
        {"key": key, "when": {"generation": 2}, "multiple_of": 6, "source": "six"},
    ]
    [bound] = effective_bounds(Context(NovaModel.LITE_2, Technique.SFT_LORA, P5)).values()
    assert bound.multiple_of == 12
    assert [n for n in (4, 6, 8, 12, 18, 24) if bound.admits(n, {})] == [12, 24]
    assert bound.describe() == "a multiple of 12"
    assert bound.sources == ["four", "six"]


def test_recipes_bounds_a_rule_without_when_applies_to_every_recipe(rules: dict[str, Any]) -> None:
    rules["rules"] = [{"key": "training_config.max_length", "max": 2048, "source": "everywhere"}]
    for model, technique in (("micro", "sft-full"), ("lite-2", "sft-lora")):
        [bound] = effective_bounds(Context(NovaModel(model), Technique(technique), P5)).values()
        assert (bound.key, bound.maximum, bound.sources) == (
            "training_config.max_length",
            2048,
            ["everywhere"],
        )


def test_recipes_bounds_unknown_selector_names_the_table(rules: dict[str, Any]) -> None:
    rules["rules"] = [{"key": "k", "when": {"colour": "blue"}, "max": 1, "source": "s"}]
    with pytest.raises(ValueError, match=r"^bounds\.yaml: unknown selector 'colour'$"):
        effective_bounds(Context(NovaModel.LITE, Technique.SFT_LORA, P5))


def test_recipes_bounds_two_instance_rows_for_one_type_cite_both(rules: dict[str, Any]) -> None:
    rules["instances"] = [
        {"when": {"generation": 1}, "instance_types": [P5], "replicas": [4, 8], "source": "row one"},
        {"when": {"models": ["lite"]}, "instance_types": [P5], "replicas": [8, 2], "source": "row two"},
    ]
    [problem] = bounds.check_instances(Context(NovaModel.LITE, Technique.SFT_LORA, P5), 3)
    assert problem.allowed == "one of {2, 4, 8}"
    assert problem.message.endswith("allowed one of {2, 4, 8} (source: row one; row two)")


# -- how an allowed range reads (Bound is also what `forgeflow` checks --epochs with) -------------------


@pytest.mark.parametrize(
    ("bound", "recipe", "reads"),
    [
        (Bound("k"), None, "any value"),
        (Bound("k", maximum=5), None, "[-inf, 5]"),
        (Bound("k", minimum=1.0, maximum=100.0), None, "[1, 100]"),
        (Bound("k", minimum=0.5), None, "[0.5, inf]"),
        (Bound("k", allowed={3.0, 1.0, 2.0}, maximum=2), None, "one of {1, 2}"),
        # the other key's value is shown only when the recipe has a number there
        (Bound("k", less_than=["lr"]), {"lr": 0.1}, "less than lr (0.1)"),
        (Bound("k", less_than=["lr"]), {}, "less than lr"),
        (Bound("k", at_most=["a.b"]), {"a": {"b": "x"}}, "at most a.b"),
        (Bound("k", at_most=["a.b"]), None, "at most a.b"),
    ],
)
def test_recipes_bounds_allowed_range_reads(bound: Bound, recipe: dict[str, Any] | None, reads: str) -> None:
    assert bound.describe(recipe) == reads
