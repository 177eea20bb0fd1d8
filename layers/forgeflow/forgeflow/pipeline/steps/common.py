"""What every stage shares: loading the run's request, marking the stage, and naming domain errors.

A domain module raises `DataError` (the user must change something) or `InputError` (something cannot be
read); the state machine routes on the class name of a `PipelineError`. `reraise_as` is the one
translation between the two, so a stage says in one line what its errors mean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import orjson

from forgeflow.errors import DataError, InputError
from forgeflow.pipeline.errors import InputMissing, PipelineError
from forgeflow.pipeline.request import ResolvedRun
from forgeflow.pipeline.state import RunPointer
from forgeflow.pipeline.steps.services import Services


def json_document(document: Any) -> bytes:
    """A report as stored under `runs/<run_id>/`: indented, sorted keys, one trailing newline."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


@contextlib.contextmanager
def reraise_as(invalid: type[PipelineError] | None = None, *, missing: str | bool = False) -> Iterator[None]:
    """Inside the block, a `DataError` becomes `invalid` and an `InputError` becomes `InputMissing`.

    `missing=True` keeps the InputError's message; a string names what could not be read and the error
    says why. Left unset (None / False), that kind of error passes through unchanged.
    """
    try:
        yield
    except PipelineError:
        raise
    except DataError as error:
        if invalid is None:
            raise
        # `error.message`, not `str(error)`: that already ends in the hint, which would then print twice.
        raise invalid(error.message, hint=error.hint) from error
    except InputError as error:
        if missing is False:
            raise
        if missing is True:
            raise InputMissing(error.message, hint=error.hint) from error
        raise InputMissing(f"{missing}: {error}") from error


def load_run(run: RunPointer, services: Services) -> ResolvedRun:
    """The run's resolved request (`runs/<run_id>/request.json`), its dataset pinned to its version."""
    run.require_id()
    assert run.request_uri is not None
    with reraise_as(missing="the run's request document is missing"):
        resolved = ResolvedRun.from_json(services.storage.read_bytes(run.request_uri))
    # Every stage reads the object version RegisterRun pinned, not whatever was uploaded since.
    dataset = resolved.dataset
    services.storage.pin_version(resolved.dataset_uri, dataset.version_id)
    if dataset.version_id is None and dataset.etag is not None:
        # Without bucket versioning the pinned bytes cannot be read back once replaced: refuse instead.
        head = services.storage.head(resolved.dataset_uri)
        etag = str(head.get("ETag", "")).strip('"') if head else None
        if etag != dataset.etag:
            raise InputMissing(
                f"{resolved.dataset_uri} changed after the run registered (ETag {dataset.etag}, now {etag})",
                hint="enable versioning on the bucket (template.yaml does) or upload under a new key",
            )
    return resolved


def enter_stage(services: Services, run_id: str, stage: str) -> None:
    """Record in the ledger which stage the run is in (what `forgeflow runs` shows while it runs)."""
    services.ledger.update(run_id, stage=stage)
