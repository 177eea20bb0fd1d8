"""Mix: blend the dataset with curated data per the run's plan → train/validation JSONL and the mix report."""

from __future__ import annotations

from typing import Any

import orjson

from forgeflow.errors import InputError
from forgeflow.evaluation.general import in_general_holdout
from forgeflow.mixing.engine import run_mix
from forgeflow.mixing.plan import load_plan
from forgeflow.nova import Method
from forgeflow.pipeline.confinement import DATASET_PLACEHOLDER, check_mix_sources
from forgeflow.pipeline.errors import MixPlanInvalid
from forgeflow.pipeline.request import ResolvedRun
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import MixResult, StageInput
from forgeflow.pipeline.steps.common import enter_stage, load_run, reraise_as
from forgeflow.pipeline.steps.services import Services
from forgeflow.storage import join

# Without a mix plan, the customer data makes 75 % of the blend and curated data 25 %: the 75/25 blend of
# the public "Nova Forge data mixing in action" write-up (MMLU 0.75 → 0.47 on customer data alone, 0.74
# blended; its 25 % was Nova-curated Forge data, here it is the user's own curated sets). Seed
# 000_b1782acd67d6d0d4 reports only +12 F1 with near-baseline MMLU, without the shares.
CURATED_SHARE = 0.25
DEFAULT_VALIDATION_FRACTION = 0.1


def curated_uri(settings: PipelineSettings, method: Method) -> str:
    """The stack's curated pool for a method: `s3://<DataBucket>/<CURATED_DATA_PREFIX><method>/`."""
    return f"s3://{settings.data_bucket}/{settings.curated_data_prefix.rstrip('/')}/{method.value}/"


def default_mix_plan(run: ResolvedRun, method: Method, settings: PipelineSettings) -> dict[str, Any]:
    """The dataset plus every curated `.jsonl` under `<CURATED_DATA_PREFIX><method>/`, 75 / 25."""
    return {
        "validation_fraction": DEFAULT_VALIDATION_FRACTION,
        "sources": [
            {
                "name": "customer",
                "role": "customer",
                "uri": run.dataset_uri,
                "weight": 1 - CURATED_SHARE,
            },
            {"name": "curated", "uri": curated_uri(settings, method), "weight": CURATED_SHARE},
        ],
    }


def _plan_document(run: ResolvedRun, method: Method, settings: PipelineSettings) -> dict[str, Any]:
    if run.mix is None:
        return default_mix_plan(run, method, settings)
    plan = orjson.loads(orjson.dumps(run.mix))
    for source in plan.get("sources", []) if isinstance(plan, dict) else []:
        named = isinstance(source, dict) and source.get("uri") not in (None, "", DATASET_PLACEHOLDER)
        if isinstance(source, dict) and source.get("role") == "customer" and not named:
            source["uri"] = run.dataset_uri
    return dict(plan) if isinstance(plan, dict) else {"sources": plan}


def _require_curated(curated_uri: str, services: Services) -> None:
    """The default plan needs curated data: say where it is missing and the two ways out, once."""
    try:
        services.storage.list_jsonl(curated_uri)
    except InputError:
        raise MixPlanInvalid(
            f"the default mix plan blends in curated data, but there is no .jsonl under {curated_uri}",
            hint=f"upload curated general-purpose JSONL under {curated_uri}, or set `mix` in the run request "
            "(sidecar or FineTune Requested) to name your own sources (docs/mixing.md)",
        ) from None


def mix_data(payload: StageInput, services: Services) -> MixResult:
    """Blend the dataset with curated data per the run's plan → train/validation JSONL and the mix report."""
    run = load_run(payload.run, services)
    enter_stage(services, run.run_id, "mix")
    method = run.method or (payload.validation.method if payload.validation else None) or Method.SFT
    document = _plan_document(run, method, services.settings)
    # RegisterRun checked the request's plan; checked again here, where the sources are read.
    check_mix_sources(document, services.settings, "mix")
    out_uri = services.settings.run_prefix(run.run_id) + "mix"
    if run.mix is None:
        _require_curated(document["sources"][1]["uri"], services)
    with reraise_as(MixPlanInvalid, missing=True):
        plan = load_plan(document)
        # The general suite's slice of the curated data never reaches train (forgeflow.evaluation.general).
        report = run_mix(
            plan,
            out_uri,
            services.storage,
            method=method,
            model=run.model,
            compute=run.compute,
            exclude=in_general_holdout,
        )
    return MixResult(
        train_uri=report.train.uri,
        # No held-out records (validation_fraction 0): no validation channel, no domain evaluation.
        validation_uri=report.validation.uri if report.validation.records else None,
        report_uri=join(out_uri, "mix_report.json"),
        train_records=report.train.records,
        validation_records=report.validation.records,
    )
