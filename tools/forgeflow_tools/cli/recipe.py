"""`forgeflow recipe render | limits`: the Nova recipe a run config produces, and the documented limits.

- `recipe render --config run.yaml [--stats validation_report.json]` prints the rendered recipe (YAML) and,
  as a second YAML document, the pre-flight verdict. Exit 0: accepted; 1: the recipe or the pre-flight
  refused it; 2: usage or I/O.
- `recipe limits --model M --method T --modality X --context N --epochs N` prints the documented maximum
  record count (exit 0), or names why the combination is unsupported (exit 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
import yaml

from forgeflow.errors import DataError, InputError
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.preflight import DEFAULT_MAX_RUN_COST_USD
from forgeflow_tools.cli.output import add_output_argument, emit_json


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
    add_output_argument(render, what='{"recipe", "preflight"}')
    render.set_defaults(func=run_render)

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


def run_render(args: argparse.Namespace) -> int:
    from forgeflow.nova import Method
    from forgeflow.recipes.config import TrainingDefaults, load_run_config, training_config_for_run
    from forgeflow.recipes.cost import PriceTable
    from forgeflow.recipes.preflight import preflight
    from forgeflow.recipes.render import render_recipe

    if not args.max_run_cost > 0:
        raise InputError(
            f"--max-run-cost must be a positive amount of USD, got {args.max_run_cost}", code="USAGE"
        )
    if args.budget is not None and not args.budget >= 0:
        raise InputError(f"--budget must be a non-negative amount of USD, got {args.budget}", code="USAGE")
    stats = _read_stats(args.stats) if args.stats else None
    detected = stats.get("method") if stats else None
    # The pipeline's translation, with the stack's default settings and the dataset's detected method.
    defaults = TrainingDefaults(detected=Method(detected) if detected in set(Method) else None)
    config = training_config_for_run(load_run_config(args.config), defaults, source=args.config)
    prices = None
    if args.prices:
        try:
            prices = PriceTable.from_mapping(yaml.safe_load(Path(args.prices).read_text(encoding="utf-8")))
        except OSError as error:
            raise InputError(f"cannot read prices {args.prices}: {error.strerror or error}") from None
        except (yaml.YAMLError, KeyError, TypeError, ValueError) as error:
            raise DataError(f"{args.prices}: not a price table ({error})") from None
    rendered = render_recipe(config)
    verdict = preflight(
        rendered,
        stats,
        budget_usd=args.budget,
        prices=prices,
        region=args.region,
        max_run_cost_usd=args.max_run_cost,
    )
    for warning in verdict.warnings:
        print(f"warning [{warning.code}]: {warning.message}", file=sys.stderr)
    if args.output == "json":
        emit_json({"recipe": rendered.recipe, "preflight": verdict.to_dict()})
        print(verdict.summary(), file=sys.stderr)
        return 0 if verdict.ok else 1
    out = sys.stdout
    out.write(f"# Nova recipe ({rendered.hpr_recipe}, {config.model.value} {config.technique.value})\n")
    out.write(rendered.to_yaml())
    out.write("---\n# pre-flight verdict\n")
    out.write(yaml.safe_dump({"preflight": verdict.to_dict()}, sort_keys=False, allow_unicode=True))
    print(verdict.summary(), file=sys.stderr)
    return 0 if verdict.ok else 1


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
