"""The project's own wiring: the layer installs what the package declares, the CLI discovers commands."""

from __future__ import annotations

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
    with pytest.raises(SystemExit) as usage:
        main(["no-such-command"])
    assert usage.value.code == 2
