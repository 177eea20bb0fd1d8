"""State-machine paths on the embedded local runtime: the real ASL, named scenarios per path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from forgeflow_tools.examples import write_examples
from forgeflow_tools.local.runtime import LocalRuntime
from forgeflow_tools.local.sagemaker import FailureInjection

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="session")
def small_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first records of the shipped examples: enough for every stage, small enough to be quick."""
    folder = tmp_path_factory.mktemp("sm-examples")
    full = write_examples(folder / "full")
    small = {}
    for name, count in (("support", 50), ("general", 30)):
        small[name] = folder / full[name].name
        small[name].write_bytes(b"".join(full[name].read_bytes().splitlines(keepends=True)[:count]))
    return small


@pytest.fixture
def scenario_stack(small_examples: dict[str, Path]) -> Iterator[Callable[..., LocalRuntime]]:
    opened: list[LocalRuntime] = []

    def start(failures: FailureInjection | None = None, **options: Any) -> LocalRuntime:
        # Paths and faults, not the gate: on these tiny slices the stand-in's general suite is a handful
        # of queries, so the gate is opened wide (a scenario's run config can close it again).
        parameters = {"GateGeneralMaxDrop": "100", **options.pop("parameter_overrides", {})}
        runtime = LocalRuntime(TEMPLATE, failures=failures, parameter_overrides=parameters, **options)
        runtime.__enter__()
        opened.append(runtime)
        general = small_examples["general"]
        runtime.put_object(f"{runtime.curated_prefix}sft/{general.name}", general.read_bytes())
        return runtime

    yield start
    for runtime in opened:
        runtime.__exit__(None, None, None)
