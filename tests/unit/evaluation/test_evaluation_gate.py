"""The forgetting gate: deltas in points against thresholds, unmeasured suites never pass or fail."""

from __future__ import annotations

import pytest

from forgeflow.evaluation.gate import DEFAULT_GATES, gates_for, verdict


def _headline(base: float | None, trained: float | None, metric: str = "accuracy") -> dict[str, object]:
    delta = None if base is None or trained is None else trained - base
    return {"metric": metric, "base": base, "trained": trained, "delta": delta, "note": None}


def test_defaults_are_the_documented_thresholds() -> None:
    assert {(g.name, g.threshold) for g in DEFAULT_GATES} == {
        ("mmlu_max_drop", 2.0),
        ("general_max_drop", 2.0),
        ("domain_min_gain", 0.0),
    }


def test_a_general_drop_over_the_threshold_regresses_naming_value_and_threshold() -> None:
    headlines = {
        "mmlu": _headline(0.70, 0.69),
        "general": _headline(0.60, 0.55, "f1_score"),
        "classification": _headline(0.10, 0.40, "macro_f1"),
    }
    result = verdict(headlines, gates_for(None))
    assert result["verdict"] == "regressed"
    assert result["failed"] == ["general_max_drop: 5.0 points (threshold 2.0)"]
    assert [row["status"] for row in result["gates"]] == ["passed", "failed", "passed"]


def test_a_domain_loss_regresses_and_a_run_config_threshold_applies() -> None:
    headlines = {"classification": _headline(0.50, 0.45, "macro_f1"), "mmlu": _headline(0.7, 0.66)}
    assert verdict(headlines, gates_for(None))["verdict"] == "regressed"
    relaxed = gates_for({"domain_min_gain": -10.0, "mmlu_max_drop": 5.0})
    assert verdict(headlines, relaxed)["verdict"] == "promoted"


def test_an_unmeasured_suite_is_reported_and_never_passes_or_fails() -> None:
    headlines = {
        "mmlu": {**_headline(None, None), "note": "not measured: no MMLU data offline"},
        "classification": _headline(0.1, 0.2, "macro_f1"),
    }
    result = verdict(headlines, gates_for(None))
    assert result["verdict"] == "promoted"
    statuses = {row["gate"]: row["status"] for row in result["gates"]}
    assert statuses == {
        "mmlu_max_drop": "not_measured",
        "general_max_drop": "not_measured",
        "domain_min_gain": "passed",
    }
    assert result["unmeasured"] == [
        "mmlu_max_drop: not measured: no MMLU data offline",
        "general_max_drop: the run has no general suite",
    ]


def test_an_unknown_gate_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown gate mmlu_drop"):
        gates_for({"mmlu_drop": 1.0})


def test_gates_and_domain_task_in_a_run_config_are_not_training_keys() -> None:
    # They were passed on to the training config, which refused them at RenderRecipe ("Extra inputs").
    from forgeflow.recipes.config import flatten_run_config, training_config_for_run

    config = {"gates": {"general_max_drop": 5.0}, "domain_task": "classification", "model": "lite"}
    assert "gates" not in flatten_run_config(config)
    assert "domain_task" not in flatten_run_config(config)
    training_config_for_run(config)


def test_the_stack_thresholds_apply_and_the_run_config_wins() -> None:
    stack = {"general_max_drop": 10.0, "mmlu_max_drop": 1.0}
    gates = {gate.name: gate.threshold for gate in gates_for({"mmlu_max_drop": 3.0}, stack)}
    assert gates == {"mmlu_max_drop": 3.0, "general_max_drop": 10.0, "domain_min_gain": 0.0}
