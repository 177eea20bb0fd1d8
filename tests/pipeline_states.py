"""The mix and recipe stages' results a run's later steps are handed, shared by the outcome tests
(test_pipeline_outcome.py, test_pipeline_outcome_ends.py): only what PublishInput needs, as the ASL
passes them on."""

from __future__ import annotations

from forgeflow.pipeline.state import MixResult, RecipeResult

MIX = MixResult(
    train_uri="s3://t",
    validation_uri=None,
    report_uri="s3://mix/report.json",
    train_records=9,
    validation_records=0,
)
RECIPE = RecipeResult(
    technique="sft-lora",
    recipe_uri="s3://rec/",
    smoke_recipe_uri="s3://rec/smoke/",
    smoke_train_uri="s3://t5",
    preflight_uri="s3://p",
    estimate_usd=42.0,
    max_runtime_seconds=3600,
)
