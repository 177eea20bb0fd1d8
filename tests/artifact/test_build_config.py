"""How `sam build` builds each resource (issue #11): the makefile builds, on the source tree.

SAM's python3.12 builder needs a python3.12 binary on PATH and builds for the host; the makefile builds
(layers/forgeflow/Makefile, functions/Makefile) fetch the Lambda platform's wheels on any machine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from forgeflow_tools.local.template import load_template_text

ROOT = Path(__file__).resolve().parents[2]


def _resources() -> dict[str, dict[str, object]]:
    resources = load_template_text((ROOT / "template.yaml").read_text())["Resources"]
    assert isinstance(resources, dict)
    return resources


def test_every_function_and_layer_builds_with_its_makefile() -> None:
    for logical_id, resource in _resources().items():
        metadata = resource.get("Metadata") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            assert metadata == {"BuildMethod": "makefile", "ContextPath": "functions"}, logical_id
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            assert metadata == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}, logical_id
            content = ROOT / str(resource["Properties"]["ContentUri"])  # type: ignore[index]
            assert f"build-{logical_id}:" in (content / "Makefile").read_text(), logical_id


def test_the_function_rule_builds_any_function_name_from_its_folder(tmp_path: Path) -> None:
    # As SAM does: the CodeUri folder copied to a scratch dir, make run there with ARTIFACTS_DIR set.
    scratch, artifacts = tmp_path / "scratch", tmp_path / "artifacts"
    shutil.copytree(ROOT / "functions" / "register_run", scratch)
    artifacts.mkdir()
    subprocess.run(
        ["make", "-f", str(ROOT / "functions" / "Makefile"), "build-SomeNewFunction"],
        cwd=scratch,
        env={"ARTIFACTS_DIR": str(artifacts), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )
    assert sorted(path.name for path in artifacts.iterdir()) == ["app.py"]


def test_every_parameter_is_documented_and_constrained_for_sam_deploy_guided() -> None:
    # `sam deploy --guided` prompts with each parameter's Description and offers its Default.
    parameters = load_template_text((ROOT / "template.yaml").read_text())["Parameters"]
    for name, spec in parameters.items():
        assert spec.get("Description"), f"{name}: no Description"
        assert "Default" in spec, f"{name}: no safe default"
        constrained = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} & set(spec)
        assert constrained or spec["Type"] == "CommaDelimitedList", f"{name}: unconstrained"
