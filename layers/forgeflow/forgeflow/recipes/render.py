"""Rendering: base recipe ← run-config overrides → typed model → documented bounds → YAML.

No string templating: the recipe is a mapping from the base data file, overrides are merged key by key
(unknown keys and fixed keys are errors that name them), the result is validated by the pydantic model of
its schema and by every matching bound, then dumped by PyYAML's safe dumper.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.bounds import (
    Context,
    RecipeError,
    RecipeProblem,
    check_bounds,
    check_instances,
    get_path,
    instance_rows,
    leaves,
)
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.models import RecipeV1, RecipeV2
from forgeflow.recipes.tables import base_recipe, hpr_recipe_name, table


@dataclass(frozen=True)
class RecipeDocument:
    """A Nova recipe mapping (training or evaluation): its fixed identifiers and its YAML form."""

    recipe: dict[str, Any]

    @property
    def model_type(self) -> str:
        return str(self.recipe["run"]["model_type"])

    @property
    def model_name_or_path(self) -> str:
        return str(self.recipe["run"]["model_name_or_path"])

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.recipe, sort_keys=False, default_flow_style=False, allow_unicode=True)


@dataclass(frozen=True)
class RenderedRecipe(RecipeDocument):
    """A checked Nova training recipe, ready to upload, and what it was rendered from."""

    config: TrainingConfig
    hpr_recipe: str
    # True for the smoke variant (forgeflow.jobs.smoke.smoke_recipe).
    smoke: bool = False

    @property
    def model(self) -> NovaModel:
        return self.config.model

    @property
    def technique(self) -> Technique:
        return self.config.technique

    @property
    def generation(self) -> int:
        return self.config.model.generation

    @property
    def instance_type(self) -> str:
        return self.config.instance_type

    @property
    def replicas(self) -> int:
        return int(self.recipe["run"]["replicas"])

    @property
    def max_length(self) -> int:
        return int(self.recipe["training_config"]["max_length"])

    @property
    def global_batch_size(self) -> int:
        return int(self.recipe["training_config"]["global_batch_size"])

    @property
    def max_epochs(self) -> int | None:
        """Nova 1.0: `trainer.max_epochs`; Nova 2.0 has no epochs (it trains `max_steps`)."""
        value = get_path(self.recipe, "training_config.trainer.max_epochs")
        return None if value is None else int(value)

    @property
    def max_steps(self) -> int | None:
        """Nova 2.0: `training_config.max_steps`; Nova 1.0 recipes have no such key."""
        value = get_path(self.recipe, "training_config.max_steps")
        return None if value is None else int(value)


def normalize_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted override paths (`a.b.c: v`) and nested mappings → one flat {dotted path: value}."""
    flat: dict[str, Any] = {}
    for key, value in leaves(overrides):
        flat[key] = value
    return flat


def _schema(model: NovaModel) -> type[BaseModel]:
    return RecipeV2 if model.generation == 2 else RecipeV1


def apply_overrides(recipe: dict[str, Any], overrides: Mapping[str, Any]) -> list[RecipeProblem]:
    """Set each override path in `recipe` (in place); problems for unknown, fixed or section paths."""
    known = dict(leaves(recipe))
    sections = {path.rsplit(".", 1)[0] for path in known if "." in path}
    fixed: dict[str, str] = table("bounds.yaml")["fixed"]
    problems: list[RecipeProblem] = []
    for path, value in normalize_overrides(overrides).items():
        if path in fixed:
            problems.append(
                RecipeProblem(path, value, "not overridable", f"{path} cannot be overridden: {fixed[path]}")
            )
        elif path in sections or any(other.startswith(f"{path}.") for other in known):
            problems.append(
                RecipeProblem(
                    path, value, "a mapping of its keys", f"{path} is a section: override its keys instead"
                )
            )
        elif path not in known:
            close = difflib.get_close_matches(path, list(known), n=1, cutoff=0.75)
            suggestion = f" (did you mean {close[0]}?)" if close else ""
            problems.append(
                RecipeProblem(
                    path,
                    value,
                    "a key of the base recipe",
                    f"unknown recipe key {path}{suggestion}: it is not a key of this model's and technique's "
                    "recipe (LoRA keys exist only for LoRA techniques, dpo_cfg only for DPO)",
                )
            )
        else:
            node = recipe
            *parents, leaf = path.split(".")
            for part in parents:
                node = node[part]
            node[leaf] = value
    return problems


def _type_problems(error: ValidationError) -> list[RecipeProblem]:
    problems: list[RecipeProblem] = []
    for issue in error.errors():
        key = ".".join(str(part) for part in issue["loc"])
        value = issue.get("input")
        problems.append(RecipeProblem(key, value, issue["msg"], f"{key} = {value!r}: {issue['msg']}"))
    return problems


def render_recipe(config: TrainingConfig) -> RenderedRecipe:
    """The checked recipe for a run config; RecipeError (a DataError) listing every problem otherwise."""
    hpr_name = hpr_recipe_name(config.model, config.technique, config.instance_type)
    recipe = base_recipe(config.model, config.technique, config.instance_type)
    run = recipe["run"]
    run["name"] = config.name
    run["mlflow_run_name"] = config.name
    run["mlflow_experiment_name"] = "forgeflow"
    context = Context(config.model, config.technique, config.instance_type)
    if config.replicas is not None:
        run["replicas"] = config.replicas
    else:
        # The base recipe's count is for p5-class instances; elsewhere take the smallest documented count.
        counts = sorted(
            {
                n
                for row in instance_rows(context)
                if config.instance_type in row["instance_types"]
                for n in row["replicas"]
            }
        )
        if counts and run["replicas"] not in counts:
            run["replicas"] = counts[0]
    problems = apply_overrides(recipe, config.overrides)
    if problems:
        raise RecipeError(problems, hint="see docs/recipes.md for the keys of each recipe")
    if config.model.generation == 2 and recipe["training_config"].get("save_steps") is None:
        # The recipe's "${oc.select:training_config.max_steps}", resolved as the SDK resolves it.
        recipe["training_config"]["save_steps"] = recipe["training_config"]["max_steps"]
    try:
        typed = _schema(config.model).model_validate(recipe)
    except ValidationError as error:
        raise RecipeError(_type_problems(error)) from None
    checked: dict[str, Any] = typed.model_dump(mode="json", exclude_unset=True)
    problems = check_instances(context, int(checked["run"]["replicas"])) + check_bounds(checked, context)
    if problems:
        raise RecipeError(problems)
    return RenderedRecipe(recipe=checked, config=config, hpr_recipe=hpr_name)
