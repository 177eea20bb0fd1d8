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
# Nova 2.0 bring-your-own-dataset evaluation: max_new_tokens ≤ 32768 (reference §1.6).
_GEN2_BYOD_MAX_NEW_TOKENS = 32_768


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
    if suite not in ("mmlu", "gen_qa"):
        raise DataError(f"unknown evaluation suite {suite!r}: use mmlu or gen_qa", code="INVALID_EVAL")
    if model_path is not None and not model_path.startswith("s3://"):
        raise DataError(
            f"the trained checkpoint must be an s3:// escrow URI, got {model_path!r}", code="INVALID_EVAL"
        )
    if not 1 <= replicas <= 16:
        raise DataError(f"evaluation replicas must be in [1, 16], got {replicas}", code="INVALID_EVAL")
    info = model_info(model)
    recipe: dict[str, Any] = copy.deepcopy(table(f"eval/{suite}_{model.generation}.yaml"))
    run = recipe["run"]
    run.update(
        name=name,
        model_type=info["model_type"],
        model_name_or_path=model_path or info["model_name_or_path"],
        replicas=replicas,
    )
    problems: list[RecipeProblem] = []
    for path, value in normalize_overrides(overrides or {}).items():
        section, _, key = path.partition(".")
        if section != "inference" or key not in recipe["inference"]:
            problems.append(
                RecipeProblem(
                    path,
                    value,
                    "an inference key",
                    f"{path} cannot be overridden in an evaluation recipe: only inference.* keys can "
                    f"({', '.join(sorted(recipe['inference']))})",
                )
            )
            continue
        recipe["inference"][key] = value
    if problems:
        raise RecipeError(problems)
    try:
        checked = EvalRecipe.model_validate(recipe).model_dump(mode="json", exclude_unset=True)
    except ValidationError as error:
        raise RecipeError(
            [
                RecipeProblem(
                    ".".join(str(p) for p in issue["loc"]),
                    issue.get("input"),
                    issue["msg"],
                    f"{'.'.join(str(p) for p in issue['loc'])}: {issue['msg']}",
                )
                for issue in error.errors()
            ]
        ) from None
    bounds = dict(_EVAL_BOUNDS)
    if model.generation == 2 and suite == "gen_qa":
        bounds["inference.max_new_tokens"] = (0, _GEN2_BYOD_MAX_NEW_TOKENS)
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
    return RenderedEvalRecipe(
        recipe=checked, model=model, suite=suite, target="trained" if model_path else "base"
    )
