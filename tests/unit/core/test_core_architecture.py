"""The layout's rules, checked: the domain never needs the AWS SDK, packages import one way, the layer ships
only what Lambdas run, and no module or function outgrows a reader.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeflow_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[3]
DOMAIN = ROOT / "layers/forgeflow/forgeflow"
TOOLS = ROOT / "tools/forgeflow_tools"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _modules(package: Path) -> Iterator[Path]:
    yield from sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def _imported(path: Path) -> set[str]:
    """Every module an import statement in `path` names, deferred (function-level) imports included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _part(module: str) -> str | None:
    """The part of the domain package a module belongs to: `forgeflow.aws.s3` → `aws`."""
    pieces = module.split(".")
    return pieces[1] if pieces[0] == "forgeflow" and len(pieces) > 1 else None


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _modules(DOMAIN):
        relative = path.relative_to(DOMAIN.parent).with_suffix("")
        source = _part(".".join(relative.parts))
        if source is None or source == "__init__":
            continue
        targets = {_part(name) for name in _imported(path)}
        graph.setdefault(source, set()).update(t for t in targets if t and t != source)
    return graph


def test_the_domain_imports_without_the_aws_sdk() -> None:
    code = (
        "import sys, forgeflow.dataset.validation, forgeflow.mixing, forgeflow.mixing.engine, "
        "forgeflow.recipes, forgeflow.recipes.render, forgeflow.recipes.preflight, forgeflow.storage, "
        "forgeflow.jobs.requests, forgeflow.jobs.evaluation, forgeflow.pipeline.steps.mix\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('botocore', 'boto3', 'moto')))\n"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_packages_import_one_way() -> None:
    graph = _package_graph()
    # Tarjan's strongly connected components: any component of two or more parts is an import cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == [], f"import cycles between packages: {cycles} (graph: {graph})"


def test_the_adapters_know_the_ports_not_the_steps() -> None:
    for path in _modules(DOMAIN / "aws"):
        steps = sorted(n for n in _imported(path) if n.startswith("forgeflow.pipeline.steps"))
        assert steps == [], f"{path.relative_to(ROOT)} imports {steps}"
    # Only the composition root knows both the boto3 adapters and the steps.
    for path in _modules(DOMAIN):
        if path.name == "composition.py" or "aws" in path.relative_to(DOMAIN).parts:
            continue
        adapters = sorted(n for n in _imported(path) if n.startswith("forgeflow.aws"))
        assert adapters == [], f"{path.relative_to(ROOT)} imports the adapters {adapters}"


def test_lambda_code_never_imports_the_tools() -> None:
    for path in [*_modules(DOMAIN), *_modules(ROOT / "functions")]:
        tools = sorted(n for n in _imported(path) if n.split(".")[0] in {"forgeflow_tools", "moto"})
        assert tools == [], f"{path.relative_to(ROOT)} imports {tools}"


def _layer_folders() -> list[Path]:
    template = load_template(ROOT / "template.yaml")
    layers = [
        resource.properties["ContentUri"]
        for resource in template.resources.values()
        if resource.type == "AWS::Serverless::LayerVersion"
    ]
    assert layers, "template.yaml defines no Lambda layer"
    return [ROOT / str(uri) for uri in layers]


def test_the_layer_holds_only_what_lambdas_run() -> None:
    for folder in _layer_folders():
        files = [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert files, f"the layer folder {folder} is empty"
        packages = {p.relative_to(folder).parts[0] for p in files}
        assert packages <= {"forgeflow", "requirements.txt", "Makefile"}, packages
        dev_only = [p for p in files if {"local", "cli", "tests", "bench"} & set(p.relative_to(folder).parts)]
        assert dev_only == [], dev_only
        for path in (p for p in files if p.suffix == ".py"):
            assert not any(n.split(".")[0] in {"moto", "forgeflow_tools"} for n in _imported(path)), path
        requirements = (folder / "requirements.txt").read_text()
        names = {line.split("==")[0].strip().lower() for line in requirements.splitlines() if "==" in line}
        assert "moto" not in requirements
        # No SageMaker SDK on a Lambda; sagemaker-mlflow (TrackingLayer) is MLflow's SigV4 auth plugin only.
        assert {name for name in names if name.startswith("sagemaker")} <= {"sagemaker-mlflow"}, names


@pytest.mark.parametrize("package", [DOMAIN, TOOLS], ids=["forgeflow", "forgeflow_tools"])
def test_no_module_or_function_outgrows_a_reader(package: Path) -> None:
    too_long: list[str] = []
    for path in _modules(package):
        source = path.read_text()
        name = path.relative_to(ROOT)
        if source.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}() {length} lines")
    assert too_long == [], "\n".join(too_long)
