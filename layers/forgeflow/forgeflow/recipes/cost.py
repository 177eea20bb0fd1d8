"""Cost and time estimate: instances × hours × price per instance-hour.

hours = overhead + tokens × epochs / (tokens per second per instance × instances) / 3600, with the
throughput assumption of `data/throughput.yaml` (derived from the documented dataset limits, see there)
and the prices of `data/prices.yaml` (source and date inside). Both are overridable.
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
