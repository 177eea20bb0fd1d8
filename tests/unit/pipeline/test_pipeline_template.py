"""template.yaml: cfn-lint clean, least privilege per function, the contract's names and environment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.decode import decode

from forgeflow.pipeline.settings import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_PATH = ROOT / "template.yaml"
ASL_PATH = ROOT / "statemachine" / "pipeline.asl.json"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    decoded, problems = decode(str(TEMPLATE_PATH))
    assert not problems
    return dict(decoded)


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement under a node, through `Fn::If` branches and policy lists."""
    if isinstance(node, dict):
        if "Effect" in node and "Action" in node:
            yield node
        for value in node.values():
            yield from statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from statements(item)


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_cfn_lint_reports_nothing() -> None:
    matches = lint_file(TEMPLATE_PATH)
    assert [str(match) for match in matches] == []


def test_every_function_has_its_own_scoped_policies(template: dict[str, Any]) -> None:
    found = functions(template)
    assert len(found) == 11
    for name, properties in found.items():
        # No shared Role: SAM creates one role per function from its Policies.
        assert "Role" not in properties, name
        assert properties["Policies"], name
        code = ROOT / properties["CodeUri"] / "app.py"
        assert code.is_file(), name


def test_no_wildcard_actions_and_wildcard_resources_only_where_aws_has_no_resource_level(
    template: dict[str, Any],
) -> None:
    allowed_star_resources = {
        "sagemaker:ListTrainingJobs",
        "ecr:GetAuthorizationToken",
        "cloudwatch:PutMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
    }
    for name, resource in template["Resources"].items():
        for statement in statements(resource.get("Properties", {})):
            if statement["Effect"] != "Allow":
                continue
            for action in actions(statement):
                assert "*" not in action, f"{name}: {action}"
            if statement.get("Resource") == "*":
                listed = set(actions(statement))
                assert listed <= allowed_star_resources or all(a.startswith("logs:") for a in listed), name


def test_pass_role_is_only_for_the_sagemaker_execution_role_and_service(template: dict[str, Any]) -> None:
    passes = []
    for name, resource in template["Resources"].items():
        for statement in statements(resource.get("Properties", {})):
            if "iam:PassRole" in actions(statement):
                passes.append(name)
                assert statement["Resource"] == {"Fn::GetAtt": ["SageMakerExecutionRole", "Arn"]}
                assert statement["Condition"] == {
                    "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
                }
    # Only Step Functions creates jobs (createTrainingJob.sync); no Lambda may pass the role.
    assert passes == ["PipelineStateMachine"]


def test_the_state_machine_may_run_forgeflow_jobs_through_the_sync_integration(
    template: dict[str, Any],
) -> None:
    granted = {
        action: statement["Resource"]
        for statement in statements(template["Resources"]["PipelineStateMachine"]["Properties"])
        for action in actions(statement)
    }
    for action in (
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
    ):
        assert "training-job/forgeflow-*" in str(granted[action]), action
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        assert "rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule" in str(granted[action]), action


def test_the_sweeper_has_a_failure_destination_an_alarm_and_may_publish(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    sweeper = resources["StopOrphanedJobsFunction"]["Properties"]
    destination = sweeper["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["SweeperDeadLetterQueue", "Arn"]}
    (target,) = resources["ExecutionEndedRule"]["Properties"]["Targets"]
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["SweeperDeadLetterQueue", "Arn"]}
    assert "events:PutEvents" in {a for s in statements(sweeper) for a in actions(s)}
    alarm = resources["SweeperDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["SweeperDeadLetterQueue", "QueueName"]}


def test_training_job_permissions_are_scoped_to_forgeflow_jobs(template: dict[str, Any]) -> None:
    for name, properties in functions(template).items():
        for statement in statements(properties["Policies"]):
            for action in actions(statement):
                if action.startswith("sagemaker:") and action != "sagemaker:ListTrainingJobs":
                    resource = statement["Resource"]["Fn::Sub"]
                    assert resource.endswith(":training-job/forgeflow-*"), name


def test_the_bucket_is_encrypted_private_versioned_tls_only_and_notifies_eventbridge(
    template: dict[str, Any],
) -> None:
    bucket = template["Resources"]["DataBucket"]["Properties"]
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    policy = template["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert policy[0]["Effect"] == "Deny"
    assert policy[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_functions_get_every_setting_the_handlers_read(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    expected = set(ENVIRONMENT) - {"AWS_REGION"}  # set by Lambda itself
    assert expected <= set(variables)
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "ForgeFlow"
    assert template["Globals"]["Function"]["Runtime"] == "python3.12"


def test_every_asl_substitution_is_defined_and_every_definition_used(template: dict[str, Any]) -> None:
    machine = template["Resources"]["PipelineStateMachine"]["Properties"]
    used = set(re.findall(r"\$\{(\w+)\}", ASL_PATH.read_text()))
    assert used == set(machine["DefinitionSubstitutions"])
    assert machine["Tracing"] == {"Enabled": True}
    assert machine["Logging"]["Level"] == "ALL"


def test_rules_route_both_triggers_to_the_state_machine_and_execution_ends_to_the_janitor(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    uploaded = resources["DatasetUploadedRule"]["Properties"]
    assert uploaded["EventPattern"]["detail-type"] == ["Object Created"]
    assert uploaded["EventPattern"]["detail"]["object"]["key"] == [
        {"wildcard": {"Fn::Sub": "${IncomingPrefix}*.jsonl"}}
    ]
    requested = resources["FineTuneRequestedRule"]["Properties"]
    assert requested["EventPattern"] == {"source": ["forgeflow"], "detail-type": ["FineTune Requested"]}
    for properties in (uploaded, requested):
        assert properties["Targets"][0]["Arn"] == {"Ref": "PipelineStateMachine"}
    ended = resources["ExecutionEndedRule"]["Properties"]
    assert ended["EventPattern"]["detail"]["status"] == ["ABORTED", "TIMED_OUT", "FAILED"]
    assert ended["Targets"][0]["Arn"] == {"Fn::GetAtt": ["StopOrphanedJobsFunction", "Arn"]}


def test_alarms_watch_failed_executions_and_missing_successes(template: dict[str, Any]) -> None:
    alarms = {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    failed = alarms["FailedExecutionsAlarm"]["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in failed if "MetricStat" in m} == {
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
    }
    assert alarms["NoSuccessfulRunAlarm"]["MetricName"] == "ExecutionsSucceeded"
    assert alarms["NoSuccessfulRunAlarm"]["TreatMissingData"] == "breaching"


def test_no_handler_imports_the_sagemaker_sdk_or_the_local_runtime() -> None:
    for path in sorted((ROOT / "functions").glob("*/app.py")):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+sagemaker\b", text, re.M), path
        assert "forgeflow_tools.local" not in text, path
    package = ROOT / "layers" / "forgeflow" / "forgeflow"
    for path in package.rglob("*.py"):
        assert "functions." not in path.read_text() or path.parent.name == "local", path
