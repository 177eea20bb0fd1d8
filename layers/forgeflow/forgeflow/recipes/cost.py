"""Cost and time estimate: instances × hours × price per instance-hour.

hours = overhead + tokens × epochs / (tokens per second per instance × instances) / 3600, with the
throughput assumption of `data/throughput.yaml` (derived from the documented dataset limits, see there)
and the prices of `data/prices.yaml` (source and date inside). Both are overridable. `CostEstimate` is
the typed estimate the pre-flight writes; its `to_dict()` is the `estimate` section of preflight.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.limits import Modality, limit_rows
from forgeflow.recipes.tables import table

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Price:
    usd_per_hour: float
    source: str


@dataclass(frozen=True)
class PriceTable:
    """USD per instance-hour by region and instance type, with where each figure comes from."""

    regions: dict[str, dict[str, Price]]
    default_region: str
    as_of: str
    overrides: dict[str, float] = field(default_factory=dict)

    @classmethod
    def default(cls) -> PriceTable:
        return cls.from_mapping(table("prices.yaml"))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PriceTable:
        regions = {
            region: {
                instance: Price(float(entry["usd_per_hour"]), str(entry.get("source", "")))
                for instance, entry in instances.items()
            }
            for region, instances in data["regions"].items()
        }
        return cls(regions=regions, default_region=data["default_region"], as_of=str(data.get("as_of", "")))

    def with_overrides(self, prices: Mapping[str, float]) -> PriceTable:
        return PriceTable(self.regions, self.default_region, self.as_of, {**self.overrides, **prices})

    def lookup(self, instance_type: str, region: str) -> tuple[Price | None, str | None]:
        """(price, note): overrides first, then the region, then the default region (noted)."""
        if instance_type in self.overrides:
            return Price(self.overrides[instance_type], "run config override"), None
        price = self.regions.get(region, {}).get(instance_type)
        if price is not None:
            return Price(price.usd_per_hour, f"{price.source} (as of {self.as_of})"), None
        fallback = self.regions.get(self.default_region, {}).get(instance_type)
        if fallback is not None:
            note = f"no {region} price for {instance_type}: the {self.default_region} price is used"
            return Price(fallback.usd_per_hour, f"{fallback.source} (as of {self.as_of})"), note
        return None, None


@dataclass(frozen=True)
class Throughput:
    tokens_per_second_per_instance: float
    source: str


def assumed_throughput(
    model: NovaModel, technique: Technique, modality: Modality, instance_type: str
) -> Throughput | None:
    """The documented throughput assumption (see data/throughput.yaml); None when it has no basis."""
    data = table("throughput.yaml")
    reference = data["reference"]
    factor = data["instance_factors"].get(instance_type)
    if factor is None:
        return None
    base_model = reference["model_aliases"].get(model.value, model.value)
    method = technique.method.value
    context = reference["rows"][method][modality]
    for row in limit_rows():
        if (
            row.kind == "records"
            and row.value is not None
            and row.method == method
            and row.context == context
            and row.modality == modality
            and base_model in row.models
            and technique.value in row.techniques
        ):
            instances = reference["instances"][base_model]
            seconds = reference["days"] * SECONDS_PER_DAY
            per_instance = row.value * row.context * 5 / (seconds * instances) * factor
            return Throughput(
                per_instance,
                f"derived from the dataset-limit row '{row.title()}' ({row.value} records × {row.context} "
                f"tokens × 5 epochs in {reference['days']} days on {instances} × ml.p5.48xlarge) "
                f"× instance factor {factor:g} for {instance_type}",
            )
    return None


def overhead_hours() -> float:
    return float(table("throughput.yaml")["overhead_hours"])


def job_hours(tokens: float, throughput_per_instance: float, instances: int) -> float:
    """Wall-clock hours of one job: fixed overhead plus tokens at the assumed aggregate throughput."""
    return overhead_hours() + tokens / (throughput_per_instance * instances) / 3600


@dataclass(frozen=True)
class JobSizing:
    """What the training job trains on and how it is stopped: the part of the estimate that needs no rates."""

    region: str
    instance_type: str
    instances: int
    records: int
    epochs: float
    tokens_per_epoch: int
    tokens_total: int
    overhead_hours_per_job: float
    max_runtime_seconds: int
    currency: str = "USD"

    def to_dict(self) -> dict[str, str | int | float]:
        return {
            "currency": self.currency,
            "region": self.region,
            "instance_type": self.instance_type,
            "instances": self.instances,
            "records": self.records,
            "epochs": self.epochs,
            "tokens_per_epoch": self.tokens_per_epoch,
            "tokens_total": self.tokens_total,
            "overhead_hours_per_job": self.overhead_hours_per_job,
            "max_runtime_seconds": self.max_runtime_seconds,
        }


@dataclass(frozen=True)
class SmokeCost:
    """The smoke job's hours and USD; None when the throughput or the price is unknown."""

    hours: float | None = None
    usd: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"hours": self.hours, "usd": self.usd}


@dataclass(frozen=True)
class JobCost:
    """The rates the estimate assumes (with their sources) and the training job's hours and USD.

    `hours` and `usd` are None when the throughput or the price is unknown (ESTIMATE_UNAVAILABLE).
    """

    throughput_tokens_per_second_per_instance: float | None
    throughput_source: str
    price_per_instance_hour: float | None
    price_source: str | None
    hours: float | None = None
    usd: float | None = None
    smoke: SmokeCost = field(default_factory=SmokeCost)

    def to_dict(self) -> dict[str, str | float | dict[str, float | None] | None]:
        return {
            "throughput_tokens_per_second_per_instance": self.throughput_tokens_per_second_per_instance,
            "throughput_source": self.throughput_source,
            "price_per_instance_hour": self.price_per_instance_hour,
            "price_source": self.price_source,
            "hours": self.hours,
            "usd": self.usd,
            "smoke": self.smoke.to_dict(),
        }


@dataclass(frozen=True)
class CostEstimate:
    """The pre-flight's cost estimate: the smoke and full training jobs together (`total_usd`, USD).

    Three shapes, as preflight.json has always had them: not estimated (`attempted` False: refused before
    costing, `to_dict()` is empty); no dataset statistics (`sizing` None: only the budget and a null
    total); costed (`sizing` and `cost` set, `total_usd` None when a rate is unknown).
    """

    attempted: bool = False
    budget_usd: float | None = None
    total_usd: float | None = None
    sizing: JobSizing | None = None
    cost: JobCost | None = None

    def to_dict(self) -> dict[str, Any]:
        if not self.attempted:
            return {}
        budget, total = {"budget_usd": self.budget_usd}, {"total_usd": self.total_usd}
        if self.sizing is None or self.cost is None:
            return {**budget, **total}
        return {**self.sizing.to_dict(), **budget, **self.cost.to_dict(), **total}
