"""Nova evaluation recipes: `mmlu` (general text benchmark) and bring-your-own `gen_qa` (domain eval),
for the base model or a trained checkpoint (its escrow URI as `run.model_name_or_path`).

Base recipes are data files (`data/eval/<suite>_<generation>.yaml`, written from the HPR evaluation
recipes); overrides are limited to the documented inference knobs and checked against their ranges.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from forgeflow.errors import DataError
from forgeflow.nova import NovaModel
from forgeflow.recipes.bounds import RecipeError, RecipeProblem
from forgeflow.recipes.models import EvalRecipe
from forgeflow.recipes.render import RecipeDocument, normalize_overrides
from forgeflow.recipes.tables import model_info, table

EvalSuite = Literal["mmlu", "gen_qa"]
EvalTarget = Literal["base", "trained"]

# The documented ranges of the evaluation templates (reference §1.6): inference knobs only.
_EVAL_BOUNDS: dict[str, tuple[float, float]] = {
    "inference.temperature": (0, 2),
    "inference.top_p": (0, 1),
    "inference.max_new_tokens": (0, 100_000),
    "inference.top_k": (-1, 1_000_000),
    "inference.top_logprobs": (0, 20),
}
# Tighter ranges by generation. Nova 2.0, both suites: max_new_tokens ≤ 32768 (aws/sagemaker-hyperpod-recipes
# launcher/recipe_templatization/nova/nova_recipe_template_parameters.json, templates
# nova_general_text_benchmark_2_0_eval and nova_bring_your_own_dataset_2_0_eval: "max": 32768; the 1.0
# templates: "max": 100000).
_EVAL_BOUNDS_BY_GENERATION: dict[int, dict[str, tuple[float, float]]] = {
    2: {"inference.max_new_tokens": (0, 32_768)},
}


@dataclass(frozen=True)
class RenderedEvalRecipe(RecipeDocument):
    """A checked Nova evaluation recipe for one suite and target."""

    model: NovaModel
    suite: EvalSuite
    target: EvalTarget

    @property
    def stage(self) -> str:
        """The job-name stage: eval-mmlu-base, eval-genqa-trained, …"""
        return f"eval-{self.suite.replace('_', '')}-{self.target}"


def _check_request(suite: EvalSuite, model_path: str | None, replicas: int) -> None:
    if suite not in ("mmlu", "gen_qa"):
        raise DataError(f"unknown evaluation suite {suite!r}: use mmlu or gen_qa", code="INVALID_EVAL")
    if model_path is not None and not model_path.startswith("s3://"):
        raise DataError(
            f"the trained checkpoint must be an s3:// escrow URI, got {model_path!r}", code="INVALID_EVAL"
        )
    if not 1 <= replicas <= 16:
        raise DataError(f"evaluation replicas must be in [1, 16], got {replicas}", code="INVALID_EVAL")


def _base_recipe(
    model: NovaModel, suite: EvalSuite, *, model_path: str | None, name: str, replicas: int
) -> dict[str, Any]:
    """The suite's base recipe (a fresh copy of the data file) with its `run` section filled in."""
    info = model_info(model)
    recipe: dict[str, Any] = copy.deepcopy(table(f"eval/{suite}_{model.generation}.yaml"))
    recipe["run"].update(
        name=name,
        model_type=info["model_type"],
        model_name_or_path=model_path or info["model_name_or_path"],
        replicas=replicas,
    )
    return recipe


def _apply_inference_overrides(recipe: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Set the overridden inference knobs; any other key is refused (all of them at once)."""
    problems: list[RecipeProblem] = []
    inference: dict[str, Any] = recipe["inference"]
    for path, value in normalize_overrides(overrides).items():
        section, _, key = path.partition(".")
        if section == "inference" and key in inference:
            inference[key] = value
            continue
        problems.append(
            RecipeProblem(
                path,
                value,
                "an inference key",
                f"{path} cannot be overridden in an evaluation recipe: only inference.* keys can "
                f"({', '.join(sorted(inference))})",
            )
        )
    if problems:
        raise RecipeError(problems)


def _validated(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe as the EvalRecipe model checks and dumps it; its errors become RecipeProblems."""
    try:
        return EvalRecipe.model_validate(recipe).model_dump(mode="json", exclude_unset=True)
    except ValidationError as error:
        problems = []
        for issue in error.errors():
            path = ".".join(str(p) for p in issue["loc"])
            problems.append(RecipeProblem(path, issue.get("input"), issue["msg"], f"{path}: {issue['msg']}"))
        raise RecipeError(problems) from None


def _check_bounds(checked: dict[str, Any], model: NovaModel) -> None:
    bounds = {**_EVAL_BOUNDS, **_EVAL_BOUNDS_BY_GENERATION.get(model.generation, {})}
    problems: list[RecipeProblem] = []
    for path, (low, high) in bounds.items():
        key = path.split(".", 1)[1]
        value = checked["inference"].get(key)
        if isinstance(value, int | float) and not low <= value <= high:
            problems.append(
                RecipeProblem(
                    path, value, f"[{low:g}, {high:g}]", f"{path} = {value} is outside [{low:g}, {high:g}]"
                )
            )
    if problems:
        raise RecipeError(problems)


def render_eval_recipe(
    model: NovaModel,
    suite: EvalSuite,
    *,
    model_path: str | None = None,
    name: str = "forgeflow-eval",
    replicas: int = 1,
    overrides: Mapping[str, Any] | None = None,
) -> RenderedEvalRecipe:
    """The evaluation recipe for the base model (`model_path` None) or a trained checkpoint (s3:// URI)."""
    _check_request(suite, model_path, replicas)
    recipe = _base_recipe(model, suite, model_path=model_path, name=name, replicas=replicas)
    _apply_inference_overrides(recipe, overrides or {})
    checked = _validated(recipe)
    _check_bounds(checked, model)
    return RenderedEvalRecipe(
        recipe=checked, model=model, suite=suite, target="trained" if model_path else "base"
    )
