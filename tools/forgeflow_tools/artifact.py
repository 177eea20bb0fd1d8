"""The deployable artifact `sam build` leaves in `.aws-sam/build`: what each function ships, and how big.

Read by the artifact tests (tests/artifact/) and `bench/cold_imports.py`, never by a Lambda. The built layer
holds Lambda-platform wheels (CPython 3.12, manylinux aarch64: layers/forgeflow/Makefile), which this
host's interpreter may not load. `host_twin` makes the stand-in the import checks run on: the built
layer's files as built, except the files of its compiled distributions, which are replaced by the same
distributions at the same versions from the running interpreter's own environment (docs/deploy.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from forgeflow.errors import DataError, InputError
from forgeflow_tools.local.template import load_template

BUILD_DIR = Path(".aws-sam") / "build"
LIMIT_BYTES = 200_000_000  # the project's cap; Lambda's own limit is 250 MB unzipped, layers included
# What a compiled file of the Lambda runtime (python3.12, arm64) is named and tagged like.
LAMBDA_EXTENSION_SUFFIX = ".cpython-312-aarch64-linux-gnu.so"
LAMBDA_WHEEL_TAG_PREFIX = "cp312-"
LAMBDA_WHEEL_PLATFORM = "aarch64"


@dataclass(frozen=True)
class BuiltFunction:
    """One function of the built template: its code folder and its layers' `python/` folders."""

    logical_id: str
    code: Path
    layers: tuple[Path, ...]

    def size_bytes(self) -> int:
        return folder_bytes(self.code) + sum(folder_bytes(layer.parent) for layer in self.layers)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def built_functions(build_dir: Path = BUILD_DIR) -> list[BuiltFunction]:
    """Every function of `<build_dir>/template.yaml` (Globals merged), with the layers it references."""
    template_path = build_dir / "template.yaml"
    if not template_path.is_file():
        raise InputError(
            f"no built template at {template_path}", code="NOT_BUILT", hint="run `make sam-build`"
        )
    template = load_template(template_path, {})
    layers = {
        logical_id: build_dir / str(resource.properties["ContentUri"]) / "python"
        for logical_id, resource in template.resources.items()
        if resource.type == "AWS::Serverless::LayerVersion"
    }
    found = []
    for logical_id, resource in sorted(template.resources.items()):
        if resource.type != "AWS::Serverless::Function":
            continue
        refs = [layer["Ref"] for layer in resource.properties.get("Layers", []) if isinstance(layer, dict)]
        code = build_dir / str(resource.properties["CodeUri"])
        found.append(BuiltFunction(logical_id, code, tuple(layers[ref] for ref in refs if ref in layers)))
    return found


def compiled_files(layer_python: Path) -> list[Path]:
    return sorted(path for path in layer_python.rglob("*") if path.suffix in {".so", ".pyd", ".dylib"})


def wheel_tags(layer_python: Path) -> dict[str, list[str]]:
    """`Tag:` lines of every distribution in the layer that is not pure Python, by distribution folder."""
    tags: dict[str, list[str]] = {}
    for wheel in sorted(layer_python.glob("*.dist-info/WHEEL")):
        lines = wheel.read_text(encoding="utf-8").splitlines()
        if "Root-Is-Purelib: true" in lines:
            continue
        tags[wheel.parent.name] = [line.removeprefix("Tag: ") for line in lines if line.startswith("Tag: ")]
    return tags


# Top-level names a Lambda never runs: the CLI and local runtime, the emulators, test and bench code.
DEV_ONLY_TOP_LEVEL = {"forgeflow_tools", "moto", "sagemaker", "tests", "bench", "pytest", "hypothesis"}
DEV_ONLY_IN_FORGEFLOW = {"local", "cli", "tests", "bench"}


def layer_findings(layer_python: Path) -> list[str]:
    """Why a built layer is not what Lambdas should run (empty: it is): dev-only code, bytecode or build
    metadata, or a compiled file not built for the Lambda runtime (CPython 3.12, manylinux aarch64)."""
    findings = []
    top = {path.name.split("-")[0].removesuffix(".py").lower() for path in layer_python.iterdir()}
    findings += [f"{name}: not Lambda code" for name in sorted(top & DEV_ONLY_TOP_LEVEL)]
    package = layer_python / "forgeflow"
    if not (package / "__init__.py").is_file():
        findings.append("forgeflow: the package is missing")
    for path in sorted(package.rglob("*")) if package.is_dir() else []:
        parts = set(path.relative_to(package).parts)
        if parts & DEV_ONLY_IN_FORGEFLOW or path.name == "__pycache__" or path.suffix == ".pyc":
            findings.append(f"{path.relative_to(layer_python)}: not Lambda code")
        elif path.name.endswith(".egg-info"):
            findings.append(f"{path.relative_to(layer_python)}: build metadata")
    for path in compiled_files(layer_python):
        if not path.name.endswith(LAMBDA_EXTENSION_SUFFIX):
            findings.append(f"{path.relative_to(layer_python)}: not built for {LAMBDA_EXTENSION_SUFFIX}")
    for dist_info, tags in wheel_tags(layer_python).items():
        if not tags or not all(
            tag.startswith(LAMBDA_WHEEL_TAG_PREFIX) and tag.endswith(LAMBDA_WHEEL_PLATFORM) for tag in tags
        ):
            findings.append(f"{dist_info}: wheel tags {tags} are not cp312 manylinux aarch64")
    return findings


def _distribution_name(dist_info: Path) -> tuple[str, str]:
    name, _, version = dist_info.name.removesuffix(".dist-info").partition("-")
    return name, version


def host_twin(layer_python: Path, destination: Path) -> Path:
    """A copy of the built layer in which each compiled distribution is this interpreter's build of the
    same version (the pure-Python files stay as built). Fails if this environment has another version."""
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(layer_python, destination, ignore=shutil.ignore_patterns("__pycache__"))
    for dist_info in sorted(wheel_tags(destination)):
        name, version = _distribution_name(destination / dist_info)
        _remove_recorded(destination, destination / dist_info)
        try:
            host = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise DataError(f"{name} is compiled in the layer but not installed here") from None
        if host.version != version:
            raise DataError(f"the layer has {name} {version}, this environment {host.version}: rebuild")
        for file in host.files or []:
            source = Path(str(host.locate_file(file)))
            if source.is_file() and "__pycache__" not in file.parts and ".." not in file.parts:
                target = destination / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    return destination


def _remove_recorded(root: Path, dist_info: Path) -> None:
    """Delete the files a distribution's RECORD lists (its code for the Lambda platform)."""
    for line in (dist_info / "RECORD").read_text(encoding="utf-8").splitlines():
        relative = line.split(",", 1)[0]
        if relative and ".." not in Path(relative).parts:
            (root / relative).unlink(missing_ok=True)
    shutil.rmtree(dist_info, ignore_errors=True)


# Runs in a fresh interpreter without site-packages (-I -S): sys.path is the function's folder, the layer's
# python/ and the standard library. Prints the import time and any module loaded from elsewhere.
_IMPORT_PROBE = """
import json, sys, time
code, layer = sys.argv[1], sys.argv[2]
sys.path[:0] = [code, layer]
started = time.perf_counter()
import app
took = time.perf_counter() - started
stdlib = [p for p in sys.path[2:] if p]
foreign = sorted(
    name for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None)
    and not module.__file__.startswith((code, layer, *stdlib))
)
print(json.dumps({"seconds": took, "handler": callable(getattr(app, "handler", None)),
                  "modules": sorted(sys.modules), "foreign": foreign}))
"""

# What the Lambda service sets in every function's environment (Powertools and boto3 read them at import).
LAMBDA_ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "forgeflow-import-check",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "POWERTOOLS_SERVICE_NAME": "forgeflow",
    "POWERTOOLS_METRICS_NAMESPACE": "ForgeFlow",
}


@dataclass(frozen=True)
class ColdImport:
    seconds: float
    handler: bool
    modules: list[str]
    foreign: list[str]


def cold_import(code: Path, layer_python: Path, *, bytecode: bool = False) -> ColdImport:
    """`import app` of one function in a fresh interpreter whose sys.path is its folder + the layer.

    Without `bytecode` (-B) nothing is read from or written to __pycache__, as on Lambda's read-only
    artifact; with it, .pyc files are written and reused (only ever do that on a copy, not the artifact)."""
    import orjson

    environment = {"PATH": os.environ.get("PATH", ""), **LAMBDA_ENVIRONMENT}
    flags = ["-I", "-S"] if bytecode else ["-I", "-S", "-B"]
    probe = [_IMPORT_PROBE, str(code.resolve()), str(layer_python.resolve())]
    answer = subprocess.run(  # noqa: S603 - this interpreter on paths of the build, no shell
        [sys.executable, *flags, "-c", *probe],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    if answer.returncode != 0:
        raise DataError(f"{code.name}: `import app` failed from the artifact:\n{answer.stderr.strip()}")
    parsed = orjson.loads(answer.stdout.strip().splitlines()[-1])
    return ColdImport(float(parsed["seconds"]), bool(parsed["handler"]), parsed["modules"], parsed["foreign"])
