"""`forgeflow local run`: the whole pipeline on the embedded local AWS (moto, in-process).

The stack is created from `template.yaml`, the dataset is dropped into the emulated bucket under the
incoming prefix (its `--config` as the `<name>.forgeflow.yaml` sidecar), and the execution it starts is
followed state by state on stderr. At the end the results-bus events are printed and the run's outputs
are copied to `<outputs-dir>/<run_id>/`.

Exit codes: 0 the execution succeeded, 1 it failed (or timed out / was aborted), 2 usage or I/O error.
With `--output json`, stdout holds exactly one JSON object:
`{"execution_arn", "status", "events", "outputs_dir"}`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forgeflow.errors import InputError

STAGES = ("smoke", "train", "eval")
APPROVE_MODES = ("auto", "reject", "prompt")
DEFAULT_OUTPUTS = Path(".forgeflow") / "runs"


def register(subparsers: Any) -> None:
    local = subparsers.add_parser(
        "local",
        help="run the pipeline on the embedded local AWS (moto)",
        description="Run the whole application offline: AWS is emulated in-process by moto, SageMaker "
        "jobs by an emulator that trains nothing.",
    )
    commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="drop a dataset into the emulated bucket and follow the execution",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_input_arguments(run)
    run.add_argument("--output", choices=("text", "json"), default="text", help="text (default) or json")
    _add_failure_arguments(run)
    _add_approval_arguments(run)
    _add_stack_arguments(run)
    run.set_defaults(func=run_command)


def _add_input_arguments(run: argparse.ArgumentParser) -> None:
    """What is dropped into the emulated bucket: the dataset, its sidecar, curated sources."""
    run.add_argument("dataset", nargs="?", type=Path, help="the Converse JSONL dataset to fine-tune on")
    run.add_argument("--config", type=Path, help="run options YAML, uploaded as the dataset's sidecar")
    run.add_argument(
        "--example", action="store_true", help="use the shipped example: the customer-support SFT set"
    )
    curated = run.add_mutually_exclusive_group()
    curated.add_argument(
        "--curated",
        type=Path,
        action="append",
        default=[],
        metavar="FILE_OR_DIR",
        help="curated JSONL (a file, or every .jsonl in a folder; repeatable) uploaded under the curated "
        "prefix instead of the shipped general-purpose sets; each goes under sft/ or dpo/ by its records",
    )
    curated.add_argument(
        "--no-curated",
        action="store_true",
        help="upload no curated data: the run trains on the dataset alone (unmixed)",
    )


def _add_failure_arguments(run: argparse.ArgumentParser) -> None:
    """Failure injection into the emulated SageMaker (`FailureInjection`), to see the failure paths."""
    run.add_argument(
        "--fail",
        choices=STAGES,
        action="append",
        default=[],
        help="failure injection: the emulated SageMaker job of this stage fails (repeatable)",
    )
    run.add_argument(
        "--capacity-error",
        action="append",
        default=[],
        metavar="STAGE[:N]",
        help=f"failure injection: the first N (default 1) jobs of STAGE ({', '.join(STAGES)}) fail while "
        "Starting with a CapacityError (repeatable)",
    )
    run.add_argument(
        "--lambda-timeout",
        action="append",
        default=[],
        metavar="FUNCTION[:N]",
        help="failure injection: the first N (default 1) invocations of FUNCTION (a logical id such as "
        "BuildTrainingJobFunction; the Function suffix may be left off) time out, as Lambda does",
    )
    run.add_argument(
        "--abort-after",
        metavar="STATE",
        help="failure injection: abort (StopExecution) the execution when it enters STATE",
    )
    run.add_argument("--throttle", type=int, default=0, help="throttle the first N CreateTrainingJob calls")
    run.add_argument(
        "--limit-exceeded",
        type=int,
        default=0,
        help="answer the next N CreateTrainingJob calls with ResourceLimitExceeded",
    )


def _add_approval_arguments(run: argparse.ArgumentParser) -> None:
    """Approval before the full job (run option `require_approval`), answered here while the run runs."""
    run.add_argument(
        "--require-approval",
        action="store_true",
        help="the run waits after its smoke job for an approval before the full job (run option "
        "require_approval; without it the config's, else the stack's RequireApproval)",
    )
    run.add_argument(
        "--approve",
        choices=APPROVE_MODES,
        help="how the emulated approver answers: auto approves, reject rejects, prompt asks on the "
        "terminal y/N (default when approval is required: prompt)",
    )


def _approve_mode(args: argparse.Namespace, overrides: dict[str, str]) -> str | None:
    """The approver's mode when the run will ask for approval (None when it will not); usage errors first,
    before any stack exists."""
    import yaml

    from forgeflow.pipeline.request import approval_required
    from forgeflow.pipeline.settings import PipelineSettings

    option: bool | None = True if args.require_approval else None
    if option is None and args.config is not None and args.config.is_file():
        with contextlib.suppress(yaml.YAMLError):
            document = yaml.safe_load(args.config.read_bytes())
            if isinstance(document, dict) and isinstance(document.get("require_approval"), bool):
                option = document["require_approval"]
    stack = PipelineSettings(require_approval=overrides.get("RequireApproval", "false") == "true")
    if not approval_required(option, stack):
        if args.approve is not None:
            raise InputError(
                f"--approve {args.approve}: this run asks for no approval",
                code="USAGE",
                hint="add --require-approval",
            )
        return None
    mode = str(args.approve or "prompt")
    if mode == "prompt" and not sys.stdin.isatty():
        raise InputError(
            "--approve prompt asks on the terminal, but stdin is not a terminal",
            code="USAGE",
            hint="answer without asking: --approve auto or --approve reject",
        )
    return mode


def _ask_on_terminal(detail: dict[str, Any]) -> bool:
    """`--approve prompt`: show what the approver judges and read y/N from the terminal."""
    smoke = detail.get("smoke", {})
    cost = detail.get("estimated_cost_usd")
    sys.stderr.write(
        f"\napproval requested for run {detail.get('run_id')}: smoke job {smoke.get('job_name')} "
        f"{smoke.get('status')}, estimated cost {'unknown' if cost is None else f'{cost:,.2f} USD'}\n"
    )
    reply = input("approve the full training job? [y/N] ")
    return reply.strip().lower() in {"y", "yes"}


def _add_stack_arguments(run: argparse.ArgumentParser) -> None:
    """How the stack is created, where the run is saved, how long to wait for it."""
    run.add_argument(
        "--parameter",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter override, as `sam deploy --parameter-overrides` (repeatable)",
    )
    run.add_argument("--template", type=Path, help="the SAM template (default: ./template.yaml)")
    run.add_argument(
        "--outputs-dir", type=Path, default=DEFAULT_OUTPUTS, help=f"where runs are saved ({DEFAULT_OUTPUTS})"
    )
    run.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")


def _fault_injection(args: argparse.Namespace, template: Path) -> dict[str, Any]:
    """The LocalRuntime options the failure-injection flags ask for."""
    from forgeflow_tools.local.sagemaker import FailureInjection

    failures = FailureInjection(
        fail_stages=frozenset(args.fail),
        capacity_errors=_counts(args.capacity_error, "--capacity-error", STAGES),
        throttle_creates=args.throttle,
        limit_creates=args.limit_exceeded,
    )
    return {
        "failures": failures,
        "lambda_timeouts": _function_counts(args.lambda_timeout, template),
        "abort_after": args.abort_after,
    }


def _counts(values: list[str], flag: str, allowed: Sequence[str]) -> dict[str, int]:
    """`NAME[:N]` values → {name: N} (N ≥ 1, default 1); a name outside `allowed` is a usage error."""
    counts: dict[str, int] = {}
    for value in values:
        name, _, count = value.partition(":")
        if name not in allowed:
            raise InputError(f"{flag} {value!r}: {name!r} is not one of {', '.join(allowed)}", code="USAGE")
        if count and (not count.isdigit() or int(count) < 1):
            raise InputError(f"{flag} {value!r}: N must be a whole number ≥ 1", code="USAGE")
        counts[name] = counts.get(name, 0) + (int(count) if count else 1)
    return counts


def _function_counts(values: list[str], template_path: Path) -> dict[str, int]:
    """`--lambda-timeout` values → {logical id: N}, checked against the template's functions."""
    if not values:
        return {}
    from forgeflow_tools.local.template import load_template

    functions = [
        logical_id
        for logical_id, resource in load_template(template_path, {}).resources.items()
        if resource.type in {"AWS::Serverless::Function", "AWS::Lambda::Function"}
    ]
    aliases = {name.removesuffix("Function"): name for name in functions} | {name: name for name in functions}
    named = []
    for value in values:
        name, colon, count = value.partition(":")
        named.append(f"{aliases.get(name, name)}{colon}{count}")
    return _counts(named, "--lambda-timeout", functions)


def _overrides(pairs: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise InputError(
                f"--parameter {pair!r} is not KEY=VALUE", code="USAGE", hint="e.g. -p PollSeconds=0"
            )
        parsed[key] = value
    return parsed


def _dataset(args: argparse.Namespace, scratch: Path) -> Path:
    """The dataset to drop: the user's, or the shipped example (and `--config` must be a file)."""
    if args.config is not None and not args.config.is_file():
        what = "is a folder" if args.config.is_dir() else "does not exist"
        raise InputError(f"--config {args.config} {what}", code="NOT_FOUND", hint="name a run.yaml file")
    if args.example:
        if args.dataset is not None:
            raise InputError("give either DATASET or --example, not both", code="USAGE")
        from forgeflow_tools.examples import write_examples

        return write_examples(scratch / "examples")["support"]
    if args.dataset is None:
        raise InputError("name a DATASET (a .jsonl file) or use --example", code="USAGE")
    if not args.dataset.is_file():
        what = "is a folder" if args.dataset.is_dir() else "does not exist"
        raise InputError(f"{args.dataset} {what}", code="NOT_FOUND", hint="name a .jsonl file")
    if args.dataset.suffix != ".jsonl":
        raise InputError(
            f"{args.dataset} must end in .jsonl: only those start a run", code="USAGE", hint="rename the file"
        )
    dataset: Path = args.dataset
    return dataset


def run_command(args: argparse.Namespace) -> int:
    from forgeflow_tools.local.curated import curated_files, describe_curated, run_sidecar
    from forgeflow_tools.local.runtime import LocalRuntime, find_template

    template = args.template or find_template()
    overrides = _overrides(args.parameter)
    approve_mode = _approve_mode(args, overrides)
    text = args.output == "text"
    err = sys.stderr
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="forgeflow-local-") as scratch:
        dataset = _dataset(args, Path(scratch))
        curated = curated_files(args, Path(scratch))
        if text:
            err.write(
                f"forgeflow local: creating the stack from {template} (AWS emulated in-process by moto)\n"
            )
        with LocalRuntime(
            template, parameter_overrides=overrides, **_fault_injection(args, template)
        ) as runtime:
            for method, path in curated:
                runtime.put_object(f"{runtime.curated_prefix}{method}/{path.name}", path.read_bytes())
            if text:
                err.write(f"  {describe_curated(args, curated, runtime.curated_prefix)}\n")
            sidecar = run_sidecar(
                args.config, unmixed=args.no_curated, require_approval=args.require_approval
            )
            uri = runtime.drop_dataset(dataset, sidecar=sidecar)
            executions = runtime.wait_for_executions(1, timeout=30)
            if not executions:
                raise InputError(
                    f"dropping {uri} started no execution",
                    code="NO_EXECUTION",
                    hint="the key must match the DatasetUploadedRule pattern of the template",
                )
            arn = str(executions[0]["executionArn"])
            if text:
                err.write(f"  dropped {uri}\n  execution {arn.rsplit(':', 1)[-1]}\n")
            outcome = _follow(runtime, arn, args.timeout, approve_mode, text)
            outputs = runtime.save_run(arn, outcome.run_id, (args.outputs_dir / outcome.run_id).resolve())
    described, events, status = outcome.execution, outcome.events, outcome.status
    if text:
        _print_text(described, events, outputs, time.monotonic() - started)
    else:
        import orjson

        document = {"execution_arn": arn, "status": status, "events": events, "outputs_dir": str(outputs)}
        sys.stdout.write(orjson.dumps(document).decode() + "\n")
    return 0 if status == "SUCCEEDED" else 1


def _follow(runtime: Any, arn: str, timeout: float, approve_mode: str | None, text: bool) -> Any:
    """Wait for the execution (progress on stderr in text mode), answering its approval if it asks."""
    err = sys.stderr
    view = None
    if text:
        from forgeflow_tools.local.progress import ProgressView

        view = ProgressView(
            err, jobs=lambda: [(job.name, job.status, job.secondary) for job in runtime.emulator.jobs()]
        )
    approver = _approver(runtime, arn, approve_mode)
    outcome = runtime.outcome(
        arn,
        timeout=timeout,
        on_progress=view.update if view else None,
        on_tick=approver.poll if approver else None,
    )
    if text and approver is not None and approver.answered is not None:
        answered = approver.answered
        err.write(f"  approval: {answered.decision} by {answered.approver}\n")
    return outcome


def _approver(runtime: Any, arn: str, mode: str | None) -> Any:
    """The emulated approver of `--approve` (None when the run asks for no approval)."""
    if mode is None:
        return None
    from forgeflow_tools.local.approval import LocalApprover

    return LocalApprover(runtime, arn, mode, ask=_ask_on_terminal if mode == "prompt" else None)  # type: ignore[arg-type]


def _print_text(described: dict[str, Any], events: list[dict[str, Any]], outputs: Path, took: float) -> None:
    import orjson

    status = str(described["status"])
    out = sys.stdout
    out.write(f"\nexecution {status} in {took:.1f}s")
    if described.get("error"):
        out.write(f" — {described['error']}")
    out.write("\n")
    final = events[-1] if events else None
    if final is not None:
        out.write(f"\nresults event ({final['detail-type']}):\n")
        out.write(orjson.dumps(final, option=orjson.OPT_INDENT_2).decode() + "\n")
        out.write(
            "(emulated: AWS ran in-process on moto, no SageMaker job trained anything; gen_qa scores "
            "measure a local retrieval stand-in, not a Nova model; MMLU is not measured offline)\n"
        )
    out.write(f"\noutputs written to {outputs}\n")
    out.write("  (S3 objects under s3/, execution history and events in run.json, function logs in logs/)\n")
