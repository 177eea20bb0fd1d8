"""template.yaml's experiment tracking IAM (issue #13): who may log what where, per stack parameter.

Every statement is read from the template with the parameters applied and the Conditions evaluated (the
local runtime's own resolver, forgeflow_tools.local.template), so what is tested is what deploys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forgeflow_tools.local.template import PhysicalResource, Resolver, load_template

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
TRACKING = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/forgeflow"
BUCKET = "mlflow-artifact-store"


class _Attributes(dict[str, str]):
    """Any attribute of a resource: `<logical id>.<attribute>` (only the tracking statements are checked)."""

    def __init__(self, logical_id: str) -> None:
        super().__init__()
        self.logical_id = logical_id

    def __contains__(self, attribute: object) -> bool:
        return True

    def __missing__(self, attribute: str) -> str:
        return f"{self.logical_id}.{attribute}"


class _Physical(dict[str, PhysicalResource]):
    """Every resource of the template, named by its logical id."""

    def __contains__(self, logical_id: object) -> bool:
        return True

    def get(self, logical_id: str, default: Any = None) -> PhysicalResource:  # type: ignore[override]
        return PhysicalResource(logical_id, _Attributes(logical_id))

    def __missing__(self, logical_id: str) -> PhysicalResource:
        return self.get(logical_id)


def _resolved(overrides: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the active resources' resolved properties, the resolved Globals environment)."""
    template = load_template(TEMPLATE, overrides)
    resolver = Resolver(template, _Physical())
    resources = {
        key: {
            name: resolver.resolve(value)
            for name, value in resource.properties.items()
            if name in {"Policies", "Environment"}
        }
        for key, resource in template.active_resources().items()
        if resource.type in {"AWS::Serverless::Function", "AWS::IAM::Role"}
    }
    return resources, template.parameters


def _statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in resource.get("Policies") or []:
        document = policy.get("PolicyDocument", policy)
        found += document.get("Statement", [])
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_the_artifact_upload_is_granted_only_with_the_bucket_and_only_on_its_objects() -> None:
    both, _ = _resolved({"MlflowTrackingArn": TRACKING, "MlflowArtifactBucket": BUCKET})
    uploads = [s for s in _statements(both["TrackRunFunction"]) if s.get("Sid") == "UploadRunArtifacts"]
    assert uploads == [
        {
            "Sid": "UploadRunArtifacts",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        }
    ]
    assert both["TrackRunFunction"]["Environment"]["Variables"]["MLFLOW_ARTIFACT_BUCKET"] == BUCKET
    links, _ = _resolved({"MlflowTrackingArn": TRACKING})
    assert not [s for s in _statements(links["TrackRunFunction"]) if "s3:PutObject" in _actions(s)]
    assert links["TrackRunFunction"]["Environment"]["Variables"]["MLFLOW_ARTIFACT_BUCKET"] == ""
    # A bucket without a tracking server deploys no tracking at all.
    untracked, _ = _resolved({"MlflowArtifactBucket": BUCKET})
    assert "TrackRunFunction" not in untracked
    granted = [r for s in (_statements(x) for x in untracked.values()) for r in s if BUCKET in str(r)]
    assert granted == []


def test_the_jobs_may_log_to_the_tracking_server_only_when_there_is_one() -> None:
    tracked, _ = _resolved({"MlflowTrackingArn": TRACKING})
    (logging,) = [s for s in _statements(tracked["SageMakerExecutionRole"]) if s.get("Sid") == "LogJobRuns"]
    assert logging["Resource"] == TRACKING  # that one server, no wildcard
    actions = _actions(logging)
    assert all(a.startswith("sagemaker-mlflow:") and "*" not in a for a in actions)
    assert {"sagemaker-mlflow:CreateRun", "sagemaker-mlflow:LogBatch", "sagemaker-mlflow:LogMetric"} <= set(
        actions
    )
    assert not [a for a in actions if a.split(":")[1].startswith(("Delete", "AccessUI", "CreateModel"))]
    untracked, _ = _resolved({})
    statements = _statements(untracked["SageMakerExecutionRole"])
    assert not [s for s in statements if any(a.startswith("sagemaker-mlflow:") for a in _actions(s))]


def test_the_build_functions_get_the_tracking_arn_from_the_stack() -> None:
    tracked, _ = _resolved({"MlflowTrackingArn": TRACKING})
    assert tracked["BuildTrainingJobFunction"]["Environment"]["Variables"]["MLFLOW_TRACKING_ARN"] == TRACKING
    untracked, _ = _resolved({})
    assert untracked["BuildTrainingJobFunction"]["Environment"]["Variables"]["MLFLOW_TRACKING_ARN"] == ""
