"""The mix plan: which sources to blend, at which shares of the final training mix, how large, which seed.

A plan is a small YAML/JSON document (or the `mix` object of a run request):

    seed: 42
    unit: records            # or: tokens
    validation_fraction: 0.1 # held out from the customer source only
    allow_upsample: false
    total: null              # null = keep every customer record once; or an integer total (in `unit`)
    sources:
      - {name: customer, role: customer, uri: data/customer.jsonl, weight: 0.7}
      - {name: general, uri: s3://my-bucket/curated/general/, weight: 0.3, max_records: null}
      - {name: code, uri: "nova:code", weight: 0.1}   # a Nova-managed (Forge) category

One meaning for a weight: its share of the final training mix, after normalising all weights to sum 1.
Every check that needs no data happens here, with messages that name the key and say what to change;
checks that need record counts happen in the engine, still before anything is written.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from forgeflow.errors import DataError, InputError

if TYPE_CHECKING:
    from forgeflow.storage import Storage

NOVA_PREFIX = "nova:"
DEFAULT_SEED = 42
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CATEGORY = re.compile(r"^[a-z][a-z0-9-]*$")


class Unit(StrEnum):
    """What a share counts: records, or estimated tokens (the validator's documented estimator)."""

    RECORDS = "records"
    TOKENS = "tokens"


class SourceSpec(BaseModel):
    """One source of the blend: the customer dataset, a curated JSONL source, or a Nova-managed category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    role: Literal["customer", "curated"] = "curated"
    uri: str
    weight: float
    max_records: int | None = Field(default=None, ge=1)

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"name {value!r} must be 1-64 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("weight", mode="before")
    @classmethod
    def _weight_is_a_number(cls, value: Any) -> Any:
        # Pydantic would read "0.75" (a quoted YAML value) as 0.75 and a boolean as 0 or 1: a quoted
        # weight is usually a mistake in the plan, so it is refused rather than guessed.
        if isinstance(value, bool):
            raise ValueError(f"weight must be a number, not {value}: write a positive number such as 0.3")
        if isinstance(value, str):
            raise ValueError(
                f"weight must be a number, not the string {value!r}: "
                f"write it without quotes (weight: {value.strip()})"
            )
        return value

    @field_validator("weight")
    @classmethod
    def _weight_is_positive(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"weight must be a positive number (got {value}); a weight is a share of the final mix, "
                "remove the source instead of giving it weight 0"
            )
        return value

    @field_validator("uri")
    @classmethod
    def _uri_is_present(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("uri is empty: give a local path, an s3:// URI or prefix, or nova:<category>")
        if value.startswith(NOVA_PREFIX) and not _CATEGORY.match(value[len(NOVA_PREFIX) :]):
            raise ValueError(f"{value!r} is not a Nova category: use nova:<category>, e.g. nova:code")
        return value

    @property
    def exact_weight(self) -> Fraction:
        """The weight as the decimal the user wrote (0.7 is 7/10), so shares like 30 % are exact."""
        return Fraction(repr(self.weight))

    @property
    def is_nova(self) -> bool:
        """A Nova-managed (Forge) category: rendered as Forge configuration, never mixed physically."""
        return self.uri.startswith(NOVA_PREFIX)

    @property
    def category(self) -> str:
        return self.uri[len(NOVA_PREFIX) :] if self.is_nova else ""

    @model_validator(mode="after")
    def _nova_rules(self) -> SourceSpec:
        if self.is_nova and self.role == "customer":
            raise ValueError("the customer source must be your own JSONL data, not a nova: category")
        if self.is_nova and self.max_records is not None:
            raise ValueError("max_records does not apply to a nova: category (Forge samples it)")
        return self


class MixPlan(BaseModel):
    """A validated mix plan: exactly one customer source, positive weights, unique names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(default=DEFAULT_SEED, ge=0, lt=2**63)
    unit: Unit = Unit.RECORDS
    validation_fraction: float = Field(default=0.0, ge=0.0, le=0.5)
    allow_upsample: bool = False
    total: int | None = Field(default=None, ge=1)
    sources: list[SourceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _sources_are_coherent(self) -> MixPlan:
        customers = [s.name for s in self.sources if s.role == "customer"]
        if not customers:
            raise ValueError(
                "no source has role: customer; mark your own dataset with `role: customer` "
                "(exactly one source)"
            )
        if len(customers) > 1:
            raise ValueError(
                f"{len(customers)} sources have role: customer ({', '.join(customers)}); exactly one may: "
                "set `role: curated` on the others"
            )
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"two sources are named {source.name!r}: names must be unique")
            seen.add(source.name)
        categories = [s.category for s in self.sources if s.is_nova]
        for category in set(categories):
            if categories.count(category) > 1:
                raise ValueError(f"nova:{category} is listed twice: merge the two entries into one weight")
        return self

    @property
    def customer(self) -> SourceSpec:
        return next(s for s in self.sources if s.role == "customer")

    @property
    def physical(self) -> list[SourceSpec]:
        """The sources mixed into train.jsonl: the customer first, then curated JSONL in plan order."""
        return [self.customer] + [s for s in self.sources if s.role == "curated" and not s.is_nova]

    @property
    def nova(self) -> list[SourceSpec]:
        return [s for s in self.sources if s.is_nova]

    def share(self, source: SourceSpec) -> float:
        """The source's share of the final training mix (weights normalised over every source)."""
        return float(source.exact_weight / sum(s.exact_weight for s in self.sources))

    def physical_share(self, source: SourceSpec) -> float:
        """The source's share of train.jsonl (weights normalised over the physically mixed sources)."""
        return float(source.exact_weight / sum(s.exact_weight for s in self.physical))

    def resolved(self) -> dict[str, Any]:
        """The plan as the engine runs it: every default filled in, shares spelled out."""
        data = self.model_dump(mode="json")
        for entry, source in zip(data["sources"], self.sources, strict=True):
            entry["share"] = self.share(source)
            if not source.is_nova:
                entry["file_share"] = self.physical_share(source)
        return data


def _describe(error: dict[str, Any]) -> str:
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling against the plan reference in docs/mixing.md)"
    elif error["type"] == "missing":
        message = "required key is missing"
    got = "" if error["type"] in {"missing", "value_error"} else f" (got {error.get('input')!r})"
    return f"{where or 'plan'}: {message}{got}"


def parse_plan(data: Any, *, source: str = "plan", base_dir: Path | None = None) -> MixPlan:
    """Validate a plan mapping; relative local source paths are resolved against `base_dir`."""
    if not isinstance(data, dict):
        raise DataError(
            f"{source}: a mix plan must be a mapping with `sources:` (got {type(data).__name__})",
            code="BAD_PLAN",
        )
    try:
        plan = MixPlan.model_validate(data)
    except ValidationError as error:
        details = "; ".join(_describe(dict(item)) for item in error.errors())
        raise DataError(f"{source}: invalid mix plan: {details}", code="BAD_PLAN") from error
    if base_dir is None:
        return plan
    sources = [
        source_spec.model_copy(update={"uri": str(base_dir / source_spec.uri)})
        if _is_relative_path(source_spec.uri)
        else source_spec
        for source_spec in plan.sources
    ]
    return plan.model_copy(update={"sources": sources})


def _is_relative_path(uri: str) -> bool:
    return "://" not in uri and not uri.startswith(NOVA_PREFIX) and not Path(uri).is_absolute()


def load_plan(source: str | Path | dict[str, Any], storage: Storage | None = None) -> MixPlan:
    """A plan from a mapping, a YAML/JSON file (local or s3://), or YAML/JSON text.

    Relative local source paths in a plan file are relative to the plan file's folder, so a plan and its
    data can move together and the result does not depend on the working directory.
    """
    if isinstance(source, dict):
        return parse_plan(source)
    text_given = isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{"))
    if text_given:
        assert isinstance(source, str)
        return parse_plan(_parse_text(source, "plan"), source="plan")
    uri = str(source)
    base_dir: Path | None = None
    if uri.startswith("s3://"):
        if storage is None:
            raise InputError(f"{uri}: reading a plan from S3 needs a Storage", code="BAD_PLAN_SOURCE")
        raw = storage.read_bytes(uri)
    else:
        path = Path(uri.removeprefix("file://"))
        try:
            raw = path.read_bytes()
        except FileNotFoundError as error:
            raise InputError(f"plan {uri} does not exist", code="NOT_FOUND") from error
        except OSError as error:
            raise InputError(f"cannot read plan {uri}: {error.strerror}", code="READ_ERROR") from error
        base_dir = path.parent
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{uri}: the plan is not UTF-8 text", code="BAD_PLAN") from error
    return parse_plan(_parse_text(text, uri), source=uri, base_dir=base_dir)


def _parse_text(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise DataError(f"{source}:{where}: not valid YAML/JSON: {problem}", code="BAD_PLAN") from error
