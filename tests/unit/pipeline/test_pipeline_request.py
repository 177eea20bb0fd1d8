"""Run requests: both triggers, sidecar merging, deterministic run ids, clear refusals."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.jobs.requests import job_name
from forgeflow.nova import Method, NovaModel, Technique
from forgeflow.pipeline.errors import RequestInvalid
from forgeflow.pipeline.request import (
    EvalSuite,
    RunOptions,
    parse_options,
    parse_trigger,
    resolve_run,
    run_id_for,
)
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.recipes.config import TrainingDefaults, technique_for, training_config_for_run

EVENTS = Path(__file__).resolve().parents[3] / "events"
SETTINGS = PipelineSettings(data_bucket="b", budget_usd=5000, poll_seconds=30)


def sample(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return document


def test_an_s3_event_becomes_a_run_with_stack_defaults() -> None:
    trigger = parse_trigger(sample("trigger-s3-object-created"))
    run = resolve_run(trigger, None, SETTINGS)
    assert run.dataset_uri == "s3://forgeflow-data-example/incoming/support_sft.jsonl"
    assert run.dataset.version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"
    assert (run.model, run.technique, run.poll_seconds) == (NovaModel.LITE, None, 30)
    assert run.eval_suites == [EvalSuite.MMLU, EvalSuite.GEN_QA, EvalSuite.GENERAL]
    assert run.run_id == sample("validate_dataset")["run"]["run_id"]


def test_the_sidecar_fills_what_the_event_does_not_say() -> None:
    trigger = parse_trigger(sample("trigger-s3-object-created"))
    text = (
        b"model: micro\nmethod: dpo\noverrides: {training_config: {max_length: 8192}}\n"
        b"max_runtime_seconds: 7200\n"
    )
    run = resolve_run(trigger, parse_options(text, "x"), SETTINGS)
    assert (run.model, run.method, run.max_runtime_seconds) == (NovaModel.MICRO, Method.DPO, 7200)
    assert run.training == {"overrides": {"training_config": {"max_length": 8192}}}
    assert trigger.dataset.sidecar_uri == "s3://forgeflow-data-example/incoming/support_sft.forgeflow.yaml"


def test_request_fields_win_over_the_sidecar() -> None:
    trigger = parse_trigger(sample("trigger-fine-tune-requested"))
    sidecar = RunOptions(model=NovaModel.PRO, poll_seconds=5, eval_suites=[EvalSuite.MMLU])
    run = resolve_run(trigger, sidecar, SETTINGS)
    assert (run.model, run.poll_seconds, run.technique) == (NovaModel.LITE, 120, Technique.SFT_LORA)
    assert run.eval_suites == [EvalSuite.MMLU, EvalSuite.GEN_QA]
    assert run.request_id == "crm-ticket-model-2026-11-23"


def test_the_same_request_id_is_the_same_run_and_another_is_not() -> None:
    event = sample("trigger-fine-tune-requested")
    first = resolve_run(parse_trigger(event), None, SETTINGS).run_id
    redelivered = copy.deepcopy(event) | {"id": "another-delivery-id"}
    assert resolve_run(parse_trigger(redelivered), None, SETTINGS).run_id == first
    other = copy.deepcopy(event)
    other["detail"]["request_id"] = "crm-ticket-model-2026-11-24"
    assert resolve_run(parse_trigger(other), None, SETTINGS).run_id != first


def test_a_new_object_version_is_a_new_run() -> None:
    event = sample("trigger-s3-object-created")
    first = resolve_run(parse_trigger(event), None, SETTINGS).run_id
    event["detail"]["object"]["version-id"] = "another-version"
    assert resolve_run(parse_trigger(event), None, SETTINGS).run_id != first


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.update({"source": "acme"}), "unsupported trigger"),
        (lambda e: e["detail"].pop("dataset_uri"), "dataset_uri: Field required"),
        (lambda e: e["detail"].update({"model": "giant"}), "model: Input should be"),
        (lambda e: e["detail"].update({"epochs": 3}), "epochs: Extra inputs are not permitted"),
        (lambda e: e["detail"].update({"technique": "dpo-lora", "method": "sft"}), "does not train method"),
        (lambda e: e.pop("detail"), "no event 'detail'"),
    ],
)
def test_malformed_requests_are_refused_with_the_key(mutate: Any, message: str) -> None:
    event = sample("trigger-fine-tune-requested")
    mutate(event)
    with pytest.raises(RequestInvalid, match=message):
        resolve_run(parse_trigger(event), None, SETTINGS)


def test_only_jsonl_objects_start_runs() -> None:
    event = sample("trigger-s3-object-created")
    event["detail"]["object"]["key"] = "incoming/support_sft.forgeflow.yaml"
    with pytest.raises(RequestInvalid, match=r"not a \.jsonl dataset"):
        parse_trigger(event)


@pytest.mark.parametrize(
    "text", [b"- a list\n", b"model: [unclosed\n", b"technique: bogus\n", b"max_runtime_seconds: 2500000\n"]
)
def test_bad_sidecars_name_the_file(text: bytes) -> None:
    with pytest.raises(RequestInvalid, match=r"s3://b/x\.forgeflow\.yaml"):
        parse_options(text, "s3://b/x.forgeflow.yaml")


def test_the_technique_follows_the_detected_method_when_the_request_names_none() -> None:
    run = resolve_run(parse_trigger(sample("trigger-s3-object-created")), None, SETTINGS)
    assert "technique" not in run.run_config()
    assert technique_for(Method.DPO, Technique.SFT_LORA) is Technique.DPO_LORA
    assert technique_for(Method.SFT, Technique.SFT_FULL) is Technique.SFT_FULL
    assert technique_for(None, Technique.SFT_LORA) is Technique.SFT_LORA
    dpo = training_config_for_run(run.run_config(), TrainingDefaults(detected=Method.DPO))
    assert dpo.technique is Technique.DPO_LORA


@settings(max_examples=200, deadline=None)
@given(identity=st.text(max_size=200), key=st.text(max_size=300))
def test_run_ids_are_deterministic_short_and_make_valid_job_names(identity: str, key: str) -> None:
    run_id = run_id_for(identity, key)
    assert run_id == run_id_for(identity, key)
    assert len(run_id) <= 32
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", run_id)
    for stage in ("smoke", "train", "eval-mmlu-trained"):
        name = job_name(run_id, stage)
        assert name.startswith(f"forgeflow-{run_id}-")  # never shortened: the run id stays visible
        assert len(name) <= 63


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "dataset_uri",
        "request_id",
        "model",
        "technique",
        "method",
        "mix",
        "overrides",
        "eval_suites",
        "instance_type",
        "replicas",
        "budget_usd",
        "poll_seconds",
        "schema_version",
        "training",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["trigger-fine-tune-requested", "trigger-s3-object-created"]),
    changes=st.dictionaries(FIELDS, JSON, max_size=4),
)
def test_any_detail_either_resolves_or_is_refused_as_request_invalid(
    kind: str, changes: dict[str, Any]
) -> None:
    event = sample(kind)
    event["detail"].update(changes)
    try:
        run = resolve_run(parse_trigger(event), None, SETTINGS)
    except RequestInvalid:
        return  # refused with a named error: what the state machine routes to RegisterFailed
    assert run.run_id
    assert run.dataset_uri.startswith("s3://")
