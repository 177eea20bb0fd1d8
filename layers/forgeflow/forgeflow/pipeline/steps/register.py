"""RegisterRun: parse the trigger, merge the sidecar, claim the run in the ledger, say `Run Started`."""

from __future__ import annotations

import contextlib
from urllib.parse import unquote_plus

from forgeflow.errors import InputError
from forgeflow.pipeline import events
from forgeflow.pipeline.errors import InputMissing, RequestInvalid
from forgeflow.pipeline.request import (
    DatasetObject,
    ResolvedRun,
    RunOptions,
    parse_options,
    parse_trigger,
    resolve_run,
)
from forgeflow.pipeline.state import RegisterInput, RunPointer, RunSettings
from forgeflow.pipeline.steps.rerun import claims_existing_run
from forgeflow.pipeline.steps.services import Services
from forgeflow.ports import LedgerRow
from forgeflow.storage import Storage, join


def register_run(payload: RegisterInput, services: Services) -> RunPointer:
    """Parse the trigger, merge the sidecar, derive the run id, claim it in the ledger, say `Run Started`."""
    trigger = parse_trigger(payload.event)
    bucket = services.settings.data_bucket
    if bucket and trigger.dataset.bucket != bucket:
        raise RequestInvalid(
            f"{trigger.dataset.uri} is outside the pipeline's bucket",
            hint=f"copy the dataset under s3://{bucket}/ (the pipeline's roles read only that bucket)",
        )
    trigger.dataset = _existing_key(trigger.dataset, services.storage)
    resolved = resolve_run(trigger, _sidecar(trigger.dataset, services.storage), services.settings)
    run_id = resolved.run_id
    request_uri = join(services.settings.run_prefix(run_id).rstrip("/"), "request.json")
    pointer = RunPointer(
        registered=True,
        run_id=run_id,
        dataset_uri=resolved.dataset_uri,
        request_uri=request_uri,
        request_id=resolved.request_id,
        settings=RunSettings(poll_seconds=resolved.poll_seconds),
    )
    # A row that exists is this execution's when it retries RegisterRun or re-runs a FAILED run.
    registered = services.ledger.register(_ledger_row(resolved, request_uri, payload.execution_arn))
    if not registered and not claims_existing_run(run_id, payload.execution_arn, services):
        return pointer.model_copy(update={"duplicate": True})
    services.storage.write_bytes(request_uri, resolved.to_json())
    services.bus.put(
        events.to_eventbridge_entry(
            _run_started(resolved, payload, services), bus_name=services.settings.results_bus_name
        )
    )
    return pointer


def _sidecar(dataset: DatasetObject, storage: Storage) -> RunOptions | None:
    """The run options uploaded next to the dataset (`<key>.yaml`), if any."""
    with contextlib.suppress(InputError):
        if storage.exists(dataset.sidecar_uri):
            return parse_options(storage.read_bytes(dataset.sidecar_uri), dataset.sidecar_uri)
    return None


def _ledger_row(resolved: ResolvedRun, request_uri: str, execution_arn: str | None) -> LedgerRow:
    return LedgerRow(
        run_id=resolved.run_id,
        status="RUNNING",
        stage="register",
        source=resolved.source,
        dataset_uri=resolved.dataset_uri,
        dataset_etag=resolved.dataset.etag,
        dataset_version_id=resolved.dataset.version_id,
        request_id=resolved.request_id,
        execution_arn=execution_arn,
        request_uri=request_uri,
    )


def _run_started(resolved: ResolvedRun, payload: RegisterInput, services: Services) -> events.RunStarted:
    return events.RunStarted(
        run_id=resolved.run_id,
        execution_arn=payload.execution_arn,
        request_id=resolved.request_id,
        dataset_uri=resolved.dataset_uri,
        source=resolved.source,
        dataset_version_id=resolved.dataset.version_id,
        dataset_etag=resolved.dataset.etag,
        model=resolved.model.value,
        technique=resolved.technique.value if resolved.technique else None,
        started_at=services.clock(),
    )


def _existing_key(dataset: DatasetObject, storage: Storage) -> DatasetObject:
    """The object the event names. S3 notifications URL-encode keys (`a b.jsonl` → `a+b.jsonl`); when the
    key as delivered does not exist but its decoded form does, the decoded form is the dataset."""
    if storage.exists(dataset.uri):
        return dataset
    decoded = dataset.model_copy(update={"key": unquote_plus(dataset.key)})
    if decoded.key != dataset.key and storage.exists(decoded.uri):
        return decoded
    raise InputMissing(f"{dataset.uri} does not exist (deleted since the upload?)")
