"""Validate: check the dataset against the run's model and method; the report always goes to S3."""

from __future__ import annotations

from forgeflow.dataset.validation import ValidationOptions, validate_uri
from forgeflow.pipeline.state import StageInput, ValidationResult
from forgeflow.pipeline.steps.common import enter_stage, json_document, load_run, reraise_as
from forgeflow.pipeline.steps.services import Services


def validate_dataset(payload: StageInput, services: Services) -> ValidationResult:
    """Validate the dataset against the run's model and method; the report always goes to S3."""
    run = load_run(payload.run, services)
    enter_stage(services, run.run_id, "validate")
    options = ValidationOptions(method=run.method, model=run.model)
    with reraise_as(missing=f"cannot read the dataset {run.dataset_uri}"):
        report = validate_uri(services.storage, run.dataset_uri, options)
    report_uri = services.settings.run_prefix(run.run_id) + "validation/report.json"
    services.storage.write_bytes(report_uri, json_document(report.to_dict()))
    return ValidationResult(
        valid=report.valid,
        report_uri=report_uri,
        records=report.records,
        error_count=report.error_count,
        method=report.stats.method,
    )
