"""Issue #15: the operations dashboard and the alert rules of template.yaml, read from the template itself."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    decoded, problems = decode(str(ROOT / "template.yaml"))
    assert not problems
    return dict(decoded["Resources"])


@pytest.fixture(scope="module")
def widgets(resources: dict[str, Any]) -> list[dict[str, Any]]:
    body = resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # Every ${Name} / ${Name.Attr} must be a resource of the template or a pseudo parameter (no ARNs by hand).
    for reference in re.findall(r"\$\{([^}]+)\}", body):
        assert reference.startswith("AWS::") or reference.split(".")[0] in resources, reference
    return list(json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"])


def _metric_names(widgets: list[dict[str, Any]], namespace: str) -> set[str]:
    names: set[str] = set()
    for widget in widgets:
        for entry in widget["properties"].get("metrics", []):
            for item in entry:
                if (
                    isinstance(item, dict)
                    and "expression" in item
                    and f"{{{namespace}," in item["expression"]
                ):
                    names.update(re.findall(r'MetricName="(\w+)"', item["expression"]))
            if entry and entry[0] == namespace:
                names.add(entry[1])
    return names


def _emitted() -> set[str]:
    """Metric names in `add_metric(name=...)` and `MetricPoint(...)` calls of the handlers and the layer."""
    names: set[str] = set()
    files = [*(ROOT / "functions").glob("*/app.py"), *(ROOT / "layers" / "forgeflow").rglob("*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            called = getattr(node.func, "attr", getattr(node.func, "id", ""))
            argument = None
            if called == "add_metric":
                argument = next((k.value for k in node.keywords if k.arg == "name"), None)
            elif called == "MetricPoint" and node.args:
                argument = node.args[0]
            if argument is not None:
                names.update(c.value for c in ast.walk(argument) if isinstance(c, ast.Constant))
    return names


def test_every_forgeflow_metric_a_widget_names_is_emitted_by_the_code(widgets, resources) -> None:
    namespace = "ForgeFlow"
    globals_env = decode(str(ROOT / "template.yaml"))[0]["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_env["POWERTOOLS_METRICS_NAMESPACE"] == namespace  # one metrics namespace
    shown = _metric_names(widgets, namespace)
    assert shown >= {"RunsStarted", "RunsSucceeded", "RunsRegressed", "RunsFailed", "JobsEnded"}
    assert shown >= {"EstimatedCostUsd", "ActualCostUsd", "GpuInstanceHours", "DuplicateDeliveries"}
    assert sorted(shown - _emitted()) == []


def test_the_dashboard_watches_every_function_and_dead_letter_queue(widgets, resources) -> None:
    # A function behind a Condition (TrackRunFunction, only with MlflowTrackingArn) may not exist: a
    # dashboard body cannot name it; its errors show in the Lambda console's own metrics.
    functions = {
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function" and "Condition" not in r
    }
    queues = {name for name, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    body = resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for metric in ("Errors", "Throttles"):
        watched = set(re.findall(rf'"AWS/Lambda", "{metric}", "FunctionName", "\$\{{(\w+)\}}"', body))
        assert watched == functions, metric
    assert set(re.findall(r'"QueueName", "\$\{(\w+)\.QueueName\}"', body)) == queues


def test_every_alarm_notifies_the_alert_topic(resources) -> None:
    alarms = {name: r for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"FailedExecutionsAlarm", "NoSuccessfulRunAlarm", "SweeperErrorsAlarm"} <= set(alarms)
    assert {"LaunchDeadLetterAlarm", "SweeperDeadLetterAlarm"} <= set(alarms)
    for name, alarm in alarms.items():
        assert '{"Ref": "AlertTopic"}' in json.dumps(alarm["Properties"]["AlarmActions"]), name


def test_the_topic_is_encrypted_tls_only_and_the_email_subscription_optional(resources) -> None:
    topic = resources["AlertTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlertTopicKey", "Arn"]}
    statements = resources["AlertTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert resources["AlertEmailSubscription"]["Condition"] == "HasAlertEmail"


def _envelope(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "e1",
        "detail-type": detail_type,
        "source": "forgeflow",
        "account": "123456789012",
        "time": "2026-12-01T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
        "ingestion-time": 0,
    }


@pytest.mark.parametrize(
    ("rule", "detail_type", "detail", "expected"),
    [
        (
            "RunFailedAlertRule",
            "Run Failed",
            {
                "run_id": "support-ab12",
                "stage": "train",
                "error_code": "JobFailed",
                "message": "OOM",
            },
            "ForgeFlow STACK: run support-ab12 FAILED at stage train (JobFailed) at 2026-12-01T10:00:00Z: "
            "OOM - forgeflow runs show support-ab12 --stack STACK",
        ),
        (
            "RunAttentionAlertRule",
            "Run Regressed",
            {"run_id": "support-ab12", "verdict": "regressed"},
            "ForgeFlow STACK: Run Regressed for run support-ab12 at 2026-12-01T10:00:00Z - "
            "forgeflow runs show support-ab12 --stack STACK",
        ),
    ],
)
def test_the_alert_rules_write_one_human_line(resources, rule, detail_type, detail, expected) -> None:
    from moto.events.utils import EventTemplateParser  # the transformer moto implements, as EventBridge does

    properties = resources[rule]["Properties"]
    assert detail_type in properties["EventPattern"]["detail-type"]
    (target,) = properties["Targets"]
    assert target["Arn"] == {"Ref": "AlertTopic"}
    transformer = target["InputTransformer"]
    template = transformer["InputTemplate"]["Fn::Sub"].replace("${AWS::StackName}", "STACK")
    line = EventTemplateParser.parse(
        input_template=template,
        input_paths_map=transformer["InputPathsMap"],
        event=_envelope(detail_type, detail),
    )
    assert line == expected
    assert "\n" not in line
