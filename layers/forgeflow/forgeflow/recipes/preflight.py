"""Pre-flight: everything that can be refused from the recipe and the dataset statistics, before any job.

Input: a rendered recipe and the validator's `stats` (ValidationReport.to_dict()["stats"]: `records`,
`method`, `modality`, `est_tokens` {total, mean, max}, `longest_record` {line, est_tokens}, `tokens_over`
{context: count}). Checks: the dataset's method and modality fit the recipe; records longer than
`max_length` (count, worst line); the documented dataset limit (limits.py); the cost and time estimate
(cost.py) against the budget. The verdict's `to_dict()` goes into the run report and events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NotRequired, TypedDict

from forgeflow.errors import DataError
from forgeflow.recipes.config import DEFAULT_MAX_RUNTIME_SECONDS, MAX_RUNTIME_LIMIT_SECONDS, SMOKE_STEPS
from forgeflow.recipes.cost import (
    CostEstimate,
    JobCost,
    JobSizing,
    Price,
    PriceTable,
    SmokeCost,
    Throughput,
    assumed_throughput,
    job_hours,
    overhead_hours,
)
from forgeflow.recipes.limits import LimitAnswer, Modality, lookup_limit
from forgeflow.recipes.render import RenderedRecipe
from forgeflow.wording import plural

# The hard cap per run when the caller names none: template.yaml's MaxRunCostUsd default (a test ties them),
# so `forgeflow recipe render` and a default stack refuse the same configs.
DEFAULT_MAX_RUN_COST_USD = 10_000.0


@dataclass(frozen=True)
class PreflightProblem:
    """A refusal (in `problems`) or a caveat (in `warnings`), with a stable code."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class RecipeSummary(TypedDict):
    """The `recipe` section of the verdict: what was checked, and the epochs the job effectively trains."""

    model: str
    technique: str
    hpr_recipe: str
    instance_type: str
    replicas: int
    max_length: int
    global_batch_size: int
    max_epochs: NotRequired[int]
    max_steps: NotRequired[int]
    epochs_effective: NotRequired[float]


@dataclass
class PreflightVerdict:
    """What the pre-flight found; `to_dict()` is preflight.json (and the run report's pre-flight section)."""

    recipe: RecipeSummary
    problems: list[PreflightProblem] = field(default_factory=list)
    warnings: list[PreflightProblem] = field(default_factory=list)
    estimate: CostEstimate = field(default_factory=CostEstimate)
    limits: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            usd = self.estimate.total_usd
            cost = f", estimated {usd:.2f} USD" if usd is not None else ""
            return f"pre-flight passed{cost}"
        return "pre-flight refused: " + "; ".join(p.message for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_dict() for w in self.warnings],
            "estimate": self.estimate.to_dict(),
            "limits": self.limits,
            "recipe": self.recipe,
        }


def _number(stats: Mapping[str, Any], *path: str) -> float | None:
    node: Any = stats
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    return float(node)


def _recipe_summary(rendered: RenderedRecipe) -> RecipeSummary:
    summary: RecipeSummary = {
        "model": rendered.model.value,
        "technique": rendered.technique.value,
        "hpr_recipe": rendered.hpr_recipe,
        "instance_type": rendered.instance_type,
        "replicas": rendered.replicas,
        "max_length": rendered.max_length,
        "global_batch_size": rendered.global_batch_size,
    }
    if rendered.max_epochs is not None:
        summary["max_epochs"] = rendered.max_epochs
    if rendered.max_steps is not None:
        summary["max_steps"] = rendered.max_steps
    return summary


def _epochs(rendered: RenderedRecipe, records: float) -> float:
    """Passes over the data: Nova 1.0 says it; Nova 2.0 trains max_steps × global_batch_size records."""
    if rendered.max_epochs is not None:
        return float(rendered.max_epochs)
    steps = rendered.max_steps or 0
    return steps * rendered.global_batch_size / records


def _check_dataset_kind(
    rendered: RenderedRecipe, stats: Mapping[str, Any], verdict: PreflightVerdict
) -> None:
    method = stats.get("method")
    if method in ("sft", "dpo") and method != rendered.technique.method.value:
        verdict.problems.append(
            PreflightProblem(
                "METHOD_MISMATCH",
                f"the dataset is {str(method).upper()} but the recipe is {rendered.technique.value}: "
                f"choose a {method!s}-* technique or another dataset",
            )
        )
    if stats.get("modality") == "multimodal" and rendered.model.text_only:
        verdict.problems.append(
            PreflightProblem(
                "MODALITY_UNSUPPORTED",
                f"the dataset has images, videos or documents but Nova {rendered.model.value} is text only",
            )
        )


def _check_long_records(
    rendered: RenderedRecipe, stats: Mapping[str, Any], verdict: PreflightVerdict
) -> None:
    max_length = rendered.max_length
    longest = _number(stats, "est_tokens", "max")
    if longest is None or longest <= max_length:
        return
    over: Mapping[str, Any] = stats.get("tokens_over") or {}
    exact = _number(over, str(max_length))
    one = False
    if exact is not None:
        count, one = plural(int(exact), "record"), int(exact) == 1
    else:
        # tokens_over is counted at fixed context lengths: the nearest one below max_length bounds the count.
        below = [int(k) for k in over if str(k).isdigit() and int(k) <= max_length]
        bound = _number(over, str(max(below))) if below else None
        count = f"at most {plural(int(bound), 'record')}" if bound is not None else "some records"
        one = bound == 1
    line = _number(stats, "longest_record", "line")
    where = f"; the longest is line {int(line)} with ~{int(longest)} tokens" if line is not None else ""
    message = (
        f"{count} {'exceeds' if one else 'exceed'} max_length {max_length} (estimated tokens){where}: raise "
        f"training_config.max_length or drop/shorten those records"
    )
    problem = PreflightProblem("RECORDS_TOO_LONG", message)
    if rendered.config.allow_truncation:
        verdict.warnings.append(PreflightProblem("RECORDS_TOO_LONG", message + " (allow_truncation is set)"))
    else:
        verdict.problems.append(problem)


def _check_limits(
    rendered: RenderedRecipe, stats: Mapping[str, Any], records: float, verdict: PreflightVerdict
) -> None:
    modality = _modality(stats)
    longest = _number(stats, "est_tokens", "max")
    context = rendered.max_length if longest is None else max(1, min(int(longest), rendered.max_length))
    epochs = _epochs(rendered, records)
    try:
        answer: LimitAnswer = lookup_limit(rendered.model, rendered.technique, modality, context, epochs)
    except DataError as error:
        if error.code == "LIMITS_UNDOCUMENTED":
            verdict.warnings.append(PreflightProblem(error.code, error.message))
        else:
            verdict.problems.append(PreflightProblem("DATASET_LIMIT", error.message))
        return
    verdict.limits = {"context": context, **answer.to_dict()}
    if not answer.is_record_limit:
        verdict.warnings.append(PreflightProblem("TIME_ESTIMATE", answer.describe()))
        return
    if records > answer.value:
        verdict.problems.append(
            PreflightProblem(
                "DATASET_LIMIT",
                f"{int(records)} records exceed the documented limit: {answer.describe()}; "
                f'the row says: "{answer.row.quote}" — reduce records, epochs or max_length',
            )
        )


def _modality(stats: Mapping[str, Any]) -> Modality:
    return "multimodal" if stats.get("modality") == "multimodal" else "text"


@dataclass(frozen=True)
class _Tokens:
    """Tokens the jobs train on, unrounded: the hours come from these, the report shows them truncated."""

    per_epoch: float
    train: float
    smoke: float


def _tokens(rendered: RenderedRecipe, stats: Mapping[str, Any], records: float) -> _Tokens:
    mean = _number(stats, "est_tokens", "mean")
    total = _number(stats, "est_tokens", "total") or 0.0
    # records × mean, not `total`: the caller may pass the mixed data's record count with the customer
    # dataset's token statistics, and the job trains on the mix.
    mean_tokens = mean if mean is not None else total / records
    per_epoch = mean_tokens * records
    if rendered.max_steps is not None:
        train = rendered.max_steps * rendered.global_batch_size * mean_tokens
    else:
        train = per_epoch * _epochs(rendered, records)
    return _Tokens(per_epoch, train, SMOKE_STEPS * rendered.global_batch_size * mean_tokens)


def _max_runtime(rendered: RenderedRecipe) -> int:
    return rendered.config.max_runtime_seconds or DEFAULT_MAX_RUNTIME_SECONDS


def _sizing(rendered: RenderedRecipe, records: float, tokens: _Tokens, region: str) -> JobSizing:
    return JobSizing(
        region=region,
        instance_type=rendered.instance_type,
        instances=rendered.replicas,
        records=int(records),
        epochs=round(_epochs(rendered, records), 4),
        tokens_per_epoch=int(tokens.per_epoch),
        tokens_total=int(tokens.train),
        overhead_hours_per_job=overhead_hours(),
        max_runtime_seconds=_max_runtime(rendered),
    )


def _throughput(rendered: RenderedRecipe, stats: Mapping[str, Any]) -> Throughput | None:
    """The run config's throughput, else the documented assumption; None when neither exists."""
    override = rendered.config.throughput_tokens_per_second
    if override is not None:
        return Throughput(override, "run config override")
    return assumed_throughput(rendered.model, rendered.technique, _modality(stats), rendered.instance_type)


def _missing_rates(
    rendered: RenderedRecipe, region: str, throughput: Throughput | None, price: Price | None
) -> list[str]:
    missing = []
    if throughput is None:
        missing.append(
            f"no throughput assumption for {rendered.instance_type} (set throughput_tokens_per_second)"
        )
    if price is None:
        missing.append(f"no price for {rendered.instance_type} in {region} (set prices in the run config)")
    return missing


@dataclass(frozen=True)
class _Priced:
    """The jobs' hours and USD, unrounded: the checks and their messages use these."""

    hours: float
    usd: float
    smoke_hours: float
    smoke_usd: float

    @property
    def total_usd(self) -> float:
        return self.usd + self.smoke_usd


def _price_jobs(tokens: _Tokens, throughput: Throughput, price: Price, instances: int) -> _Priced:
    per_instance = throughput.tokens_per_second_per_instance
    hours = job_hours(tokens.train, per_instance, instances)
    smoke_hours = job_hours(tokens.smoke, per_instance, instances)
    return _Priced(
        hours=hours,
        usd=instances * hours * price.usd_per_hour,
        smoke_hours=smoke_hours,
        smoke_usd=instances * smoke_hours * price.usd_per_hour,
    )


def _job_cost(throughput: Throughput | None, price: Price | None, priced: _Priced | None) -> JobCost:
    per_instance = throughput.tokens_per_second_per_instance if throughput else None
    rates = JobCost(
        throughput_tokens_per_second_per_instance=round(per_instance, 1) if per_instance else None,
        throughput_source=throughput.source if throughput else "no documented basis",
        price_per_instance_hour=price.usd_per_hour if price else None,
        price_source=price.source if price else None,
    )
    if priced is None:
        return rates
    smoke = SmokeCost(hours=round(priced.smoke_hours, 3), usd=round(priced.smoke_usd, 2))
    return replace(rates, hours=round(priced.hours, 3), usd=round(priced.usd, 2), smoke=smoke)


def _check_runtime(rendered: RenderedRecipe, priced: _Priced, verdict: PreflightVerdict) -> None:
    runtime = _max_runtime(rendered)
    if priced.hours * 3600 > runtime:
        verdict.problems.append(
            PreflightProblem(
                "RUNTIME_TOO_SHORT",
                f"the training job is estimated at {priced.hours:.1f} h but its stopping condition is "
                f"{runtime / 3600:g} h: SageMaker would stop it unfinished; raise max_runtime_seconds "
                f"(at most {MAX_RUNTIME_LIMIT_SECONDS} = 28 days), add replicas, or reduce records or epochs",
            )
        )


def _check_budget(
    rendered: RenderedRecipe,
    priced: _Priced,
    price: Price,
    budget_usd: float | None,
    verdict: PreflightVerdict,
) -> None:
    total = priced.total_usd
    if budget_usd is not None and total > budget_usd:
        verdict.problems.append(
            PreflightProblem(
                "OVER_BUDGET",
                f"estimated cost {total:.2f} USD ({rendered.replicas} × {rendered.instance_type} × "
                f"{priced.hours:.2f} h × {price.usd_per_hour:g} USD/h, plus the smoke job "
                f"{priced.smoke_usd:.2f} USD) exceeds the budget of {budget_usd:.2f} USD: raise "
                f"budget_usd, or reduce records, epochs or replicas",
            )
        )


def _estimate(
    rendered: RenderedRecipe,
    stats: Mapping[str, Any],
    records: float,
    *,
    budget_usd: float | None,
    prices: PriceTable,
    region: str,
    verdict: PreflightVerdict,
) -> None:
    """Size and price the smoke and training jobs; refuse what the stopping condition or budget cannot fit."""
    tokens = _tokens(rendered, stats, records)
    estimate = CostEstimate(
        attempted=True, budget_usd=budget_usd, sizing=_sizing(rendered, records, tokens, region)
    )
    throughput = _throughput(rendered, stats)
    price, note = prices.with_overrides(rendered.config.prices).lookup(rendered.instance_type, region)
    if note:
        verdict.warnings.append(PreflightProblem("PRICE_REGION_FALLBACK", note))
    if throughput is None or price is None:
        verdict.estimate = replace(estimate, cost=_job_cost(throughput, price, None))
        # Without a budget nothing depends on the figure: a caveat; with one it cannot be checked: refused.
        target = verdict.problems if budget_usd is not None else verdict.warnings
        missing = _missing_rates(rendered, region, throughput, price)
        target.extend(PreflightProblem("ESTIMATE_UNAVAILABLE", m) for m in missing)
        return
    priced = _price_jobs(tokens, throughput, price, rendered.replicas)
    verdict.estimate = replace(
        estimate, cost=_job_cost(throughput, price, priced), total_usd=round(priced.total_usd, 2)
    )
    _check_runtime(rendered, priced, verdict)
    _check_budget(rendered, priced, price, budget_usd, verdict)


def worst_case_problem(
    rendered: RenderedRecipe, max_run_cost_usd: float, prices: PriceTable, region: str
) -> PreflightProblem | None:
    """Refuse a job whose worst case (instances × stopping condition × price) exceeds the hard cap.

    Unlike the budget, this needs no estimate: it bounds what SageMaker can bill before it stops the job,
    whatever the throughput turns out to be. Prices are the stack's table, never the run config's.
    """
    price, _ = prices.lookup(rendered.instance_type, region)
    hours = _max_runtime(rendered) / 3600
    if price is None:
        return PreflightProblem(
            "RUN_COST_UNBOUNDED",
            f"no price for {rendered.instance_type} in {region}: the run's worst case cannot be checked "
            "against MaxRunCostUsd; choose a priced instance type (recipes/data/prices.yaml)",
        )
    worst = rendered.replicas * hours * price.usd_per_hour
    if worst <= max_run_cost_usd:
        return None
    return PreflightProblem(
        "OVER_RUN_COST_CAP",
        f"worst case {worst:,.2f} USD ({rendered.replicas} × {rendered.instance_type} × {hours:g} h "
        f"stopping condition × {price.usd_per_hour:g} USD/h) exceeds MaxRunCostUsd {max_run_cost_usd:,.2f} "
        "USD: lower max_runtime_seconds or replicas, or ask the operator to raise MaxRunCostUsd",
    )


def preflight(
    rendered: RenderedRecipe,
    stats: Mapping[str, Any] | None,
    *,
    budget_usd: float | None,
    prices: PriceTable | None = None,
    region: str = "us-east-1",
    max_run_cost_usd: float | None = None,
) -> PreflightVerdict:
    """The verdict for a rendered recipe and a dataset's statistics; `.ok` is False when refused.

    `budget_usd` None means no budget; the run config's `budget_usd`, when set, is stricter-wins combined
    with it (the lower one applies). `prices` defaults to data/prices.yaml; the run config's `prices`
    override it per instance type. `max_run_cost_usd` (the stack's hard cap; None: no cap) refuses on the
    worst case.
    """
    verdict = PreflightVerdict(recipe=_recipe_summary(rendered))
    prices = prices or PriceTable.default()
    if max_run_cost_usd is not None:
        capped = worst_case_problem(rendered, max_run_cost_usd, prices, region)
        verdict.problems.extend([capped] if capped else [])
    budgets = [b for b in (budget_usd, rendered.config.budget_usd) if b is not None]
    budget = min(budgets) if budgets else None
    stats = stats or {}
    records = _number(stats, "records")
    if records is None:
        verdict.warnings.append(
            PreflightProblem(
                "NO_STATS",
                "no dataset statistics: dataset limits, long records and cost were not checked",
            )
        )
        verdict.estimate = CostEstimate(attempted=True, budget_usd=budget)
        return verdict
    if records < 1:
        verdict.problems.append(PreflightProblem("NO_RECORDS", "the dataset has no valid records"))
        return verdict
    _check_dataset_kind(rendered, stats, verdict)
    _check_long_records(rendered, stats, verdict)
    if records < rendered.global_batch_size:
        verdict.warnings.append(
            PreflightProblem(
                "FEWER_RECORDS_THAN_BATCH",
                f"{int(records)} records is less than one global batch ({rendered.global_batch_size})",
            )
        )
    _check_limits(rendered, stats, records, verdict)
    _estimate(
        rendered,
        stats,
        records,
        budget_usd=budget,
        prices=prices,
        region=region,
        verdict=verdict,
    )
    verdict.recipe["epochs_effective"] = round(_epochs(rendered, records), 4)
    return verdict
