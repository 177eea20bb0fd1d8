"""The training part of a run: model and technique, hardware, recipe overrides, budget.

It comes from the run request (the `FineTune Requested` event), a sidecar `<dataset>.forgeflow.yaml`, or
`forgeflow recipe render --config run.yaml`. Either the whole mapping is a training config, or it has a
`training:` section (the other sections of a run request — `mix`, `dataset`, … — belong to other stages);
`model` and `technique` may sit at the top level next to that section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from forgeflow.errors import DataError, InputError
from forgeflow.nova import NovaModel, Technique

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


def training_config_from_mapping(data: dict[str, Any], *, source: str = "run config") -> TrainingConfig:
    """Build a TrainingConfig from a run request / sidecar mapping (see the module docstring)."""
    if not isinstance(data, dict):
        raise DataError(f"{source}: expected a mapping, got {type(data).__name__}")
    if "training" in data:
        section = data["training"]
        if not isinstance(section, dict):
            raise DataError(f"{source}: `training` must be a mapping, got {type(section).__name__}")
        merged = dict(section)
        for key in ("model", "technique", "name"):
            if key in data and key not in merged:
                merged[key] = data[key]
    else:
        merged = data
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


def load_training_config(source: str | Path | dict[str, Any]) -> TrainingConfig:
    """A TrainingConfig from a mapping or a YAML/JSON file path."""
    if isinstance(source, dict):
        return training_config_from_mapping(source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read run config {path}: {error.strerror or error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DataError(f"{path}: not valid YAML: {error}") from None
    return training_config_from_mapping(data if data is not None else {}, source=str(path))
