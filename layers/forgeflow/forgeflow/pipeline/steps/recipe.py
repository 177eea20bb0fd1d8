"""RenderRecipe: the run's training config → the full and the smoke recipe, checked by pre-flight first.

`training_config` is also what the job stages use to rebuild the same recipe, so every stage of a run reads
its configuration the same way.
"""

from __future__ import annotations

from typing import Any

import orjson

from forgeflow.jobs.requests import JobSettings
from forgeflow.jobs.serverless import ServerlessSettings
from forgeflow.jobs.serverless_preflight import SMOKE_SKIPPED_REASON, serverless_preflight
from forgeflow.jobs.smoke import needs_subset, smoke_recipe, smoke_subset_size, write_smoke_subset
from forgeflow.mixing.forge import Compute
from forgeflow.nova import NovaModel
from forgeflow.pipeline.errors import PreflightRefused, RecipeInvalid, RequestInvalid
from forgeflow.pipeline.request import ResolvedRun, RunPlan
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import RecipeResult, StageInput
from forgeflow.pipeline.steps.common import enter_stage, json_document, load_run, reraise_as
from forgeflow.pipeline.steps.services import Services
from forgeflow.recipes.config import TrainingConfig, TrainingDefaults, training_config_for_run
from forgeflow.recipes.preflight import preflight
from forgeflow.recipes.render import RenderedRecipe
from forgeflow.recipes.render import render_recipe as render


def training_config(run: ResolvedRun, payload: StageInput, services: Services) -> TrainingConfig:
    """The run's TrainingConfig, by the function `forgeflow recipe render` uses: the run config over the
    stack's defaults (model, technique fitting the detected method, instance type) and the run's name."""
    settings = services.settings
    defaults = TrainingDefaults(
        model=settings.default_model,
        technique=settings.default_technique,
        instance_type=settings.training_instance_type,
        name=f"forgeflow-{run.run_id}",
        detected=payload.validation.method if payload.validation else None,
    )
    with reraise_as(RecipeInvalid):
        return training_config_for_run(run.run_config(), defaults, source=f"run request {run.run_id}")


def render_recipe(payload: StageInput, services: Services) -> RecipeResult:
    """Render the full and the smoke recipe, run pre-flight (limits, cost, budget), store them.

    On Nova 1.0 (no `max_steps`) the smoke job trains one epoch over a seeded subset of exactly
    5 × global_batch_size mixed records, written here to `runs/<run_id>/recipe/smoke/train.jsonl`.
    """
    run = load_run(payload.run, services)
    if payload.mix is None:
        raise RequestInvalid("RenderRecipe needs $.mix")
    enter_stage(services, run.run_id, "recipe")
    config = training_config(run, payload, services)
    with reraise_as(RecipeInvalid):
        rendered = render(config)
        smoke = smoke_recipe(rendered)
    if run.compute is Compute.SERVERLESS:
        return _serverless_recipe(run, rendered, payload, services)
    verdict = preflight(
        rendered,
        _training_stats(payload, services),
        budget_usd=services.settings.budget_usd,
        region=services.settings.region,
        max_run_cost_usd=services.settings.max_run_cost_usd,
    )
    prefix = services.settings.run_prefix(run.run_id) + "recipe/"
    preflight_uri = prefix + "preflight.json"
    services.storage.write_bytes(preflight_uri, json_document(verdict.to_dict()))
    if not verdict.ok:
        raise PreflightRefused(f"{verdict.summary()} (details: {preflight_uri})")
    services.storage.write_bytes(prefix + "train/recipe.yaml", rendered.to_yaml().encode())
    services.storage.write_bytes(prefix + "smoke/recipe.yaml", smoke.to_yaml().encode())
    smoke_train_uri = payload.mix.train_uri
    if needs_subset(rendered):
        smoke_train_uri = prefix + "smoke/data/train.jsonl"
        size = smoke_subset_size(rendered)
        write_smoke_subset(
            services.storage, payload.mix.train_uri, smoke_train_uri, size=size, seed=config.seed
        )
    usd = verdict.estimate.total_usd
    return RecipeResult(
        technique=config.technique.value,
        recipe_uri=prefix + "train/",
        smoke_recipe_uri=prefix + "smoke/",
        smoke_train_uri=smoke_train_uri,
        preflight_uri=preflight_uri,
        estimate_usd=float(usd) if isinstance(usd, int | float) else None,
        max_runtime_seconds=max_runtime(run),
    )


def serverless_settings(settings: PipelineSettings) -> ServerlessSettings:
    """The stack's serverless parameters, for RenderRecipe, BuildTrainingJob and `recipe render`."""
    arns = {NovaModel.LITE_2: settings.base_model_arn_lite_2} if settings.base_model_arn_lite_2 else {}
    return ServerlessSettings(
        model_package_group_arn=settings.model_package_group_arn,
        base_model_arns=arns,
        accept_eula=settings.accept_base_model_eula,
    )


def _serverless_recipe(
    run: ResolvedRun, rendered: RenderedRecipe, payload: StageInput, services: Services
) -> RecipeResult:
    """Pre-flight of a serverless run (no instances, cost unknown) and its recipe, kept for the record:
    the serverless job takes its training settings from ServerlessJobConfig, not from a recipe."""
    assert payload.mix is not None
    verdict = serverless_preflight(
        rendered,
        _training_stats(payload, services),
        serverless_settings(services.settings),
        smoke_only=run.smoke_only,
        budget_usd=services.settings.budget_usd,
        poll_seconds=run.poll_seconds,
        max_runtime_seconds=max_runtime(run),
        max_polls=services.settings.serverless_max_polls,
    )
    prefix = services.settings.run_prefix(run.run_id) + "recipe/"
    preflight_uri = prefix + "preflight.json"
    services.storage.write_bytes(preflight_uri, json_document(verdict.to_dict()))
    if not verdict.ok:
        raise PreflightRefused(
            f"run {run.run_id} on serverless training: {verdict.summary()} (details: {preflight_uri})"
        )
    services.storage.write_bytes(prefix + "train/recipe.yaml", rendered.to_yaml().encode())
    return RecipeResult(
        technique=rendered.technique.value,
        recipe_uri=prefix + "train/",
        smoke_recipe_uri=prefix + "train/",
        smoke_train_uri=payload.mix.train_uri,
        preflight_uri=preflight_uri,
        estimate_usd=None,
        max_runtime_seconds=max_runtime(run),
        smoke_skipped=SMOKE_SKIPPED_REASON,
    )


def _training_stats(payload: StageInput, services: Services) -> dict[str, Any]:
    """Statistics of what will be trained on: the validation report's stats of the customer dataset."""
    if payload.validation is None:
        return {}
    report = orjson.loads(services.storage.read_bytes(payload.validation.report_uri))
    stats: dict[str, Any] = report.get("stats", {})
    if payload.mix is not None:
        # The blend, not the raw dataset, is what the job trains on: its size is what limits apply to.
        stats = {**stats, "records": payload.mix.train_records}
    return stats


def max_runtime(run: RunPlan) -> int:
    """The run's MaxRuntimeInSeconds: the request's (top level or `training:`), else the job default."""
    if run.max_runtime_seconds is not None:
        return run.max_runtime_seconds
    return int(JobSettings.model_fields["max_runtime_seconds"].default)
