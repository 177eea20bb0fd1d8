"""Random overrides either render a recipe inside every bound or fail naming a key — nothing else."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.bounds import Context, RecipeError, check_bounds, check_instances, leaves
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.render import render_recipe
from forgeflow.recipes.tables import base_recipe

COMBOS = [(m, t) for m in (NovaModel.MICRO, NovaModel.LITE, NovaModel.PRO) for t in Technique] + [
    (NovaModel.LITE_2, Technique.SFT_LORA),
    (NovaModel.LITE_2, Technique.SFT_FULL),
]
INSTANCES = ["ml.p5.48xlarge", "ml.p4d.24xlarge", "ml.p5en.48xlarge", "ml.g5.12xlarge", "ml.m5.large"]
VALUES = st.one_of(
    st.integers(min_value=-10, max_value=300_000),
    st.sampled_from([16, 32, 64, 128, 256, 1024, 8192, 32768, 65536, 4, 5, 20, 100]),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(min_value=0, max_value=1),
    st.booleans(),
    st.none(),
    st.text(max_size=6),
    st.lists(st.floats(min_value=-0.5, max_value=1.5), min_size=0, max_size=3),
)


@st.composite
def configs(draw: st.DrawFn) -> TrainingConfig:
    model, technique = draw(st.sampled_from(COMBOS))
    keys = [path for path, _ in leaves(base_recipe(model, technique))]
    # Mostly real keys, sometimes a made-up one.
    key = st.one_of(st.sampled_from(keys), st.sampled_from(keys).map(lambda k: k + "x"))
    overrides: dict[str, Any] = draw(st.dictionaries(key, VALUES, max_size=4))
    replicas = draw(st.one_of(st.none(), st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16, 24, 32])))
    return TrainingConfig(
        model=model,
        technique=technique,
        instance_type=draw(st.sampled_from(INSTANCES)),
        replicas=replicas,
        overrides=overrides,
    )


@settings(max_examples=300, deadline=None)
@given(configs())
def test_recipes_hypothesis_random_overrides(config: TrainingConfig) -> None:
    try:
        rendered = render_recipe(config)
    except RecipeError as error:
        problems = error.problems
    else:
        problems = []
    if problems:
        for problem in problems:
            assert problem.key
            named = problem.key.split("[")[0] in problem.message
            assert named or problem.key in ("instance_type", "replicas")
        return
    # Rendered: every bound holds, on the recipe as it will be uploaded.
    context = Context(config.model, config.technique, config.instance_type)
    assert check_bounds(rendered.recipe, context) == []
    assert check_instances(context, rendered.replicas) == []
    for path, value in config.overrides.items():
        node: Any = rendered.recipe
        for part in path.split("."):
            node = node[part]
        assert node == value or (isinstance(value, str | list) and node is not None)
