"""The project's own wiring: the layer installs what the package declares, the CLI discovers commands."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest

from forgeflow import __version__
from forgeflow_tools.cli.main import main

ROOT = Path(__file__).resolve().parents[3]


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return sorted(line for line in lines if line and not line.startswith("#"))


def test_layer_requirements_match_the_package_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert _requirement_lines(ROOT / "layers/forgeflow/requirements.txt") == sorted(declared)


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci/run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_cli_version_and_usage_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0
    assert __version__ in capsys.readouterr().out
    assert main(["no-such-command"]) == 2
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err


def _mutate_targets() -> dict[str, tuple[str, ...]]:
    spec = importlib.util.spec_from_file_location("mutate_runner", ROOT / "tools/mutate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    targets: dict[str, tuple[str, ...]] = module.TARGETS
    return targets


def test_mutation_targets_are_real_modules_with_unit_tests_only() -> None:
    targets = _mutate_targets()
    assert len(targets) == 13
    for module, tests in targets.items():
        assert (ROOT / "layers/forgeflow/forgeflow" / module).is_file(), module
        assert tests, module
        assert all(t.startswith("tests/unit/") and (ROOT / t).exists() for t in tests), (module, tests)


def test_mutation_targets_each_have_a_function_to_mutate() -> None:
    # mutmut 3 mutates function bodies only; on a module of constants (dataset/rules.py, options.py) it
    # stops with "could not find any test case for any mutant" and exits non-zero, so `make mutate` over
    # every target would report that module "failed" and exit 1 however the others fared.
    for module in _mutate_targets():
        tree = ast.parse((ROOT / "layers/forgeflow/forgeflow" / module).read_text(encoding="utf-8"))
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        assert functions, f"{module} has no function for mutmut to mutate: not a mutation target"


def test_mutation_testing_is_pinned_and_outside_make_test() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["mutate"] == ["mutmut==3.8.1"]
    assert "mutmut==3.8.1" in _requirement_lines(ROOT / "constraints.txt")
    makefile = (ROOT / "Makefile").read_text()
    test_target = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "mutate" not in test_target
    assert "mutate" not in next(line for line in makefile.splitlines() if line.startswith("pytest:"))


def _warnings_filter(makefile: str) -> str:
    line = next(line for line in makefile.splitlines() if line.startswith("EDITABLE_QUIET :="))
    return line.split("PYTHONWARNINGS=", 1)[1].strip().strip('"')


def test_install_is_quiet_and_hides_only_the_editable_banner() -> None:
    """`make install` (issue #10): every pip line is --quiet; the editable lines filter setuptools'
    informational "Editable installation." banner (InformationOnly.emit in editable_wheel.py, formatted by
    setuptools/warnings.py `_format`), and nothing else: a deprecation still shows."""
    import warnings

    makefile = (ROOT / "Makefile").read_text()
    pip_lines = [line for line in makefile.splitlines() if "-m pip install" in line]
    assert pip_lines
    assert all("--quiet" in line for line in pip_lines)
    assert all(line.lstrip().startswith("$(EDITABLE_QUIET)") for line in pip_lines if " -e " in line)
    action, message = _warnings_filter(makefile).split(":", 1)
    banner = "Editable installation.\n!!\n\n        ****\n        Please be careful with folders\n!!"
    with warnings.catch_warnings(record=True) as shown:
        warnings.resetwarnings()
        # What `PYTHONWARNINGS=action:message` installs (Python's -W syntax: a literal message prefix).
        warnings.filterwarnings(action, message=re.escape(message))  # type: ignore[arg-type]
        warnings.warn(banner, UserWarning, stacklevel=1)
        warnings.warn("License classifiers are deprecated.", UserWarning, stacklevel=1)
    assert [str(item.message) for item in shown] == ["License classifiers are deprecated."]
