"""The dataset-limit table (`data/limits.yaml`): how many records a training job can take.

The documented rows are stated at 5 epochs with every record at the row's context length. Other cases:
- a context between rows uses the next larger documented context (conservative: longer records are
  slower, so the larger row's count is the smaller, safe one); a context above the largest row is
  unsupported;
- other epoch counts scale the record count by 5 / epochs, rounded down (the page: "by reducing the
  number of epochs ... you could provide more records");
- rows worded "N samples within D days" are time estimates, not record limits: they are returned as
  such (scaled the same way), never enforced as a maximum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from forgeflow.errors import DataError
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.tables import table

Modality = Literal["text", "multimodal"]


@dataclass(frozen=True)
class LimitRow:
    method: str
    context: int
    models: tuple[str, ...]
    techniques: tuple[str, ...]
    modality: str
    kind: Literal["records", "time_estimate", "unsupported"]
    value: int | None
    days: float | None
    quote: str

    def title(self) -> str:
        return (
            f"{self.method.upper()} dataset limits, {self.context // 1024}k context, "
            f"Nova {'/'.join(self.models)}, {' and '.join(self.techniques)}, {self.modality}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": f"{self.method.upper()} dataset limits",
            "context": self.context,
            "models": list(self.models),
            "techniques": list(self.techniques),
            "modality": self.modality,
            "kind": self.kind,
            "value": self.value,
            "days": self.days,
            "quote": self.quote,
        }


@dataclass(frozen=True)
class LimitAnswer:
    """The documented limit for a (model, technique, modality, context, epochs) query."""

    row: LimitRow
    epochs: float
    # kind "records": the maximum record count at `epochs`; kind "time_estimate": the samples the row
    # says complete within `row.days` at `epochs`.
    value: int

    @property
    def is_record_limit(self) -> bool:
        return self.row.kind == "records"

    def describe(self) -> str:
        epochs = _fmt_epochs(self.epochs)
        unit = "epoch" if epochs == "1" else "epochs"
        if self.is_record_limit:
            return (
                f"up to {self.value} records at {epochs} {unit} "
                f"({self.row.title()}: {self.row.value} records at 5 epochs, scaled by 5/{epochs})"
            )
        return (
            f"time estimate, not a record limit: about {self.value} samples within {self.row.days:g} days "
            f"at {epochs} {unit} ({self.row.title()}: {self.row.value} samples within "
            f"{self.row.days:g} days at 5 epochs)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.row.kind,
            "epochs": self.epochs,
            "max_records" if self.is_record_limit else "samples_within_days": self.value,
            "row": self.row.to_dict(),
        }


def _fmt_epochs(epochs: float) -> str:
    return str(int(epochs)) if float(epochs).is_integer() else f"{epochs:.2f}"


def limit_rows() -> list[LimitRow]:
    data = table("limits.yaml")
    return [
        LimitRow(
            method=row["method"],
            context=int(row["context"]),
            models=tuple(row["models"]),
            techniques=tuple(row["techniques"]),
            modality=row["modality"],
            kind=row["kind"],
            value=row.get("value"),
            days=row.get("days"),
            quote=row["quote"],
        )
        for row in data["rows"]
    ]


def lookup_limit(
    model: NovaModel, technique: Technique, modality: Modality, context: int, epochs: float
) -> LimitAnswer:
    """The documented limit, scaled to `epochs`; DataError (code LIMITS_UNSUPPORTED) naming why not."""
    if context < 1:
        raise DataError(f"context must be a positive token count, got {context}", code="LIMITS_UNSUPPORTED")
    if not epochs > 0:
        raise DataError(f"epochs must be positive, got {epochs}", code="LIMITS_UNSUPPORTED")
    if model.generation == 2:
        raise DataError(
            "no documented dataset limit for Nova 2.0 Lite: the SageMaker dataset-limit tables cover "
            "Nova 1.0 Micro, Lite and Pro only",
            code="LIMITS_UNDOCUMENTED",
        )
    if modality == "multimodal" and model.text_only:
        raise DataError(
            f"Nova {model.value} is text only: no multimodal dataset limit (and no multimodal training)",
            code="LIMITS_UNSUPPORTED",
        )
    method = technique.method.value
    candidates = [
        row
        for row in limit_rows()
        if row.method == method
        and model.value in row.models
        and technique.value in row.techniques
        and row.modality == modality
    ]
    if not candidates:
        raise DataError(
            f"no documented dataset limit for {method.upper()} Nova {model.value} {technique.value} "
            f"{modality}",
            code="LIMITS_UNSUPPORTED",
        )
    larger = sorted((row for row in candidates if row.context >= context), key=lambda row: row.context)
    if not larger:
        largest = max(row.context for row in candidates)
        raise DataError(
            f"context {context} is above the largest documented {method.upper()} context ({largest}) for "
            f"Nova {model.value} {technique.value} {modality}",
            code="LIMITS_UNSUPPORTED",
        )
    row = larger[0]
    if row.kind == "unsupported":
        raise DataError(
            f'{row.title()} is not supported: "{row.quote}"',
            code="LIMITS_UNSUPPORTED",
        )
    if row.value is None:
        raise ValueError(f"limits.yaml: row {row.title()} has no value")
    scaled = math.floor(row.value * table("limits.yaml")["reference_epochs"] / epochs)
    return LimitAnswer(row=row, epochs=epochs, value=scaled)
