"""The recipe data files (base recipes, bounds, limits, prices, throughput), loaded once and read-only.

The tables are data, not code: `recipes/data/*.yaml` carry their sources and dates next to the values.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any, TypedDict

import yaml

from forgeflow.errors import DataError
from forgeflow.nova import NovaModel, Technique


def load_data(name: str, package: str = "forgeflow.recipes") -> Any:
    """Parse `data/<name>` of a package (a YAML file shipped with the layer)."""
    text = resources.files(package).joinpath("data").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@cache
def _cached(name: str) -> Any:
    return load_data(name)


def table(name: str) -> Any:
    """A deep copy of a recipe data table, so that callers can never mutate the shared one."""
    return copy.deepcopy(_cached(name))


def supported_techniques(model: NovaModel) -> list[Technique]:
    catalog: dict[str, dict[str, str]] = _cached("catalog.yaml")
    return [Technique(t) for t in catalog.get(model.value, {})]


def _g5_g6_variant(model: NovaModel, technique: Technique, instance_type: str | None) -> str | None:
    """The g5/g6 recipe for an instance type (`ml.g5.12xlarge` → its 12x recipe), None if there is none."""
    if instance_type is None:
        return None
    parts = instance_type.split(".")
    if len(parts) != 3 or parts[1] not in ("g5", "g6"):
        return None
    size = parts[2]
    variants: dict[str, dict[str, dict[str, str]]] = _cached("catalog.yaml")["g5_g6"]
    return variants.get(model.value, {}).get(technique.value, {}).get(size)


def hpr_recipe_name(model: NovaModel, technique: Technique, instance_type: str | None = None) -> str:
    """The aws/sagemaker-hyperpod-recipes recipe a base recipe is written from; DataError if unsupported.

    g5/g6 instance types have recipes of their own (other bounds and defaults); any other instance type
    uses the p5 recipe, whose instance table decides whether it may run there.
    """
    catalog: dict[str, dict[str, str]] = _cached("catalog.yaml")
    name = catalog.get(model.value, {}).get(technique.value)
    if name is None:
        allowed = ", ".join(t.value for t in supported_techniques(model))
        raise DataError(
            f"technique {technique.value!r} is not supported for Nova model {model.value!r}: "
            f"supported techniques are {allowed}",
            code="UNSUPPORTED_COMBINATION",
            hint="Nova 2.0 Lite has no DPO recipe; use Nova 1.0 (micro, lite, pro) for DPO",
        )
    return _g5_g6_variant(model, technique, instance_type) or name


def base_recipe(model: NovaModel, technique: Technique, instance_type: str | None = None) -> dict[str, Any]:
    """A fresh copy of the base recipe for a supported (model, technique) on an instance type."""
    hpr_recipe_name(model, technique)
    suffix = "_g5_g6" if _g5_g6_variant(model, technique, instance_type) else ""
    recipe: dict[str, Any] = table(f"base/{model.value}_{technique.value}{suffix}.yaml")
    return recipe


class ModelInfo(TypedDict):
    """One model's row of data/models.yaml: the fixed identifiers its recipes carry."""

    display: str
    generation: int
    model_type: str
    model_name_or_path: str


def model_info(model: NovaModel) -> ModelInfo:
    info: ModelInfo = _cached("models.yaml")[model.value]
    return ModelInfo(**info)
