"""A deployed ForgeFlow stack, for the CLI: found by its CloudFormation outputs, then acted on and followed.

One code path for every account: a boto3 session from `--profile`/`--region` or the usual AWS environment.
`AWS_ENDPOINT_URL` (boto3's own setting) is the only difference between a real account and an emulated
one, and the CLI names the endpoint when it is set, so an emulated run says it is one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from forgeflow.errors import DataError, InputError

# template.yaml `Outputs` the CLI reads (a stack without one is not a ForgeFlow stack of this version).
REQUIRED_OUTPUTS = (
    "DataBucketName",
    "PipelineStateMachineArn",
    "RunLedgerTableName",
    "IncomingPrefix",
    "CuratedDataPrefix",
    "RequestBusName",
)
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
STACK_HINT = "check --stack and --region (or AWS_DEFAULT_REGION); `aws cloudformation list-stacks` lists them"


@dataclass(frozen=True)
class DeployedStack:
    name: str
    region: str
    outputs: dict[str, str]
    session: Any

    def client(self, service: str) -> Any:
        return self.session.client(service)

    @property
    def bucket(self) -> str:
        return self.outputs["DataBucketName"]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs["PipelineStateMachineArn"]

    @property
    def where(self) -> str:
        """The region, and the endpoint when AWS_ENDPOINT_URL points boto3 elsewhere (an emulation)."""
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        return f"{self.region}, endpoint {endpoint} (AWS_ENDPOINT_URL)" if endpoint else self.region


def find_stack(name: str, *, profile: str | None = None, region: str | None = None) -> DeployedStack:
    """The stack's outputs; InputError (exit 2) for no region, no such stack or a stack that is not ours."""
    import boto3
    from botocore.exceptions import ClientError

    session = boto3.session.Session(profile_name=profile, region_name=region)
    if not session.region_name:
        raise InputError(
            "no AWS region configured", code="NO_REGION", hint="pass --region or set AWS_DEFAULT_REGION"
        )
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        message = str(error.response.get("Error", {}).get("Message", error))
        if "does not exist" in message:
            raise InputError(
                f"no stack {name!r} in {session.region_name}", code="STACK_NOT_FOUND", hint=STACK_HINT
            ) from None
        raise
    status = str(stacks[0].get("StackStatus", ""))
    if not status.endswith("_COMPLETE") or status.startswith(("DELETE", "ROLLBACK")):
        raise InputError(
            f"stack {name!r} is {status}", code="STACK_NOT_READY", hint="wait for the deploy to end"
        )
    outputs = {str(o["OutputKey"]): str(o["OutputValue"]) for o in stacks[0].get("Outputs", [])}
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if missing:
        raise InputError(
            f"stack {name!r} has no output {', '.join(missing)}",
            code="NOT_A_FORGEFLOW_STACK",
            hint="deploy this template.yaml (`sam build && sam deploy`) or name the ForgeFlow stack",
        )
    return DeployedStack(name, str(session.region_name), outputs, session)


def find_execution(
    stack: DeployedStack, since: float, matches: Callable[[Any], bool], *, timeout: float, poll: float
) -> str | None:
    """The ARN of the execution started after `since` (epoch seconds) whose trigger `matches` (None: timeout).
    Events start executions asynchronously, so the list is polled."""
    sfn = stack.client("stepfunctions")
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while True:
        listed = sfn.list_executions(stateMachineArn=stack.state_machine_arn, maxResults=100)["executions"]
        for execution in listed:
            arn = str(execution["executionArn"])
            if arn in seen or execution["startDate"].timestamp() < since - 5:  # 5 s of clock skew
                continue
            seen.add(arn)
            described = sfn.describe_execution(executionArn=arn)
            started = orjson.loads(described.get("input") or "{}")
            # LaunchRun's input keeps the trigger event under `event` (docs/pipeline.md, "Idempotency").
            if matches(started.get("event", started) if isinstance(started, dict) else started):
                return arn
        if time.monotonic() > deadline:
            return None
        time.sleep(poll)


def history(stack: DeployedStack, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    paginator = stack.client("stepfunctions").get_paginator("get_execution_history")
    for page in paginator.paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events


def run_jobs(stack: DeployedStack, since: Any, events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(name, status, secondary status) by DescribeTrainingJob of the jobs the execution history names."""
    sagemaker = stack.client("sagemaker")
    text = orjson.dumps(events, default=str).decode()
    listed = sagemaker.list_training_jobs(CreationTimeAfter=since, MaxResults=100)["TrainingJobSummaries"]
    jobs = []
    for name in sorted({str(job["TrainingJobName"]) for job in listed if job["TrainingJobName"] in text}):
        described = sagemaker.describe_training_job(TrainingJobName=name)
        jobs.append((name, str(described["TrainingJobStatus"]), str(described.get("SecondaryStatus", ""))))
    return jobs


def follow(
    stack: DeployedStack,
    execution_arn: str,
    *,
    timeout: float,
    poll: float,
    on_progress: Callable[[list[dict[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Poll DescribeExecution (and the history, for the live view) until the execution ends."""
    sfn = stack.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if on_progress is not None:
            on_progress(history(stack, execution_arn))
        if described["status"] in TERMINAL:
            return described
        if time.monotonic() > deadline:
            raise DataError(
                f"execution {execution_arn} still {described['status']} after {timeout:.0f}s",
                code="FOLLOW_TIMEOUT",
                hint="it goes on: see `forgeflow runs show` with the execution name",
            )
        time.sleep(poll)


def ledger_row(stack: DeployedStack, execution_arn: str) -> dict[str, Any] | None:
    from forgeflow.aws.ledger import DynamoLedger

    row = DynamoLedger(stack.client("dynamodb"), stack.outputs["RunLedgerTableName"]).find_by_execution(
        execution_arn
    )
    return row.to_item() if row else None


def function_names(stack: DeployedStack) -> dict[str, str]:
    """The stack's Lambda functions: logical id → function name (their log group is /aws/lambda/<name>)."""
    names: dict[str, str] = {}
    paginator = stack.client("cloudformation").get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack.name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::Lambda::Function":
                names[str(resource["LogicalResourceId"])] = str(resource["PhysicalResourceId"])
    return names
