"""RegisterRun: parse the trigger, merge the sidecar, claim the run in the ledger, say `Run Started`."""

from __future__ import annotations

import contextlib
from urllib.parse import unquote_plus

from forgeflow.errors import InputError
from forgeflow.pipeline import events
from forgeflow.pipeline.bounds import MAX_SIDECAR_BYTES
from forgeflow.pipeline.confinement import check_input_uri, check_mix_sources
from forgeflow.pipeline.errors import DatasetTooLarge, InputMissing
from forgeflow.pipeline.request import (
    DatasetObject,
    ResolvedRun,
    RunOptions,
    effective_technique,
    parse_options,
    parse_trigger,
    resolve_run,
)
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import RegisterInput, RunPointer, RunSettings
from forgeflow.pipeline.steps.rerun import claims_existing_run
from forgeflow.pipeline.steps.services import Services
from forgeflow.ports import LedgerRow
from forgeflow.storage import Storage, join

GIB = 1024**3


def register_run(payload: RegisterInput, services: Services) -> RunPointer:
    """Parse the trigger, merge the sidecar, derive the run id, claim it in the ledger, say `Run Started`."""
    trigger = parse_trigger(payload.event)
    check_input_uri(trigger.dataset.uri, services.settings, "dataset_uri")
    trigger.dataset = _pinned(_existing_key(trigger.dataset, services.storage), services)
    resolved = resolve_run(trigger, _sidecar(trigger.dataset, services.storage), services.settings)
    check_mix_sources(resolved.mix, services.settings, "mix")
    run_id = resolved.run_id
    request_uri = join(services.settings.run_prefix(run_id).rstrip("/"), "request.json")
    pointer = RunPointer(
        registered=True,
        run_id=run_id,
        dataset_uri=resolved.dataset_uri,
        request_uri=request_uri,
        request_id=resolved.request_id,
        settings=RunSettings(
            poll_seconds=resolved.poll_seconds,
            smoke_only=resolved.smoke_only,
            require_approval=resolved.require_approval,
        ),
        dataset_version_id=resolved.dataset.version_id,
        model=resolved.model.value,
        technique=_technique(resolved, services.settings),
        outputs_prefix=services.settings.run_prefix(run_id),
    )
    # A row that exists is this execution's when it retries RegisterRun or re-runs a FAILED run.
    cap = services.settings.max_concurrent_runs
    registered = services.ledger.register(
        _ledger_row(resolved, request_uri, payload.execution_arn), max_running=cap
    )
    if not registered and not claims_existing_run(run_id, payload.execution_arn, services):
        return pointer.model_copy(update={"duplicate": True})
    services.storage.write_bytes(request_uri, resolved.to_json())
    services.bus.put(
        events.to_eventbridge_entry(
            _run_started(resolved, payload, services), bus_name=services.settings.results_bus_name
        )
    )
    return pointer


def _technique(resolved: ResolvedRun, settings: PipelineSettings) -> str | None:
    technique = effective_technique(resolved.technique, resolved.method, settings)
    return technique.value if technique else None


def _sidecar(dataset: DatasetObject, storage: Storage) -> RunOptions | None:
    """The run options uploaded next to the dataset (`<key>.yaml`), if any; read at most the size cap + 1."""
    exists = False
    with contextlib.suppress(InputError):  # an unreadable probe (no ListBucket) means "no sidecar"
        exists = storage.exists(dataset.sidecar_uri)
    if not exists:
        return None
    with storage.open_input(dataset.sidecar_uri) as stream:
        data = stream.read(MAX_SIDECAR_BYTES + 1)
    return parse_options(data, dataset.sidecar_uri)


def _pinned(dataset: DatasetObject, services: Services) -> DatasetObject:
    """The dataset with the version id and ETag every later stage reads, checked against the size cap.

    An S3 trigger names its version; a request names only a key, so the version is the one current now:
    a dataset replaced after this point is never read (the stages pin it, steps/common.py `load_run`).
    """
    head = services.storage.head(dataset.uri, dataset.version_id)
    if head is None:
        raise InputMissing(f"{dataset.uri} (version {dataset.version_id}) does not exist (deleted?)")
    etag = str(head.get("ETag", "")).strip('"') or None
    if dataset.version_id is None and dataset.etag and etag and dataset.etag != etag:
        # Unversioned bucket: the uploaded bytes are gone; the new upload's own event starts its run.
        raise InputMissing(
            f"{dataset.uri} was replaced since it was uploaded (ETag {dataset.etag}, now {etag})"
        )
    _check_size(dataset.uri, int(head.get("ContentLength", 0)), services.settings)
    version_id = dataset.version_id or head.get("VersionId")
    return dataset.model_copy(update={"version_id": version_id, "etag": dataset.etag or etag})


def _check_size(uri: str, size: int, settings: PipelineSettings) -> None:
    cap = settings.max_dataset_bytes
    if size > cap:
        raise DatasetTooLarge(
            f"{uri} is {size / GIB:.2f} GiB, above the pipeline's cap of {cap / GIB:.2f} GiB "
            f"(MaxDatasetBytes = {cap}): Validate reads it within a 15-minute Lambda and Mix spills it "
            "to 10 GiB of /tmp",
            hint="split the dataset or sample it down; docs/pipeline.md, 'Spend and confinement'",
        )


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
