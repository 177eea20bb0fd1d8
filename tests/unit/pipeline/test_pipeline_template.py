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
    # One function per handler folder (a fixed count went stale whenever a branch added a function).
    handlers = {path.parent.name for path in (ROOT / "functions").glob("*/app.py")}
    assert {Path(properties["CodeUri"]).name for properties in found.values()} == handlers
    assert len(found) == len(handlers)
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
            # In a key policy `Resource: "*"` is the key itself (AWS KMS developer guide, "Key policies").
            if statement.get("Resource") == "*" and resource["Type"] != "AWS::KMS::Key":
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
    # AWS_REGION is set by Lambda itself; only the launcher gets the state machine (a cycle otherwise).
    # Only RequestApproval reads the approval's timeout, approvers and stack name (its own variables).
    approval = {"APPROVAL_TIMEOUT_SECONDS", "APPROVER_ARNS", "STACK_NAME"}
    # FORGEFLOW_EMULATED is the local runtime's Lambda emulation's own (tools/forgeflow_tools/local).
    expected = set(ENVIRONMENT) - {"AWS_REGION", "STATE_MACHINE_ARN", "FORGEFLOW_EMULATED"} - approval
    expected -= {"MLFLOW_ARTIFACT_BUCKET"}
    assert expected <= set(variables)
    own = template["Resources"]["RequestApprovalFunction"]["Properties"]["Environment"]["Variables"]
    assert approval == set(own)
    # Only TrackRunFunction reads the tracking server's artifact bucket (its own variable).
    assert "MLFLOW_ARTIFACT_BUCKET" not in variables
    tracking = template["Resources"]["TrackRunFunction"]["Properties"]["Environment"]["Variables"]
    assert set(tracking) == {"MLFLOW_ARTIFACT_BUCKET"}
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
    # Issue #15: the triggers reach the launcher, which names the execution after the run.
    for properties in (uploaded, requested):
        (target,) = properties["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["LaunchRunFunction", "Arn"]}
        assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["LaunchDeadLetterQueue", "Arn"]}
    launcher = resources["LaunchRunFunction"]["Properties"]
    assert launcher["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["LaunchDeadLetterQueue", "Arn"]
    }
    assert launcher["Environment"]["Variables"]["STATE_MACHINE_ARN"] == {"Ref": "PipelineStateMachine"}
    (statement,) = [s for s in launcher["Policies"][0]["Statement"] if s["Sid"] == "StartPipeline"]
    assert (statement["Action"], statement["Resource"]) == (
        "states:StartExecution",
        {"Ref": "PipelineStateMachine"},
    )
    alarm = resources["LaunchDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["LaunchDeadLetterQueue", "QueueName"]}
    assert "EventsToStepFunctionsRole" not in resources  # nothing but the launcher starts executions
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


# --- issue #9, spend and confinement: the template's half of findings 4, 9, 11, 12 ------------------------
def test_fine_tune_requests_arrive_on_a_dedicated_bus_open_to_named_publishers(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    assert resources["FineTuneRequestedRule"]["Properties"]["EventBusName"] == {"Ref": "RequestBus"}
    assert resources["RequestBus"]["Type"] == "AWS::Events::EventBus"
    allow = resources["RequestBusPublishers"]["Properties"]["Statement"]
    assert allow["Effect"] == "Allow"
    assert allow["Action"] == "events:PutEvents"
    assert allow["Principal"]["AWS"]["Fn::If"][1] == {"Ref": "RequestPublisherArns"}
    assert "iam::${AWS::AccountId}:root" in allow["Principal"]["AWS"]["Fn::If"][2]["Fn::Sub"]
    deny = resources["RequestBusOnlyPublishers"]
    assert deny["Condition"] == "HasRequestPublishers"
    assert deny["Properties"]["Statement"]["Condition"] == {
        "ArnNotLike": {"aws:PrincipalArn": {"Ref": "RequestPublisherArns"}}
    }
    pattern = re.compile(template["Parameters"]["RequestEventBusName"]["AllowedPattern"])
    assert not pattern.fullmatch("default")
    assert pattern.fullmatch("forgeflow-requests")


def test_only_the_publishing_roles_may_put_on_the_results_bus(template: dict[str, Any]) -> None:
    policy = template["Resources"]["ResultsBusPublishersOnly"]["Properties"]
    assert policy["EventBusName"] == {"Ref": "ResultsBus"}
    statement = policy["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        "*",
        "events:PutEvents",
    )
    allowed = {arn["Fn::GetAtt"][0] for arn in statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]}
    publishers = {
        name
        for name, properties in functions(template).items()
        for granted in statements(properties.get("Policies"))
        if "events:PutEvents" in actions(granted)
        and granted.get("Resource") == {"Fn::GetAtt": ["ResultsBus", "Arn"]}
    }
    assert publishers
    assert {f"{name}Role" for name in publishers} <= allowed


def test_the_ecr_permission_names_exactly_the_image_accounts_of_images_yaml(template: dict[str, Any]) -> None:
    import yaml

    images = yaml.safe_load((ROOT / "layers/forgeflow/forgeflow/jobs/data/images.yaml").read_text())
    repositories = {str(image).split(":", 1)[0] for image in images["repositories"].values()}
    expected = {
        f"arn:${{AWS::Partition}}:ecr:{region}:{account}:repository/{repository}"
        for region, account in images["accounts"].items()
        for repository in repositories
    }
    role = template["Resources"]["SageMakerExecutionRole"]["Properties"]
    (pull,) = [s for s in statements(role) if s.get("Sid") == "PullNovaImages"]
    assert {resource["Fn::Sub"] for resource in pull["Resource"]} == expected


def test_kms_create_grant_is_only_for_aws_resources(template: dict[str, Any]) -> None:
    grants = [s for s in statements(template["Resources"]) if "kms:CreateGrant" in actions(s)]
    # The state machine role (it creates the jobs) and the SageMaker execution role; no Lambda creates jobs.
    assert len(grants) == 2
    for statement in grants:
        assert actions(statement) == ["kms:CreateGrant"]
        assert statement["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


def _resources(statement: dict[str, Any]) -> set[str]:
    resource = statement.get("Resource", [])
    listed = resource if isinstance(resource, list) else [resource]
    return {r["Fn::Sub"] for r in listed if isinstance(r, dict) and "Fn::Sub" in r}


def test_data_is_read_only_under_the_input_prefixes_and_runs_and_written_only_under_runs(
    template: dict[str, Any],
) -> None:
    names = ("IncomingPrefix", "CuratedDataPrefix", "RequestDataPrefix")
    # baseline/: the base-model score cache (forgeflow/evaluation/baseline.py), written by CollectEvaluation.
    cache = "${DataBucket.Arn}/baseline/*"
    # Not the data bucket: the MLflow tracking server's artifact store (TrackRunFunction, docs/tracking.md).
    artifact_store = "arn:${AWS::Partition}:s3:::${MlflowArtifactBucket}/*"
    readable = {f"${{DataBucket.Arn}}/${{{name}}}*" for name in names} | {"${DataBucket.Arn}/runs/*", cache}
    writers = []
    for statement in statements(template["Resources"]):
        if statement["Effect"] != "Allow":
            continue
        if {"s3:GetObject", "s3:GetObjectVersion"} & set(actions(statement)):
            assert _resources(statement) <= readable, statement
        if "s3:PutObject" in actions(statement):
            if _resources(statement) in ({cache}, {artifact_store}):
                writers.append(statement["Sid"])
                continue
            assert all(sub.startswith("${DataBucket.Arn}/runs/") for sub in _resources(statement)), statement
    assert sorted(writers) == ["BaselineCache", "UploadRunArtifacts"]


@pytest.mark.parametrize("name", ["IncomingPrefix", "CuratedDataPrefix", "RequestDataPrefix"])
def test_no_input_prefix_may_overlap_runs_or_hold_a_wildcard(template: dict[str, Any], name: str) -> None:
    # CloudFormation applies AllowedPattern to the whole value (AWS CloudFormation User Guide, Parameters).
    pattern = re.compile(template["Parameters"][name]["AllowedPattern"])
    assert pattern.fullmatch(template["Parameters"][name]["Default"])
    for refused in ("runs/", "runs/incoming/", "/", "*/", "in*/"):
        assert not pattern.fullmatch(refused), refused


def test_max_concurrent_runs_reaches_register_run_which_may_update_the_run_counter(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["MaxConcurrentRuns"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 2, 1)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["MAX_CONCURRENT_RUNS"] == {"Ref": "MaxConcurrentRuns"}
    (ledger,) = [
        statement
        for policy in functions(template)["RegisterRunFunction"]["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        if statement.get("Sid") == "Ledger"
    ]
    # The "#running" counter is updated in the same transaction as the row's insert (aws/ledger.py).
    assert set(ledger["Action"]) == {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"}


# --- issue #15, approval before the full job --------------------------------------------------------------
def test_approval_is_off_by_default_and_times_out_after_the_documented_day(template: dict[str, Any]) -> None:
    from forgeflow.pipeline.settings import DEFAULT_APPROVAL_TIMEOUT_SECONDS, PipelineSettings

    parameters = template["Parameters"]
    assert parameters["RequireApproval"]["Default"] == "false"
    assert parameters["ApprovalTimeoutSeconds"]["Default"] == DEFAULT_APPROVAL_TIMEOUT_SECONDS
    assert PipelineSettings().require_approval is False
    assert PipelineSettings.from_environ({"REQUIRE_APPROVAL": "true"}).require_approval is True
    assert template["Globals"]["Function"]["Environment"]["Variables"]["REQUIRE_APPROVAL"] == {
        "Ref": "RequireApproval"
    }


def test_only_request_approval_writes_the_token_and_approvers_may_only_answer_and_read(
    template: dict[str, Any],
) -> None:
    granted = list(statements(template["Resources"]["RequestApprovalFunction"]["Properties"]["Policies"]))
    assert sorted(action for s in granted for action in actions(s)) == [
        "dynamodb:UpdateItem",
        "events:PutEvents",
    ]
    approver = template["Resources"]["ApproverPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_action = {action: s["Resource"] for s in approver for action in actions(s)}
    assert by_action == {
        "states:SendTaskSuccess": {"Ref": "PipelineStateMachine"},
        "states:SendTaskFailure": {"Ref": "PipelineStateMachine"},
        "dynamodb:GetItem": {"Fn::GetAtt": ["RunLedgerTable", "Arn"]},
    }
    # Nobody else may answer a task token.
    for name, properties in functions(template).items():
        for statement in statements(properties.get("Policies")):
            assert not any(a.startswith("states:SendTask") for a in actions(statement)), name


@pytest.mark.parametrize(
    ("arn", "valid"),
    [
        ("", True),
        (
            "arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub/Model/nova-textgeneration-lite-v2",
            True,
        ),
        ("arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub/Model/nova-lite-v2/1.0.0", True),
        ("arn:aws:sagemaker:us-east-1:aws:hub-content/SageMakerPublicHub/nova-lite-v2", False),
        ("arn:aws:sagemaker:us-east-1:aws:hub-content/Hub/Model/nova/latest", False),
    ],
)
def test_base_model_arn_parameter_accepts_what_botocore_accepts(
    template: dict[str, Any], arn: str, valid: bool
) -> None:
    # A base-model ARN the template admits must pass botocore's ServerlessJobConfig.BaseModelArn pattern,
    # so a mistyped stack parameter fails at deploy, not at the first serverless run.
    from botocore.session import get_session

    pattern = template["Parameters"]["BaseModelArnLite2"]["AllowedPattern"]
    shape = get_session().get_service_model("sagemaker").shape_for("ServerlessJobConfig")
    botocore_pattern = shape.members["BaseModelArn"].metadata["pattern"]
    assert (re.fullmatch(pattern, arn) is not None) == valid
    if arn:
        assert (re.fullmatch(botocore_pattern, arn) is not None) == valid


def test_forge_buckets_and_model_packages_are_granted_only_when_configured(template: dict[str, Any]) -> None:
    policies = template["Resources"]["SageMakerExecutionRole"]["Properties"]["Policies"]
    conditional = {p["Fn::If"][0]: p["Fn::If"][1]["PolicyName"] for p in policies if "Fn::If" in p}
    assert conditional["HasForgeDataBuckets"] == "forgeflow-forge-data"
    assert conditional["HasModelPackageGroup"] == "forgeflow-model-packages"
    forge = next(
        p["Fn::If"][1] for p in policies if "Fn::If" in p and p["Fn::If"][0] == "HasForgeDataBuckets"
    )
    actions = {s["Action"] for s in forge["PolicyDocument"]["Statement"]}
    assert actions == {"s3:GetObject", "s3:ListBucket"}  # read only
