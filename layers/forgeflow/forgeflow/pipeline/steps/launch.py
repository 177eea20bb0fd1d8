"""LaunchRun: a trigger (S3 upload or `FineTune Requested`) → one execution named after its run.

Step Functions refuses a second execution of the same name (StartExecution, `ExecutionAlreadyExists`; a
name stays taken for 90 days), so a duplicate delivery starts nothing and never shows in the console. The
names (docs/pipeline.md, "Idempotency"):
- `<run_id>`: the run's first execution;
- `<run_id>-r<N>` (N = 2, 3 …): the N-th execution of a run whose previous execution FAILED — the
  orchestration's re-run rule (steps/rerun.py); every delivery seen while the row is FAILED derives the
  same N from the row, so duplicates of a re-run collapse too;
- `invalid-<event id>`: an event that is not a valid trigger still gets its one execution, whose
  RegisterRun fails so that the failure path puts `Run Failed` with the reason.
RegisterRun keeps its conditional write: it records the run, and it is the guard when two launches race.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from forgeflow.pipeline.errors import RequestInvalid
from forgeflow.pipeline.request import Trigger, effective_technique, parse_trigger
from forgeflow.pipeline.steps.services import Services
from forgeflow.ports import Executions, LedgerRow

RERUN_SUFFIX = "-r"
INVALID_PREFIX = "invalid-"
# Step Functions execution names: 1–80 of A-Z a-z 0-9 - _ (StartExecution API reference, `name`).
_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]")


class Launch(BaseModel):
    """What the launcher did with one delivery."""

    run_id: str | None
    execution_name: str
    execution_arn: str | None
    duplicate: bool


def execution_name(run_id: str, row: LedgerRow | None) -> str:
    """The name of the execution this delivery of `run_id` may start (see the module docstring)."""
    if row is None:
        return run_id
    current = (row.execution_arn or "").rsplit(":", 1)[-1] or run_id
    if row.status != "FAILED":
        return current
    return f"{run_id}{RERUN_SUFFIX}{execution_number(run_id, current) + 1}"


def execution_number(run_id: str, name: str) -> int:
    """1 for `<run_id>`, N for `<run_id>-r<N>`; 1 for any other name (an execution started by hand)."""
    suffix = name[len(run_id) :] if name.startswith(run_id) else ""
    if suffix.startswith(RERUN_SUFFIX) and suffix[len(RERUN_SUFFIX) :].isdigit():
        return int(suffix[len(RERUN_SUFFIX) :])
    return 1


def launch_run(event: dict[str, Any], delivery_id: str, services: Services, executions: Executions) -> Launch:
    """Start the execution of this delivery's run, unless one of that name exists.

    `delivery_id` (the Lambda request id) is part of the input: StartExecution returns a RUNNING
    execution of the same name *and input* instead of refusing it, so only a retry of this very
    invocation may get the execution it started back; any other delivery gets `ExecutionAlreadyExists`.
    """
    try:
        trigger = parse_trigger(event)
    except RequestInvalid:
        name = _NAME_CHARACTERS.sub("-", f"{INVALID_PREFIX}{event.get('id', 'event')}")[:80]
        payload = {"run": {"run_id": None}, "event": event, "delivery_id": delivery_id}
        arn = executions.start(name, payload)
        return Launch(run_id=None, execution_name=name, execution_arn=arn, duplicate=arn is None)
    run_id = trigger.run_id
    name = execution_name(run_id, services.ledger.get(run_id))
    payload = {"run": run_summary(trigger, services), "event": event, "delivery_id": delivery_id}
    arn = executions.start(name, payload)
    return Launch(run_id=run_id, execution_name=name, execution_arn=arn, duplicate=arn is None)


def run_summary(trigger: Trigger, services: Services) -> dict[str, Any]:
    """What the console's input tab shows: the run, its dataset, model, technique and outputs.

    Model and technique are the trigger's or the stack's defaults; a sidecar may still change them, and
    RegisterRun's `$.run` (in the execution output) has the resolved ones.
    """
    options = trigger.options
    technique = effective_technique(options.technique, options.method, services.settings)
    return {
        "run_id": trigger.run_id,
        "source": trigger.source,
        "request_id": trigger.request_id,
        "dataset_uri": trigger.dataset.uri,
        "dataset_version_id": trigger.dataset.version_id,
        "model": (options.model or services.settings.default_model).value,
        "technique": technique.value if technique else None,
        "outputs_prefix": services.settings.run_prefix(trigger.run_id),
    }
