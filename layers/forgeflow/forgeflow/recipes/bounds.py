"""The documented bounds of `data/bounds.yaml`, applied to a recipe.

All rules whose `when` matches the recipe's (model, technique, instance type) apply together: their
ranges intersect, their allowed sets intersect, so the stricter source always wins. A violation names the
key, the value, the allowed range and the sources.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from forgeflow.errors import DataError
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.tables import table
from forgeflow.wording import plural


@dataclass(frozen=True)
class RecipeProblem:
    """One reason a recipe is refused: the recipe key, the offending value, what is allowed."""

    key: str
    value: Any
    allowed: str
    message: str


class RecipeError(DataError):
    """A recipe (or its overrides) breaks one or more documented rules; `problems` lists each one."""

    default_code = "RECIPE_OUT_OF_BOUNDS"

    def __init__(self, problems: list[RecipeProblem], *, hint: str | None = None) -> None:
        lines = "\n".join(f"  - {p.message}" for p in problems)
        super().__init__(f"recipe refused ({plural(len(problems), 'problem')}):\n{lines}", hint=hint)
        self.problems = problems


@dataclass(frozen=True)
class Context:
    """What a rule's `when` may select on."""

    model: NovaModel
    technique: Technique
    instance_type: str

    def matches(self, when: Mapping[str, Any]) -> bool:
        return all(self._selects(name, expected) for name, expected in when.items())

    def _selects(self, name: str, expected: Any) -> bool:
        if name == "generation":
            return bool(self.model.generation == expected)
        if name == "models":
            return self.model.value in expected
        if name == "techniques":
            return self.technique.value in expected
        if name == "methods":
            return self.technique.method.value in expected
        if name == "lora":
            return bool(self.technique.lora == expected)
        if name == "instance_types":
            return self.instance_type in expected
        raise ValueError(f"bounds.yaml: unknown selector {name!r}")

    def describe(self) -> str:
        return f"Nova {self.model.value} {self.technique.value} on {self.instance_type}"


@dataclass
class Bound:
    """The effective bound of one key: every matching rule combined."""

    key: str
    minimum: float | None = None
    maximum: float | None = None
    allowed: set[float] | None = None
    multiple_of: int | None = None
    less_than: list[str] = field(default_factory=list)
    at_most: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def add(self, rule: Mapping[str, Any]) -> None:
        if "min" in rule:
            self.minimum = rule["min"] if self.minimum is None else max(self.minimum, rule["min"])
        if "max" in rule:
            self.maximum = rule["max"] if self.maximum is None else min(self.maximum, rule["max"])
        if "enum" in rule:
            values = set(rule["enum"])
            self.allowed = values if self.allowed is None else self.allowed & values
        if "multiple_of" in rule:
            step = int(rule["multiple_of"])
            self.multiple_of = step if self.multiple_of is None else math.lcm(self.multiple_of, step)
        if "less_than" in rule:
            self.less_than.append(rule["less_than"])
        if "at_most" in rule:
            self.at_most.append(rule["at_most"])
        self.sources.append(rule["source"])

    def describe(self, recipe: Mapping[str, Any] | None = None) -> str:
        parts: list[str] = []
        if self.allowed is not None:
            values = sorted(v for v in self.allowed if self._in_range(v))
            parts.append("one of {" + ", ".join(_fmt(v) for v in values) + "}")
        elif self.minimum is not None or self.maximum is not None:
            low = "-inf" if self.minimum is None else _fmt(self.minimum)
            high = "inf" if self.maximum is None else _fmt(self.maximum)
            parts.append(f"[{low}, {high}]")
        if self.multiple_of is not None:
            parts.append(f"a multiple of {self.multiple_of}")
        for relation, others in (("less than", self.less_than), ("at most", self.at_most)):
            for other in others:
                other_value = get_path(recipe, other) if recipe is not None else None
                shown = f" ({_fmt(other_value)})" if isinstance(other_value, int | float) else ""
                parts.append(f"{relation} {other}{shown}")
        return ", ".join(parts) if parts else "any value"

    def _in_range(self, value: float) -> bool:
        return (self.minimum is None or value >= self.minimum) and (
            self.maximum is None or value <= self.maximum
        )

    def admits(self, value: float, recipe: Mapping[str, Any]) -> bool:
        if not self._in_range(value):
            return False
        if self.allowed is not None and value not in self.allowed:
            return False
        if self.multiple_of is not None and (value % self.multiple_of) != 0:
            return False
        for other in self.less_than:
            other_value = get_path(recipe, other)
            if isinstance(other_value, int | float) and not value < other_value:
                return False
        for other in self.at_most:
            other_value = get_path(recipe, other)
            if isinstance(other_value, int | float) and not value <= other_value:
                return False
        return True


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def get_path(recipe: Mapping[str, Any] | None, dotted: str) -> Any:
    node: Any = recipe
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf; empty mappings and lists are leaves."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaves(value, f"{path}.")
        else:
            yield path, value


def effective_bounds(context: Context) -> dict[str, Bound]:
    bounds: dict[str, Bound] = {}
    for rule in table("bounds.yaml")["rules"]:
        if context.matches(rule.get("when", {})):
            bounds.setdefault(rule["key"], Bound(rule["key"])).add(rule)
    return bounds


def check_bounds(recipe: Mapping[str, Any], context: Context) -> list[RecipeProblem]:
    """Every value of the recipe that a matching rule does not admit."""
    problems: list[RecipeProblem] = []
    for key, bound in effective_bounds(context).items():
        value = get_path(recipe, key)
        if value is None:
            continue
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            if not bound.admits(item, recipe):
                shown_key = key if index is None else f"{key}[{index}]"
                allowed = bound.describe(recipe)
                problems.append(
                    RecipeProblem(
                        key=shown_key,
                        value=item,
                        allowed=allowed,
                        message=(
                            f"{shown_key} = {_fmt(item)} is not allowed for {context.describe()}: "
                            f"allowed {allowed} (source: {'; '.join(bound.sources)})"
                        ),
                    )
                )
    return problems


def instance_rows(context: Context) -> list[dict[str, Any]]:
    """The instance-table rows for the model and technique (any instance type)."""
    return [row for row in table("bounds.yaml")["instances"] if context.matches(row["when"])]


def check_instances(context: Context, replicas: int) -> list[RecipeProblem]:
    """The instance type must be documented for the model and technique, and the count one of its counts."""
    rows = instance_rows(context)
    matching = [row for row in rows if context.instance_type in row["instance_types"]]
    if not matching:
        types = sorted({t for row in rows for t in row["instance_types"]})
        allowed = "one of {" + ", ".join(types) + "}"
        return [
            RecipeProblem(
                key="instance_type",
                value=context.instance_type,
                allowed=allowed,
                message=(
                    f"instance_type = {context.instance_type} is not documented for Nova "
                    f"{context.model.value} {context.technique.value}: allowed {allowed} "
                    f"(source: {'; '.join(row['source'] for row in rows)})"
                ),
            )
        ]
    counts = sorted({n for row in matching for n in row["replicas"]})
    if replicas in counts:
        return []
    allowed = "one of {" + ", ".join(str(n) for n in counts) + "}"
    return [
        RecipeProblem(
            key="replicas",
            value=replicas,
            allowed=allowed,
            message=(
                f"replicas = {replicas} is not allowed for {context.describe()}: allowed {allowed} "
                f"(source: {'; '.join(row['source'] for row in matching)})"
            ),
        )
    ]
