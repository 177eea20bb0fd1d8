"""The training part of a run: model and technique, hardware, recipe overrides, budget.

It comes from the run request (the `FineTune Requested` event), a sidecar `<dataset>.forgeflow.yaml`, or
`forgeflow recipe render --config run.yaml`. Either the whole mapping is a training config, or it has a
`training:` section (the other sections of a run request — `mix`, `dataset`, … — belong to other stages);
`model` and `technique` may sit at the top level next to that section.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from forgeflow.errors import DataError, InputError
from forgeflow.nova import Method, NovaModel, Technique

# The smoke job's optimizer steps (forgeflow.jobs.smoke; its cost is part of the pre-flight estimate).
SMOKE_STEPS = 5
# SageMaker's default StoppingCondition (1 day) and its maximum (28 days).
DEFAULT_MAX_RUNTIME_SECONDS = 86_400
MAX_RUNTIME_LIMIT_SECONDS = 28 * 86_400


class TrainingConfig(BaseModel):
    """What a run asks of training; `render_recipe` turns it into a checked Nova recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: NovaModel = NovaModel.LITE
    technique: Technique = Technique.SFT_LORA
    name: str = Field(default="forgeflow", min_length=1, max_length=128)
    instance_type: str = "ml.p5.48xlarge"
    # None: the base recipe's (recommended) instance count.
    replicas: int | None = Field(default=None, ge=1)
    # Nested recipe keys (`{"training_config": {"max_length": 16384}}`) or dotted paths
    # (`{"training_config.max_length": 16384}`); unknown keys are errors.
    overrides: dict[str, Any] = Field(default_factory=dict)
    # None: the stack's default budget applies (the pipeline passes it to preflight()).
    budget_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    # Price overrides, USD per instance-hour by instance type (beat recipes/data/prices.yaml).
    prices: dict[str, float] = Field(default_factory=dict)
    # Throughput override for the time estimate, tokens per second per instance.
    throughput_tokens_per_second: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    # Records longer than max_length are refused unless this is set (they would be truncated).
    allow_truncation: bool = False
    # StoppingCondition of the training jobs; None: the stack default (1 day). At most 28 days.
    max_runtime_seconds: int | None = Field(default=None, ge=1, le=MAX_RUNTIME_LIMIT_SECONDS)
    # Seed of the Nova 1.0 smoke subset.
    seed: int = 7

    @field_validator("prices")
    @classmethod
    def _positive_prices(cls, value: dict[str, float]) -> dict[str, float]:
        for instance_type, price in value.items():
            if not price > 0:
                raise ValueError(f"price for {instance_type} must be > 0, got {price}")
        return value


# Keys of a run request that belong to other stages (dataset, mix, evaluation, polling, where the run
# stops): not training keys.
RUN_LEVEL_KEYS = frozenset(
    {
        "schema_version",
        "request_id",
        "dataset_uri",
        "method",
        "mix",
        "eval_suites",
        "poll_seconds",
        "smoke_only",
        "require_approval",
    }
)


@dataclass(frozen=True)
class TrainingDefaults:
    """What a run config may leave out. `recipe render` uses these; the pipeline the stack's settings."""

    model: NovaModel = NovaModel.LITE
    technique: Technique = Technique.SFT_LORA
    instance_type: str = "ml.p5.48xlarge"
    name: str = "forgeflow"
    # The dataset's method as the validator detected it (None: unknown).
    detected: Method | None = None


def technique_for(method: Method | None, default: Technique) -> Technique:
    """The default technique adapted to a method: the same LoRA-or-full choice, the method's recipe."""
    method = method or default.method
    if default.method is method:
        return default
    return Technique(f"{method.value}-{'lora' if default.lora else 'full'}")


def flatten_run_config(data: Any, *, source: str = "run config") -> dict[str, Any]:
    """The training keys of a run config in one flat mapping: the `training:` section lifted next to the
    top-level keys, the run-level keys (`mix`, `eval_suites`, …) left out. A key in both places is an
    error rather than a silent precedence (the cause of runs training other settings than rendered)."""
    if not isinstance(data, dict):
        raise DataError(f"{source}: expected a mapping, got {type(data).__name__}")
    section = data.get("training") or {}
    if not isinstance(section, dict):
        raise DataError(f"{source}: `training` must be a mapping, got {type(section).__name__}")
    flat = {key: value for key, value in data.items() if key != "training" and key not in RUN_LEVEL_KEYS}
    twice = sorted(key for key in section if key in flat)
    if twice:
        raise DataError(
            f"{source}: {', '.join(twice)} set both at the top level and under `training:`",
            code="INVALID_TRAINING_CONFIG",
            hint="set each key in one place",
        )
    return {**flat, **section}


def training_config_for_run(
    data: Any, defaults: TrainingDefaults | None = None, *, source: str = "run config"
) -> TrainingConfig:
    """THE translation of a run config (run.yaml, sidecar, `FineTune Requested` detail) into the training
    config. `forgeflow recipe render --config` and the pipeline's RenderRecipe both call it, so the recipe
    a run trains is the recipe `recipe render` prints for the same config and defaults."""
    defaults = defaults or TrainingDefaults()
    merged = flatten_run_config(data, source=source)
    if "technique" not in merged:
        method = data.get("method") or defaults.detected
        try:
            merged["technique"] = technique_for(Method(method) if method else None, defaults.technique)
        except ValueError:
            raise DataError(f"{source}: method: {method!r} is not one of sft, dpo") from None
    merged.setdefault("model", defaults.model)
    merged.setdefault("instance_type", defaults.instance_type)
    merged.setdefault("name", defaults.name)
    try:
        return TrainingConfig.model_validate(merged)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(top level)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise DataError(
            f"{source}: invalid training config: {problems}",
            code="INVALID_TRAINING_CONFIG",
            hint="see docs/recipes.md, run config reference",
        ) from None


def load_run_config(path: str | Path) -> dict[str, Any]:
    """A run config file (YAML or JSON; `-` is stdin) as a mapping, for `training_config_for_run`."""
    try:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise InputError(f"cannot read run config {path}: {reason}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DataError(f"{path}: not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a mapping of run config keys, got {type(data).__name__}")
    return data
