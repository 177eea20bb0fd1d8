"""`forgeflow runs approve RUN` / `forgeflow runs reject RUN --reason TEXT`: answer a run's approval.

A run with `require_approval` (run option, or the stack's RequireApproval) waits after its smoke job at
the state AwaitApproval; `Approval Requested` on the results bus names it. These commands read the task
token from that run's ledger row — never from anywhere else — and send SendTaskSuccess (the full job
starts) or SendTaskFailure `ApprovalRejected` with the reason (the run ends in `Run Failed` at stage
`approval`, no full job). The caller needs the stack's ApproverPolicy (output ApproverPolicyArn).

`--local`: a local run answers its approval while it runs (`forgeflow local run --require-approval
--approve auto|reject|prompt`); saved local runs have ended and wait for nothing.

Exit codes: 0 answered; 2 usage, unknown run, no pending approval, or a token already used or expired.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from forgeflow.errors import InputError

if TYPE_CHECKING:  # the CLI's --help stays light: pydantic models load only to answer
    from forgeflow_tools.approvals import Answered, RunRows, TaskAnswers

DEFAULT_LOCAL_RUNS = Path(".forgeflow") / "runs"
LOCAL_HINT = "forgeflow local run --require-approval --approve auto|reject|prompt answers while the run runs"


def register_commands(commands: Any) -> None:
    """Add `approve` and `reject` to `forgeflow runs`."""
    approve = commands.add_parser("approve", help="let a run waiting for approval start its full job")
    reject = commands.add_parser("reject", help="refuse a run's full job: it fails at stage approval")
    reject.add_argument("--reason", required=True, help="why (sent as the failure's cause, in Run Failed)")
    for command, approves in ((approve, True), (reject, False)):
        command.add_argument("run", help="the run id (Approval Requested names it)")
        source = command.add_argument_group("where the run is")
        source.add_argument("--stack", help="CloudFormation stack name (reads its outputs)")
        source.add_argument("--state-machine-arn", help="the pipeline state machine (instead of --stack)")
        source.add_argument("--table", help="the run ledger table (instead of --stack)")
        source.add_argument("--profile", help="AWS profile")
        source.add_argument("--region", help="AWS region")
        source.add_argument("--local", action="store_true", help="runs saved by `forgeflow local run`")
        source.add_argument(
            "--runs-dir", type=Path, default=DEFAULT_LOCAL_RUNS, help=f"with --local ({DEFAULT_LOCAL_RUNS})"
        )
        command.add_argument("--output", choices=("text", "json"), default="text")
        command.set_defaults(func=approve_command if approves else reject_command)


def approve_command(args: argparse.Namespace) -> int:
    return _answer(args, approve=True, reason=None)


def reject_command(args: argparse.Namespace) -> int:
    return _answer(args, approve=False, reason=args.reason)


def _answer(args: argparse.Namespace, *, approve: bool, reason: str | None) -> int:
    from forgeflow_tools.approvals import answer

    rows, answers, approver = _local(args) if args.local else _deployed(args)
    answered = answer(
        args.run, rows, answers, approve=approve, approver=approver, now=datetime.now(UTC), reason=reason
    )
    print_answered(answered, args.output)
    return 0


def print_answered(answered: Answered, output: str) -> None:
    if output == "json":
        sys.stdout.write(orjson.dumps(answered.__dict__).decode() + "\n")
        return
    what = "approved: its full job starts" if answered.decision == "approved" else "rejected"
    sys.stdout.write(f"run {answered.run_id} {what} (by {answered.approver}, {answered.decided_at})\n")
    if answered.reason:
        sys.stdout.write(f"  reason: {answered.reason}\n")


class _NoLiveRuntime:
    """Saved local runs have ended: nothing can be answered after `forgeflow local run` returned."""

    def succeed(self, token: str, output: str) -> None:
        raise InputError(
            "a saved local run waits for no approval", code="NO_PENDING_APPROVAL", hint=LOCAL_HINT
        )

    def fail(self, token: str, error: str, cause: str) -> None:
        self.succeed(token, cause)


def _local(args: argparse.Namespace) -> tuple[RunRows, TaskAnswers, str]:
    if args.stack or args.state_machine_arn or args.table or args.profile:
        raise InputError("--local reads saved local runs: drop the AWS options", code="USAGE")
    from forgeflow_tools.cli.runs import LocalRuns  # deferred: only for --local

    return LocalRuns(args.runs_dir), _NoLiveRuntime(), "local"


def _deployed(args: argparse.Namespace) -> tuple[RunRows, TaskAnswers, str]:
    import boto3  # deferred: boto3 loads only for a deployed stack

    from forgeflow.aws.approvals import TaskAnswers as StepFunctionsAnswers
    from forgeflow.aws.ledger import DynamoLedger
    from forgeflow.aws.runs import STACK_OUTPUT_STATE_MACHINE, STACK_OUTPUT_TABLE, DeployedRuns

    state_machine_arn, table = args.state_machine_arn, args.table
    if args.stack:
        from forgeflow_tools.deployed import find_stack

        outputs = find_stack(args.stack, profile=args.profile, region=args.region).outputs
        state_machine_arn = state_machine_arn or outputs[STACK_OUTPUT_STATE_MACHINE]
        table = table or outputs[STACK_OUTPUT_TABLE]
    if not state_machine_arn or not table:
        raise InputError(
            "which stack? the state machine and the ledger table are unknown",
            code="USAGE",
            hint="pass --stack NAME, or --state-machine-arn and --table, or --local",
        )
    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    sfn = session.client("stepfunctions")
    rows = DeployedRuns(sfn, DynamoLedger(session.client("dynamodb"), table), state_machine_arn)
    approver = str(session.client("sts").get_caller_identity()["Arn"])
    return rows, StepFunctionsAnswers(sfn), approver
