"""`forgeflow recipe render | limits`: the Nova recipe a run config produces, and the documented limits.

- `recipe render --config run.yaml [--stats validation_report.json]` prints the rendered recipe (YAML) and,
  as a second YAML document, the pre-flight verdict. The config is read as RegisterRun reads a sidecar
  (`forgeflow.pipeline.request.resolve_plan`), so `compute: serverless` gets the serverless pre-flight
  (cost unknown) and the ServerlessJobConfig the job would send. Exit 0: accepted; 1: the recipe or the
  pre-flight refused it; 2: usage or I/O.
- `recipe limits --model M --method T --modality X --context N --epochs N` prints the documented maximum
  record count (exit 0), or names why the combination is unsupported (exit 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import yaml

from forgeflow.errors import DataError, InputError
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.preflight import DEFAULT_MAX_RUN_COST_USD
from forgeflow_tools.cli.output import add_output_argument, emit_json

if TYPE_CHECKING:  # the pipeline's modules are imported when `recipe render` runs, not at CLI start
    from forgeflow.jobs.serverless_preflight import ServerlessVerdict
    from forgeflow.pipeline.request import RunPlan
    from forgeflow.pipeline.settings import PipelineSettings
    from forgeflow.recipes.cost import PriceTable
    from forgeflow.recipes.preflight import PreflightVerdict
    from forgeflow.recipes.render import RenderedRecipe


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "recipe",
        help="render a Nova recipe with pre-flight checks; show documented dataset limits",
        description="Nova training recipes: render one from a run config, or look up dataset limits.",
    )
    commands = parser.add_subparsers(dest="recipe_command", required=True, metavar="SUBCOMMAND")

    render = commands.add_parser(
        "render",
        help="print the recipe and the pre-flight verdict for a run config",
        description="Render the Nova recipe of a run config and run the pre-flight checks (bounds, dataset "
        "limits, long records, cost and budget). Exit 0: accepted; 1: refused; 2: usage or I/O error.",
    )
    render.add_argument("--config", required=True, metavar="run.yaml", help="run config (YAML or JSON)")
    render.add_argument(
        "--stats",
        metavar="validation_report.json",
        help="the validator's JSON report (or its `stats`); without it limits and cost are not checked",
    )
    render.add_argument(
        "--budget", type=float, metavar="USD", help="budget (the lower of this and the config's)"
    )
    render.add_argument(
        "--max-run-cost",
        type=float,
        default=DEFAULT_MAX_RUN_COST_USD,
        metavar="USD",
        help="the stack's MaxRunCostUsd: refuse when instances × max runtime × price exceeds it "
        f"(default {DEFAULT_MAX_RUN_COST_USD:,.0f}, the template's default)",
    )
    render.add_argument("--prices", metavar="prices.yaml", help="price table replacing the shipped one")
    render.add_argument(
        "--region", default="us-east-1", help="region of the price lookup (default us-east-1)"
    )
    _add_serverless_arguments(render)
    add_output_argument(
        render, what='{"recipe", "preflight", "serverless_job_config" (serverless, accepted)}'
    )
    render.set_defaults(func=run_render)
    _register_limits(commands)


def _register_limits(commands: Any) -> None:
    limits = commands.add_parser(
        "limits",
        help="print the documented maximum record count for a combination",
        description="Documented SageMaker dataset limits (stated at 5 epochs). A context between table rows "
        "uses the next larger row; record counts scale by 5 / epochs. Exit 0: a limit (or a time estimate) "
        "is documented; 1: the combination is unsupported or undocumented.",
    )
    limits.add_argument("--model", required=True, choices=[m.value for m in NovaModel])
    limits.add_argument("--method", required=True, choices=[t.value for t in Technique])
    limits.add_argument("--modality", required=True, choices=["text", "multimodal"])
    limits.add_argument("--context", required=True, type=int, metavar="N", help="record length in tokens")
    limits.add_argument(
        "--epochs",
        required=True,
        type=int,
        metavar="N",
        help="training epochs, within the technique's documented range (SFT 1-100, DPO 1-5 on Nova 1)",
    )
    add_output_argument(limits, alias="--json", what="the answer")
    limits.set_defaults(func=run_limits)


def _add_serverless_arguments(render: argparse.ArgumentParser) -> None:
    """The stack parameters a `compute: serverless` run needs (template.yaml), as the pipeline reads them."""
    render.add_argument(
        "--base-model-arn",
        default="",
        metavar="ARN",
        help="the stack's BaseModelArnLite2: the SageMaker AI Hub ARN of Nova 2 Lite (serverless runs)",
    )
    render.add_argument(
        "--model-package-group-arn",
        default="",
        metavar="ARN",
        help="the stack's ModelPackageGroupArn: where a serverless job registers its model",
    )
    render.add_argument(
        "--accept-eula",
        action="store_true",
        help="the stack's AcceptBaseModelEula=true (serverless runs refuse without it)",
    )


def _read_stats(path: str) -> dict[str, Any]:
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as error:
        raise InputError(f"cannot read stats {path}: {error.strerror or error}") from None
    except orjson.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object (a validation report or its stats)")
    stats = data.get("stats", data)
    if not isinstance(stats, dict):
        raise InputError(f"{path}: `stats` is not an object")
    return stats


def _stack_settings(args: argparse.Namespace) -> PipelineSettings:
    """The stack parameters `recipe render` stands in for; the other settings are the template's defaults."""
    from forgeflow.pipeline.settings import PipelineSettings

    if not args.max_run_cost > 0:
        raise InputError(
            f"--max-run-cost must be a positive amount of USD, got {args.max_run_cost}", code="USAGE"
        )
    if args.budget is not None and not args.budget >= 0:
        raise InputError(f"--budget must be a non-negative amount of USD, got {args.budget}", code="USAGE")
    return PipelineSettings(
        region=args.region,
        max_run_cost_usd=args.max_run_cost,
        base_model_arn_lite_2=args.base_model_arn,
        model_package_group_arn=args.model_package_group_arn,
        accept_base_model_eula=args.accept_eula,
    )


def _read_plan(path: str, settings: PipelineSettings) -> RunPlan:
    """The run config read and resolved exactly as RegisterRun reads a sidecar (`-`: stdin)."""
    from forgeflow.pipeline.request import RunOptions, parse_options, resolve_plan

    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read run config {path}: {error.strerror or error}") from None
    return resolve_plan(parse_options(data, path), RunOptions(), settings)


def _read_prices(path: str | None) -> PriceTable | None:
    from forgeflow.recipes.cost import PriceTable

    if not path:
        return None
    try:
        return PriceTable.from_mapping(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
    except OSError as error:
        raise InputError(f"cannot read prices {path}: {error.strerror or error}") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path}: not a price table ({error})") from None


def run_render(args: argparse.Namespace) -> int:
    from forgeflow.mixing.forge import Compute
    from forgeflow.nova import Method
    from forgeflow.recipes.config import TrainingDefaults, training_config_for_run
    from forgeflow.recipes.render import render_recipe

    settings = _stack_settings(args)
    plan = _read_plan(args.config, settings)
    stats = _read_stats(args.stats) if args.stats else None
    prices = _read_prices(args.prices)
    detected = stats.get("method") if stats else None
    # RenderRecipe's translation, with the stack's default settings and the dataset's detected method.
    defaults = TrainingDefaults(
        model=settings.default_model,
        technique=settings.default_technique,
        instance_type=settings.training_instance_type,
        detected=Method(detected) if detected in set(Method) else None,
    )
    config = training_config_for_run(plan.run_config(), defaults, source=args.config)
    rendered = render_recipe(config)
    verdict: PreflightVerdict | ServerlessVerdict
    if plan.compute is Compute.SERVERLESS:
        verdict, extra = _serverless_verdict(rendered, stats, plan, settings, args.budget)
    else:
        verdict, extra = _verdict(rendered, stats, args, prices), {}
    for warning in verdict.warnings:
        print(f"warning [{warning.code}]: {warning.message}", file=sys.stderr)
    if args.output == "json":
        emit_json({"recipe": rendered.recipe, "preflight": verdict.to_dict(), **extra})
        print(verdict.summary(), file=sys.stderr)
        return 0 if verdict.ok else 1
    out = sys.stdout
    out.write(f"# Nova recipe ({rendered.hpr_recipe}, {config.model.value} {config.technique.value})\n")
    out.write(rendered.to_yaml())
    out.write("---\n# pre-flight verdict\n")
    out.write(yaml.safe_dump({"preflight": verdict.to_dict(), **extra}, sort_keys=False, allow_unicode=True))
    print(verdict.summary(), file=sys.stderr)
    return 0 if verdict.ok else 1


def _verdict(
    rendered: RenderedRecipe, stats: dict[str, Any] | None, args: argparse.Namespace, prices: Any
) -> PreflightVerdict:
    from forgeflow.recipes.preflight import preflight

    return preflight(
        rendered,
        stats,
        budget_usd=args.budget,
        prices=prices,
        region=args.region,
        max_run_cost_usd=args.max_run_cost,
    )


def _serverless_verdict(
    rendered: RenderedRecipe,
    stats: dict[str, Any] | None,
    plan: RunPlan,
    settings: PipelineSettings,
    budget_usd: float | None,
) -> tuple[ServerlessVerdict, dict[str, Any]]:
    """RenderRecipe's serverless pre-flight and, when it passes, the ServerlessJobConfig the full job sends
    (a serverless job takes its settings from there, not from the recipe, which is kept for the record)."""
    from forgeflow.jobs.serverless import serverless_job_config
    from forgeflow.jobs.serverless_preflight import serverless_preflight
    from forgeflow.pipeline.steps.recipe import max_runtime, serverless_settings

    serverless = serverless_settings(settings)
    verdict = serverless_preflight(
        rendered,
        stats,
        serverless,
        smoke_only=plan.smoke_only,
        budget_usd=budget_usd,
        poll_seconds=plan.poll_seconds,
        max_runtime_seconds=max_runtime(plan),
        max_polls=settings.serverless_max_polls,
    )
    if not verdict.ok:
        return verdict, {}
    return verdict, {"serverless_job_config": serverless_job_config(rendered, serverless)}


def run_limits(args: argparse.Namespace) -> int:
    from forgeflow.recipes.limits import lookup_limit

    model, technique = NovaModel(args.model), Technique(args.method)
    check_epochs(model, technique, args.epochs)
    if args.context < 1:
        raise InputError(f"--context must be a positive token count, got {args.context}", code="USAGE")
    answer = lookup_limit(model, technique, args.modality, args.context, args.epochs)
    if args.output == "json":
        emit_json(answer.to_dict())
    else:
        if answer.is_record_limit:
            print(answer.value)
        print(answer.describe(), file=sys.stdout if not answer.is_record_limit else sys.stderr)
        print(f'source row: "{answer.row.quote}"', file=sys.stderr)
    return 0


def check_epochs(model: NovaModel, technique: Technique, epochs: int) -> None:
    """--epochs within the documented `max_epochs` range of the technique (data/bounds.yaml), else USAGE."""
    from forgeflow.recipes.bounds import Bound, Context, effective_bounds
    from forgeflow.recipes.config import TrainingConfig

    # The epoch rules select on model and technique only; the default instance type stands for any.
    context = Context(model, technique, TrainingConfig.model_fields["instance_type"].default)
    bound = effective_bounds(context).get(
        "training_config.trainer.max_epochs", Bound("max_epochs", minimum=1)
    )
    if bound.minimum is None:
        bound.minimum = 1
    if not bound.admits(epochs, {}):
        sources = "; ".join(bound.sources) or "an epoch count is at least 1"
        raise InputError(
            f"--epochs {epochs} is outside {bound.describe()} for {context.describe().rsplit(' on ', 1)[0]}",
            code="USAGE",
            hint=f"use an epoch count in that range; source: {sources}",
        )
