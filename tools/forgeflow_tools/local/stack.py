"""Create a template's resources in moto: the local equivalent of `sam deploy`.

Physical names are assigned first (from the resource's name property when it has one, else
`<stack>-<LogicalId>`), so every `!Ref`/`!GetAtt` resolves before anything is created; then resources
are created in dependency-safe type order. Resources the local runtime does not emulate (alarms, bucket
policies, KMS keys, …) still get names and ARNs for references and are listed in `Stack.not_emulated`.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forgeflow.errors import DataError
from forgeflow_tools.local.functions import FunctionRegistry, FunctionSpec
from forgeflow_tools.local.template import (
    PhysicalResource,
    Resolver,
    Resource,
    Template,
    substitute_definition,
)

# Property that names each resource type, when the template sets it.
_NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SNS::Topic": "TopicName",
}
# Creation order: what others point at first.
_ORDER = (
    "AWS::IAM::Role",
    "AWS::Logs::LogGroup",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::DynamoDB::Table",
    "AWS::Events::EventBus",
    "AWS::Serverless::Function",
    "AWS::Serverless::StateMachine",
    "AWS::Events::Rule",
)
CAPTURE_NAME = "forgeflow-local-results-capture"
# A Lambda deployment package moto can store; the code that runs is the template's CodeUri, in-process.
_PLACEHOLDER_ZIP_TEXT = "# emulated: the ForgeFlow local runtime runs the CodeUri handler in-process\n"


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("EMULATED.py", _PLACEHOLDER_ZIP_TEXT)
    return buffer.getvalue()


@dataclass
class Stack:
    """The created stack: physical resources by logical id, and what was not emulated."""

    template: Template
    physical: dict[str, PhysicalResource] = field(default_factory=dict)
    not_emulated: list[str] = field(default_factory=list)
    capture_queue_url: str | None = None

    def ref(self, logical_id: str) -> str:
        try:
            return self.physical[logical_id].ref
        except KeyError as error:
            raise DataError(
                f"the template has no resource {logical_id}",
                code="TEMPLATE_SHAPE",
                hint=str(self.template.path),
            ) from error

    def outputs(self) -> dict[str, Any]:
        resolver = Resolver(self.template, self.physical)
        return {key: resolver.resolve(body.get("Value")) for key, body in self.template.outputs().items()}


class StackBuilder:
    """Creates one template's stack in the active moto mock."""

    def __init__(self, template: Template, clients: Callable[[str], Any], registry: FunctionRegistry) -> None:
        self.template = template
        self.client = clients
        self.registry = registry
        self.stack = Stack(template)
        self._prefix = template.stack_name

    # --- naming -----------------------------------------------------------------------------------------
    def _arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        region_part = self.template.region if region else ""
        account_part = self.template.account_id if account else ""
        return f"arn:aws:{service}:{region_part}:{account_part}:{resource}"

    def _physical_for(self, resource: Resource, name: str) -> PhysicalResource:
        kind = resource.type
        if kind == "AWS::S3::Bucket":
            return PhysicalResource(
                name,
                {
                    "Arn": f"arn:aws:s3:::{name}",
                    "DomainName": f"{name}.s3.amazonaws.com",
                    "RegionalDomainName": f"{name}.s3.{self.template.region}.amazonaws.com",
                },
            )
        if kind == "AWS::DynamoDB::Table":
            arn = self._arn("dynamodb", f"table/{name}")
            return PhysicalResource(name, {"Arn": arn, "StreamArn": f"{arn}/stream/emulated"})
        if kind == "AWS::Events::EventBus":
            return PhysicalResource(name, {"Arn": self._arn("events", f"event-bus/{name}"), "Name": name})
        if kind == "AWS::Events::Rule":
            return PhysicalResource(name, {"Arn": self._arn("events", f"rule/{name}")})
        if kind == "AWS::IAM::Role":
            return PhysicalResource(
                name, {"Arn": self._arn("iam", f"role/{name}", region=False), "RoleId": name}
            )
        if kind in {"AWS::Serverless::Function", "AWS::Lambda::Function"}:
            return PhysicalResource(name, {"Arn": self._arn("lambda", f"function:{name}")})
        if kind in {"AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"}:
            arn = self._arn("states", f"stateMachine:{name}")
            return PhysicalResource(arn, {"Arn": arn, "Name": name})
        if kind == "AWS::SQS::Queue":
            url = f"https://sqs.{self.template.region}.amazonaws.com/{self.template.account_id}/{name}"
            return PhysicalResource(url, {"Arn": self._arn("sqs", name), "QueueName": name, "QueueUrl": url})
        if kind == "AWS::Logs::LogGroup":
            return PhysicalResource(name, {"Arn": self._arn("logs", f"log-group:{name}:*")})
        if kind == "AWS::SNS::Topic":
            arn = self._arn("sns", name)
            return PhysicalResource(arn, {"TopicArn": arn, "TopicName": name})
        if kind in {"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"}:
            arn = self._arn("lambda", f"layer:{name}:1")
            return PhysicalResource(arn, {"Arn": arn})
        emulated_arn = f"arn:aws:emulated:{self.template.region}:{self.template.account_id}:{name}"
        return PhysicalResource(name, {"Arn": emulated_arn, "KeyId": name})

    def _assign_names(self, resources: dict[str, Resource]) -> None:
        resolver = Resolver(self.template, self.stack.physical)
        pending = dict(resources)
        # Names may refer to parameters, pseudo parameters or (rarely) other resources: resolve what can
        # be resolved, fall back to the generated name for the rest.
        for logical_id, resource in pending.items():
            name_property = _NAME_PROPERTY.get(resource.type)
            name = f"{self._prefix}-{logical_id}"
            if resource.type == "AWS::S3::Bucket":
                name = f"{self._prefix}-{logical_id}-{self.template.account_id}".lower()
            if name_property and name_property in resource.properties:
                try:
                    resolved = resolver.resolve(resource.properties[name_property])
                except DataError:
                    resolved = None
                if resolved:
                    name = str(resolved)
            self.stack.physical[logical_id] = self._physical_for(resource, name[:64])
            serverless = resource.type in {"AWS::Serverless::Function", "AWS::Serverless::StateMachine"}
            if serverless and "Role" not in resource.properties:
                role = Resource(f"{logical_id}Role", "AWS::IAM::Role", {})
                self.stack.physical[role.logical_id] = self._physical_for(
                    role, f"{self._prefix}-{logical_id}Role"[:64]
                )

    # --- creation ---------------------------------------------------------------------------------------
    def build(self) -> Stack:
        resources = self.template.active_resources()
        self._assign_names(resources)
        resolver = Resolver(self.template, self.stack.physical)
        creators: dict[str, Callable[[Resource, dict[str, Any]], None]] = {
            "AWS::IAM::Role": self._role,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::SQS::Queue": self._queue,
            "AWS::S3::Bucket": self._bucket,
            "AWS::DynamoDB::Table": self._table,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::Serverless::Function": self._function,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::Events::Rule": self._rule,
        }
        for logical_id, resource in resources.items():
            if resource.type not in creators and resource.type not in {
                "AWS::Serverless::LayerVersion",
                "AWS::Lambda::LayerVersion",
            }:
                self.stack.not_emulated.append(f"{logical_id} ({resource.type})")
        for resource_type in _ORDER:
            for resource in resources.values():
                if resource.type == resource_type:
                    creators[resource_type](resource, resolver.resolve(resource.properties) or {})
        self._add_results_capture(resources)
        return self.stack

    def _implicit_role(self, logical_id: str, principal: str) -> str:
        role = self.stack.physical[f"{logical_id}Role"]
        self.client("iam").create_role(
            RoleName=role.ref,
            AssumeRolePolicyDocument=_trust_policy(principal),
            Description="SAM implicit role",
        )
        return role.attributes["Arn"]

    def _role(self, resource: Resource, properties: dict[str, Any]) -> None:
        document = properties.get("AssumeRolePolicyDocument", {})
        self.client("iam").create_role(
            RoleName=self.stack.ref(resource.logical_id),
            AssumeRolePolicyDocument=json.dumps(document),
            Path=properties.get("Path", "/"),
        )

    def _log_group(self, resource: Resource, properties: dict[str, Any]) -> None:
        self.client("logs").create_log_group(logGroupName=self.stack.ref(resource.logical_id))

    def _queue(self, resource: Resource, properties: dict[str, Any]) -> None:
        name = self.stack.physical[resource.logical_id].attributes["QueueName"]
        attributes = {"FifoQueue": "true"} if properties.get("FifoQueue") else {}
        self.client("sqs").create_queue(QueueName=name, Attributes=attributes)

    def _bucket(self, resource: Resource, properties: dict[str, Any]) -> None:
        s3 = self.client("s3")
        name = self.stack.ref(resource.logical_id)
        s3.create_bucket(Bucket=name)
        if (properties.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        notifications = properties.get("NotificationConfiguration") or {}
        if (notifications.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled") in {True, "true"}:
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )

    def _table(self, resource: Resource, properties: dict[str, Any]) -> None:
        request: dict[str, Any] = {
            "TableName": self.stack.ref(resource.logical_id),
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": properties.get("BillingMode", "PROVISIONED"),
        }
        if request["BillingMode"] == "PROVISIONED":
            request["ProvisionedThroughput"] = properties.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        indexes = []
        for index in properties.get("GlobalSecondaryIndexes", []):
            entry = {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
            if request["BillingMode"] == "PROVISIONED":
                entry["ProvisionedThroughput"] = index.get(
                    "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
                )
            indexes.append(entry)
        if indexes:
            request["GlobalSecondaryIndexes"] = indexes
        self.client("dynamodb").create_table(**request)

    def _event_bus(self, resource: Resource, properties: dict[str, Any]) -> None:
        self.client("events").create_event_bus(Name=self.stack.ref(resource.logical_id))

    def _function(self, resource: Resource, properties: dict[str, Any]) -> None:
        logical_id = resource.logical_id
        physical = self.stack.physical[logical_id]
        role = properties.get("Role") or self._implicit_role(logical_id, "lambda.amazonaws.com")
        environment = {
            str(key): _env_string(value)
            for key, value in ((properties.get("Environment") or {}).get("Variables") or {}).items()
        }
        code_uri = properties.get("CodeUri")
        if not isinstance(code_uri, str):
            raise DataError(
                f"{logical_id}: the local runtime needs a local CodeUri folder", code="TEMPLATE_SHAPE"
            )
        self.client("lambda").create_function(
            FunctionName=physical.ref,
            Runtime=str(properties.get("Runtime", "python3.12")),
            Role=role,
            Handler=str(properties.get("Handler", "app.handler")),
            Code={"ZipFile": _placeholder_zip()},
            Environment={"Variables": environment},
            Timeout=int(properties.get("Timeout", 3)),
            MemorySize=int(properties.get("MemorySize", 128)),
            Description="emulated in-process by the ForgeFlow local runtime",
        )
        self.registry.register(
            FunctionSpec(
                logical_id=logical_id,
                name=physical.ref,
                arn=physical.attributes["Arn"],
                code_dir=(self.template.root / code_uri).resolve(),
                handler=str(properties.get("Handler", "app.handler")),
                environment=environment,
                memory_mb=int(properties.get("MemorySize", 128)),
                timeout_seconds=int(properties.get("Timeout", 3)),
            )
        )
        self._sam_events(logical_id, properties, physical.attributes["Arn"])

    def _state_machine(self, resource: Resource, properties: dict[str, Any]) -> None:
        logical_id = resource.logical_id
        physical = self.stack.physical[logical_id]
        if "DefinitionUri" in properties:
            uri = properties["DefinitionUri"]
            if not isinstance(uri, str):
                raise DataError(f"{logical_id}: DefinitionUri must be a local file", code="TEMPLATE_SHAPE")
            text = (self.template.root / uri).read_text(encoding="utf-8")
        else:
            text = json.dumps(properties.get("Definition", {}))
        definition = substitute_definition(text, properties.get("DefinitionSubstitutions") or {})
        role = properties.get("Role") or self._implicit_role(logical_id, "states.amazonaws.com")
        self.client("stepfunctions").create_state_machine(
            name=physical.attributes["Name"],
            definition=definition,
            roleArn=role,
            type=str(properties.get("Type", "STANDARD")),
        )
        self._sam_events(logical_id, properties, physical.ref)

    def _sam_events(self, logical_id: str, properties: dict[str, Any], target_arn: str) -> None:
        """SAM `Events` of type EventBridgeRule/CloudWatchEvent become rules, as SAM's transform does."""
        for event_name, event in (properties.get("Events") or {}).items():
            if event.get("Type") not in {"EventBridgeRule", "CloudWatchEvent"}:
                self.stack.not_emulated.append(f"{logical_id}.Events.{event_name} ({event.get('Type')})")
                continue
            spec = event.get("Properties") or {}
            rule = f"{self._prefix}-{logical_id}{event_name}"[:64]
            bus = spec.get("EventBusName", "default")
            self.client("events").put_rule(
                Name=rule, EventPattern=json.dumps(spec["Pattern"]), EventBusName=bus
            )
            target: dict[str, Any] = {"Id": f"{logical_id}{event_name}"[:64], "Arn": target_arn}
            for key in ("Input", "InputPath"):
                if key in spec:
                    target[key] = spec[key]
            self.client("events").put_targets(Rule=rule, EventBusName=bus, Targets=[target])

    def _rule(self, resource: Resource, properties: dict[str, Any]) -> None:
        events = self.client("events")
        name = self.stack.ref(resource.logical_id)
        bus = str(properties.get("EventBusName", "default"))
        request: dict[str, Any] = {
            "Name": name,
            "EventBusName": bus,
            "State": properties.get("State", "ENABLED"),
        }
        if "EventPattern" in properties:
            pattern = properties["EventPattern"]
            request["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        if "ScheduleExpression" in properties:
            request["ScheduleExpression"] = properties["ScheduleExpression"]
            self.stack.not_emulated.append(f"{resource.logical_id} schedule (rules run on events only)")
        events.put_rule(**request)
        targets = [
            {
                key: value
                for key, value in target.items()
                if key in {"Id", "Arn", "RoleArn", "Input", "InputPath", "InputTransformer", "SqsParameters"}
            }
            for target in properties.get("Targets", [])
        ]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)

    def _add_results_capture(self, resources: dict[str, Resource]) -> None:
        """An SQS queue subscribed to every custom bus: how tests and the CLI read events back."""
        buses = [key for key, resource in resources.items() if resource.type == "AWS::Events::EventBus"]
        if not buses:
            return
        sqs, events = self.client("sqs"), self.client("events")
        url = sqs.create_queue(QueueName=CAPTURE_NAME)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for logical_id in buses:
            bus = self.stack.ref(logical_id)
            events.put_rule(
                Name=CAPTURE_NAME,
                EventBusName=bus,
                EventPattern=json.dumps({"account": [self.template.account_id]}),
                Description="local runtime only: copies every event on this bus to an SQS queue",
            )
            events.put_targets(
                Rule=CAPTURE_NAME, EventBusName=bus, Targets=[{"Id": "capture", "Arn": queue_arn}]
            )
        self.stack.capture_queue_url = url


def _trust_policy(principal: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "" if value is None else str(value)
