"""The deployable artifact as `sam build` left it in `.aws-sam/build` (issue #11), not the source tree.

`make test` runs `sam validate --lint` and `sam build` first and sets FORGEFLOW_REQUIRE_BUILD=1, so there a
missing artifact fails; a bare `pytest` without a build skips these tests and says how to build.

The built layer holds Lambda-platform wheels (CPython 3.12, manylinux aarch64) this host cannot load, so
the import checks run on its HOST TWIN (`forgeflow_tools.artifact.host_twin`): the built files as built,
with only the compiled distributions swapped for this interpreter's build of the same versions. That the
real artifact's compiled files are all cp312/aarch64 is checked separately, on the artifact itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from forgeflow_tools.artifact import (
    LIMIT_BYTES,
    BuiltFunction,
    built_functions,
    cold_import,
    host_twin,
    layer_findings,
)

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"


@pytest.fixture(scope="module")
def functions() -> list[BuiltFunction]:
    if not (BUILD / "template.yaml").is_file():
        if os.environ.get("FORGEFLOW_REQUIRE_BUILD") == "1":
            pytest.fail(f"no artifact at {BUILD}: `sam build` did not run or failed")
        pytest.skip("no .aws-sam/build: run `make sam-build` (make test does)")
    return built_functions(BUILD)


@pytest.fixture(scope="module")
def twin(functions: list[BuiltFunction], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return host_twin(functions[0].layers[0], tmp_path_factory.mktemp("host-twin") / "python")


def test_every_function_of_the_template_is_built_with_the_layer(functions: list[BuiltFunction]) -> None:
    source_functions = [
        line
        for line in (ROOT / "template.yaml").read_text().splitlines()
        if "AWS::Serverless::Function" in line
    ]
    assert len(functions) == len(source_functions)
    for function in functions:
        assert (function.code / "app.py").is_file(), function
        # MLflow (~70 MB) is on the tracking function's path only (docs/tracking.md), in its own layer.
        tracking = ["TrackingLayer"] if function.logical_id == "TrackRunFunction" else []
        assert [layer.parent.name for layer in function.layers] == ["ForgeFlowLayer", *tracking], function


def test_each_function_with_its_layers_is_well_under_the_lambda_limit(functions: list[BuiltFunction]) -> None:
    for function in functions:
        size = function.size_bytes()
        print(f"{function.logical_id}: {size / 1e6:.1f} MB unzipped with its layers")
        assert size < LIMIT_BYTES, f"{function.logical_id}: {size} bytes"
        # A handler folder is its own modules only: every dependency is in the layer.
        assert {path.suffix for path in function.code.rglob("*") if path.is_file()} == {".py"}, function


def test_the_built_layer_holds_only_what_lambdas_run(functions: list[BuiltFunction]) -> None:
    assert layer_findings(functions[0].layers[0]) == []


def test_the_layer_check_finds_dev_code_bytecode_and_host_binaries(
    functions: list[BuiltFunction], tmp_path: Path
) -> None:
    layer = tmp_path / "python"
    shutil.copytree(functions[0].layers[0], layer)
    (layer / "moto").mkdir()
    (layer / "forgeflow_tools").mkdir()
    (layer / "forgeflow" / "cli").mkdir()
    (layer / "forgeflow" / "__pycache__").mkdir()
    (layer / "orjson" / "orjson.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    wheel = layer / "orjson-3.13.0.dist-info" / "WHEEL"
    wheel.write_text(wheel.read_text() + "Tag: cp311-cp311-manylinux_2_17_x86_64\n")
    found = "\n".join(layer_findings(layer))
    for expected in ("moto:", "forgeflow_tools:", "forgeflow/cli", "__pycache__", "x86_64-linux-gnu.so"):
        assert expected in found, (expected, found)
    assert "orjson-3.13.0.dist-info: wheel tags" in found


def test_each_handler_imports_from_the_artifact_alone(functions: list[BuiltFunction], twin: Path) -> None:
    for function in functions:
        probe = cold_import(function.code, twin)
        print(f"{function.logical_id}: import app {probe.seconds * 1000:.0f} ms (host twin of the layer)")
        assert probe.handler, function.logical_id
        assert probe.foreign == [], (function.logical_id, probe.foreign)
        on_path = {name.split(".")[0] for name in probe.modules}
        assert not on_path & {"moto", "sagemaker", "forgeflow_tools", "pytest"}, function.logical_id


def test_the_host_twin_keeps_the_built_pure_python_files(functions: list[BuiltFunction], twin: Path) -> None:
    built = functions[0].layers[0]
    assert (twin / "forgeflow" / "composition.py").read_bytes() == (
        built / "forgeflow" / "composition.py"
    ).read_bytes()
    assert not list(twin.rglob("*aarch64*.so")), "the twin still has Lambda-platform binaries"
    assert (twin / "boto3" / "__init__.py").read_bytes() == (built / "boto3" / "__init__.py").read_bytes()
