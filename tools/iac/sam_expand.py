"""Expand a SAM template into the plain CloudFormation JSON that `sam deploy` would create, for checkov.

Run by `make checkov` with `.venv-tools/bin/python` (checkov and aws-sam-translator pin boto3 and pydantic
versions the project cannot share). The translator wants S3 URIs where `sam build` would upload code, so
local `CodeUri`/`ContentUri`/`DefinitionUri` become placeholder S3 URIs (the ASL holds `${…}`
substitutions in number positions, so it is not JSON before deploy and cannot be inlined).

    python tools/iac/sam_expand.py template.yaml build/template.cfn.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse  # knows the CloudFormation short tags (!Ref, !Sub, …)

CODE_KEYS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}


class _NoManagedPolicies:
    """The translator asks IAM for managed policy names only when a template names one (this one does not)."""

    def load(self) -> dict[str, str]:
        return {}


def _offline(template: dict[str, Any]) -> dict[str, Any]:
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        key = CODE_KEYS.get(resource.get("Type", ""))
        if key and isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
            properties[key] = f"s3://sam-build-placeholder/{properties[key].strip('/')}"
    return template


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: sam_expand.py TEMPLATE.yaml OUT.json\n")
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    # The translator reads the pseudo parameters from a boto3 session; any commercial region expands alike.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        sys.stderr.write(f"sam_expand: cannot read {source}: {error.strerror}\n")
        return 2
    try:
        expanded = transform(_offline(yaml_parse(text)), {}, _NoManagedPolicies())
    except InvalidDocumentException as error:
        sys.stderr.write(f"sam_expand: {source} is not a valid SAM template: {error.message}\n")
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(expanded, indent=1, sort_keys=True), encoding="utf-8")
    sys.stdout.write(
        f"{source} → {target}: {len(expanded.get('Resources', {}))} resources (SAM translator)\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
