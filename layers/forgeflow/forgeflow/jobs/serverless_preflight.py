"""Pre-flight of a serverless run: what applies to a job SageMaker sizes itself (no instances, no replicas).

Checked: the documented model/technique combination and the stack settings a serverless job needs
(`forgeflow.jobs.serverless.refusals`), the sequence length (botocore `ServerlessJobConfig.SequenceLength`:
1K to 1024K), records longer than that length, and run options a serverless run cannot honour. The cost
is reported `unknown`: no serverless training price per token or per job is documented for Nova
(nova-forge-sft-datamix-smtj and the SageMaker pricing page give none), so none is invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forgeflow.errors import DataError
from forgeflow.jobs.serverless import (
    FORGE_SMTJ_SOURCE,
    MAX_SERVERLESS_POLLS,
    ServerlessSettings,
    refusals,
    sequence_length,
)
from forgeflow.recipes.preflight import PreflightProblem
from forgeflow.recipes.render import RenderedRecipe

COST_UNKNOWN_REASON = (
    "no serverless training price is documented for Nova (nova-forge-sft-datamix-smtj, "
    "aws.amazon.com/sagemaker/pricing): the cost is unknown, not estimated"
)
# Why a serverless run has no smoke job: the smoke job is five optimizer steps (`max_steps`), a recipe
# field; a serverless job takes no recipe and no documented step bound, so no smaller run exists to try.
SMOKE_SKIPPED_REASON = (
    "serverless training has no documented smallest run (no recipe, no max_steps; "
    f"{FORGE_SMTJ_SOURCE}): the smoke stage is skipped"
)


@dataclass
class ServerlessVerdict:
    """preflight.json of a serverless run: the same `ok`/`problems`/`warnings`/`estimate` keys."""

    recipe: dict[str, Any]
    problems: list[PreflightProblem] = field(default_factory=list)
    warnings: list[PreflightProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return "pre-flight passed (serverless; cost unknown)"
        return "pre-flight refused: " + "; ".join(p.message for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "compute": "serverless",
            "problems": [p.to_dict() for p in self.problems],
            "warnings": [w.to_dict() for w in self.warnings],
            "estimate": {"total_usd": None, "status": "unknown", "reason": COST_UNKNOWN_REASON},
            "smoke": {"skipped": True, "reason": SMOKE_SKIPPED_REASON},
            "limits": None,
            "recipe": self.recipe,
        }


def serverless_preflight(
    rendered: RenderedRecipe,
    stats: Mapping[str, Any] | None,
    serverless: ServerlessSettings,
    *,
    smoke_only: bool = False,
    budget_usd: float | None = None,
    poll_seconds: int = 60,
    max_runtime_seconds: int | None = None,
    max_polls: int = MAX_SERVERLESS_POLLS,
) -> ServerlessVerdict:
    """The verdict for a serverless run of `rendered` on a dataset with these validator `stats`."""
    verdict = ServerlessVerdict(recipe=_summary(rendered))
    if max_runtime_seconds is not None:
        _check_poll_window(poll_seconds, max_runtime_seconds, max_polls, verdict)
    for message in refusals(rendered.model, rendered.technique, serverless):
        verdict.problems.append(PreflightProblem("SERVERLESS_UNSUPPORTED", message))
    try:
        verdict.recipe["sequence_length"] = sequence_length(rendered.max_length)
    except DataError as error:
        verdict.problems.append(PreflightProblem("SEQUENCE_LENGTH", str(error)))
    if smoke_only:
        verdict.problems.append(
            PreflightProblem(
                "SMOKE_ONLY_SERVERLESS",
                f"smoke_only cannot run on serverless: {SMOKE_SKIPPED_REASON}; use compute: serverful",
            )
        )
    longest = _longest_tokens(stats or {})
    if longest is not None and longest > rendered.max_length:
        verdict.warnings.append(
            PreflightProblem(
                "LONG_RECORDS",
                f"the longest record has about {longest:,} tokens, more than max_length "
                f"{rendered.max_length:,}: the serverless job truncates or drops it",
            )
        )
    if budget_usd is not None or rendered.config.budget_usd is not None:
        verdict.warnings.append(
            PreflightProblem("BUDGET_UNCHECKED", f"the budget cannot be checked: {COST_UNKNOWN_REASON}")
        )
    return verdict


def _check_poll_window(
    poll_seconds: int, max_runtime_seconds: int, max_polls: int, verdict: ServerlessVerdict
) -> None:
    """The state machine polls a serverless job at most `max_polls` times, poll_seconds apart: a job
    allowed to run longer would be stopped as overdue while still training."""
    window = max_polls * poll_seconds
    if poll_seconds == 0:
        verdict.warnings.append(
            PreflightProblem(
                "POLL_WITHOUT_WAIT",
                f"poll_seconds 0: the job is polled without waiting, at most {max_polls} times "
                "(for the local emulator and tests; a real job outlasts that)",
            )
        )
    elif window < max_runtime_seconds:
        needed = -(-max_runtime_seconds // max_polls)
        verdict.problems.append(
            PreflightProblem(
                "POLL_WINDOW_TOO_SHORT",
                f"{max_polls} polls × poll_seconds {poll_seconds} = {window:,} s is shorter than "
                f"max_runtime_seconds {max_runtime_seconds:,}: set poll_seconds to at least {needed} or "
                "lower max_runtime_seconds",
            )
        )


def _summary(rendered: RenderedRecipe) -> dict[str, Any]:
    # No instance_type or replicas: SageMaker picks the hardware of a serverless job.
    return {
        "model": rendered.model.value,
        "technique": rendered.technique.value,
        "max_length": rendered.max_length,
    }


def _longest_tokens(stats: Mapping[str, Any]) -> int | None:
    longest = stats.get("longest_record")
    tokens = longest.get("est_tokens") if isinstance(longest, Mapping) else None
    return int(tokens) if isinstance(tokens, int | float) else None
