"""Experiment tracking: each run as an MLflow run (docs/tracking.md)."""
