"""Issue #9, spend and confinement: each test reproduces one finding (4, 8, 9, 10, 11, 13) on the handlers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeflow.errors import InputError
from forgeflow.pipeline.bounds import MAX_SIDECAR_BYTES
from forgeflow.pipeline.errors import DatasetTooLarge, PreflightRefused, RequestInvalid
from forgeflow.pipeline.request import parse_options
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.cost import PriceTable
from forgeflow.recipes.preflight import DEFAULT_MAX_RUN_COST_USD, preflight
from forgeflow.recipes.render import render_recipe
from forgeflow_tools.examples import write_examples
from forgeflow_tools.local.template import load_template
from tests.unit.pipeline.conftest import BUCKET, load_event


@pytest.fixture
def dataset(stack: Any, tmp_path: Path) -> bytes:
    """The example SFT dataset; the example curated data is uploaded under curated/sft/."""
    files = write_examples(tmp_path)
    stack.put("curated/sft/general.jsonl", files["general"].read_bytes())
    return files["support"].read_bytes()


def _request(uri: str, **detail: Any) -> dict[str, Any]:
    event = load_event("trigger-fine-tune-requested")
    event["detail"] = {"schema_version": "1", "request_id": "r-1", "dataset_uri": uri, **detail}
    return {"event": event, "execution_arn": "arn:e"}


# --- finding 4: a request cannot lower the estimate; the hard cap refuses the worst case -------------------
@pytest.mark.parametrize(
    "training", [{"prices": {"ml.p5.48xlarge": 0.0001}}, {"throughput_tokens_per_second": 1e12}]
)
def test_a_request_may_not_set_prices_or_throughput(
    stack: Any, invoke: Any, dataset: bytes, training: dict[str, Any]
) -> None:
    stack.put("datasets/set.jsonl", dataset)
    with pytest.raises(RequestInvalid, match="come from the stack"):
        invoke("register_run", _request(f"s3://{BUCKET}/datasets/set.jsonl", training=training, budget_usd=5))
    # Training keys may also sit at the top level of a request: the same refusal there.
    with pytest.raises(RequestInvalid, match="come from the stack"):
        invoke("register_run", _request(f"s3://{BUCKET}/datasets/set.jsonl", **training, budget_usd=5))


def test_pro_on_24_replicas_for_28_days_is_refused_by_the_run_cost_cap() -> None:
    config = TrainingConfig(model="pro", technique="sft-lora", replicas=24, max_runtime_seconds=28 * 86_400)
    verdict = preflight(render_recipe(config), None, budget_usd=None, max_run_cost_usd=10_000)
    assert not verdict.ok
    (problem,) = verdict.problems
    assert problem.code == "OVER_RUN_COST_CAP"
    assert "1,585,704.96 USD" in problem.message
    assert "24 × ml.p5.48xlarge × 672 h" in problem.message


def test_recipe_render_and_a_default_stack_apply_the_same_cap() -> None:
    template = load_template(Path(__file__).resolve().parents[3] / "template.yaml")
    assert template.document["Parameters"]["MaxRunCostUsd"]["Default"] == DEFAULT_MAX_RUN_COST_USD
    assert PipelineSettings().max_run_cost_usd == DEFAULT_MAX_RUN_COST_USD
    pro = render_recipe(TrainingConfig(model="pro", technique="sft-lora"))
    verdict = preflight(pro, None, budget_usd=None, max_run_cost_usd=DEFAULT_MAX_RUN_COST_USD)
    assert [p.code for p in verdict.problems] == ["OVER_RUN_COST_CAP"]


def test_the_default_run_fits_the_default_cap_and_a_price_override_does_not_lower_it() -> None:
    default = preflight(render_recipe(TrainingConfig()), None, budget_usd=None, max_run_cost_usd=10_000)
    assert default.ok, default.problems
    cheap = TrainingConfig(model="pro", replicas=24, prices={"ml.p5.48xlarge": 0.0001})
    verdict = preflight(render_recipe(cheap), None, budget_usd=None, max_run_cost_usd=10_000)
    assert [p.code for p in verdict.problems] == ["OVER_RUN_COST_CAP"]


def test_an_unpriced_instance_type_cannot_be_bounded_and_is_refused() -> None:
    empty = PriceTable(regions={}, default_region="us-east-1", as_of="")
    verdict = preflight(
        render_recipe(TrainingConfig()), None, budget_usd=None, prices=empty, max_run_cost_usd=1e9
    )
    assert [p.code for p in verdict.problems] == ["RUN_COST_UNBOUNDED"]


def test_render_recipe_refuses_the_worst_case_before_any_job(
    stack: Any, invoke: Any, dataset: bytes, monkeypatch: Any
) -> None:
    monkeypatch.setenv("MAX_RUN_COST_USD", "100")
    stack.put("incoming/set.jsonl", dataset)
    run = invoke("register_run", {"event": _s3_event(stack, "incoming/set.jsonl"), "execution_arn": "arn:e"})
    validation = invoke("validate_dataset", {"run": run})
    mix = invoke("mix_data", {"run": run, "validation": validation})
    with pytest.raises(PreflightRefused, match=r"exceeds MaxRunCostUsd 100\.00 USD"):
        invoke("render_recipe", {"run": run, "validation": validation, "mix": mix})
    assert stack.sagemaker.list_training_jobs()["TrainingJobSummaries"] == []


def _s3_event(stack: Any, key: str) -> dict[str, Any]:
    head = stack.s3.head_object(Bucket=BUCKET, Key=key)
    event = load_event("trigger-s3-object-created")
    event["detail"]["bucket"]["name"] = BUCKET
    event["detail"]["object"].update(
        {"key": key, "version-id": head["VersionId"], "etag": head["ETag"].strip('"'), "size": 1}
    )
    return event


# --- finding 8: a request-triggered run is pinned to the version current at RegisterRun ------------------
def test_a_dataset_replaced_after_validate_is_never_mixed(stack: Any, invoke: Any, dataset: bytes) -> None:
    first = stack.put("datasets/set.jsonl", dataset)
    run = invoke("register_run", _request(f"s3://{BUCKET}/datasets/set.jsonl"))
    request = json.loads(stack.get(f"runs/{run['run_id']}/request.json"))
    assert request["dataset"]["version_id"] == first["VersionId"]
    validation = invoke("validate_dataset", {"run": run})
    unvalidated = b'{"not": "a converse record"}\n' * 50
    stack.put("datasets/set.jsonl", unvalidated)
    mix = invoke("mix_data", {"run": run, "validation": validation})
    trained = stack.get(mix["train_uri"].split("/", 3)[3])
    assert b'"not"' not in trained
    assert mix["train_records"] > 0


def test_an_unversioned_dataset_changed_after_registration_fails_clearly(
    stack: Any, invoke: Any, dataset: bytes
) -> None:
    stack.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    stack.put("datasets/plain.jsonl", dataset)
    run = invoke("register_run", _request(f"s3://{BUCKET}/datasets/plain.jsonl", request_id="r-2"))
    stack.put("datasets/plain.jsonl", dataset + dataset)
    with pytest.raises(Exception, match="changed after the run registered") as raised:
        invoke("validate_dataset", {"run": run})
    assert type(raised.value).__name__ == "InputMissing"


# --- finding 9: sources are confined to the input prefixes of the pipeline's bucket ----------------------
@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            f"s3://{BUCKET}/runs/other-run-0123456789ab/mix/train.jsonl",
            "outside the pipeline's input prefixes",
        ),
        (f"s3://{BUCKET}/home/alice/private.jsonl", "outside the pipeline's input prefixes"),
        (f"s3://{BUCKET}/incoming/../runs/x/train.jsonl", "'..' path segment"),
        ("s3://someone-elses-bucket/data.jsonl", "outside the pipeline's bucket"),
    ],
)
def test_a_dataset_uri_outside_the_input_prefixes_is_refused(
    stack: Any, invoke: Any, dataset: bytes, uri: str, message: str
) -> None:
    with pytest.raises(RequestInvalid, match=re.escape(message)):
        invoke("register_run", _request(uri))


@pytest.mark.parametrize(
    "source",
    [
        "/etc/passwd",
        "file:///var/task/app.py",
        f"s3://{BUCKET}/runs/other-0123456789ab/mix/",
        "s3://x/curated/",
    ],
)
def test_mix_sources_outside_the_input_prefixes_are_refused(
    stack: Any, invoke: Any, dataset: bytes, source: str
) -> None:
    stack.put("datasets/set.jsonl", dataset)
    mix = {
        "sources": [
            {"name": "c", "role": "customer", "weight": 0.5},
            {"name": "x", "uri": source, "weight": 0.5},
        ]
    }
    with pytest.raises(RequestInvalid, match=r"mix\.sources\[1\]\.uri"):
        invoke("register_run", _request(f"s3://{BUCKET}/datasets/set.jsonl", mix=mix))


def test_mix_refuses_a_plan_that_reaches_another_run_even_past_registration(
    stack: Any, invoke: Any, dataset: bytes
) -> None:
    stack.put("datasets/set.jsonl", dataset)
    run = invoke("register_run", _request(f"s3://{BUCKET}/datasets/set.jsonl"))
    key = f"runs/{run['run_id']}/request.json"
    request = json.loads(stack.get(key))
    # A plan that is valid but for its reach: another run's mix output, which exists and would be read.
    stack.put("runs/other/mix/train.jsonl", dataset)
    request["mix"] = {
        "sources": [
            {"name": "c", "role": "customer", "weight": 0.5},
            {"name": "x", "uri": f"s3://{BUCKET}/runs/other/mix/", "weight": 0.5},
        ]
    }
    stack.put(key, json.dumps(request).encode())
    with pytest.raises(RequestInvalid, match="outside the pipeline's input prefixes"):
        invoke("mix_data", {"run": run})


# --- finding 10: the sidecar is bounded and never expands ------------------------------------------------
ALIAS_BOMB = b"""a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
overrides: {x: *f}
"""


def test_the_alias_bomb_sidecar_is_refused_before_it_expands(stack: Any, invoke: Any, dataset: bytes) -> None:
    assert len(ALIAS_BOMB) < 400
    stack.put("incoming/bomb.forgeflow.yaml", ALIAS_BOMB)
    stack.put("incoming/bomb.jsonl", dataset)
    event = _s3_event(stack, "incoming/bomb.jsonl")
    with pytest.raises(RequestInvalid, match="anchors and aliases"):
        invoke("register_run", {"event": event, "execution_arn": "arn:e"})
    assert stack.keys("runs/") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"overrides: &o {a: 1}\ntraining: *o\n", "anchors and aliases"),
        (b"x" * (MAX_SIDECAR_BYTES + 1), f"larger than {MAX_SIDECAR_BYTES} bytes"),
        (b"overrides: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply|deeper than"),
        (b"overrides: {a: {b: {c: {d: {e: {f: {g: {h: 1}}}}}}}}\n", "deeper than 8 levels"),
        (b"mix: {sources: [" + b"1," * 3000 + b"1]}\n", "more than 2000 keys and values"),
    ],
)
def test_oversized_or_aliased_sidecars_are_refused_with_the_file(text: bytes, message: str) -> None:
    with pytest.raises(RequestInvalid, match=message) as raised:
        parse_options(text, "s3://b/incoming/x.forgeflow.yaml")
    assert "incoming/x.forgeflow.yaml" in str(raised.value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=30,
    ),
    st.booleans(),
    st.binary(max_size=64),
)
def test_any_sidecar_either_parses_within_bounds_or_is_refused_as_request_invalid(
    document: Any, shared: bool, noise: bytes
) -> None:
    # `shared`: the same object under two keys, which safe_dump writes as an anchor and an alias.
    text = yaml.safe_dump({"overrides": document, "training": document if shared else {}}).encode() + noise
    try:
        parse_options(text, "sidecar")
    except RequestInvalid:
        return
    assert b"*id0" not in text, "a sidecar with an alias was accepted"
    assert len(text) <= MAX_SIDECAR_BYTES


# --- finding 11: an input prefix cannot overlap runs/ -----------------------------------------------------
# "/" would take in every run's outputs; "incoming" (no slash) would match incoming-runs/ too.
@pytest.mark.parametrize("prefix", ["runs/", "runs/incoming/", "/", "incoming"])
def test_an_incoming_prefix_overlapping_runs_is_refused(prefix: str) -> None:
    with pytest.raises(InputError, match="INCOMING_PREFIX"):
        PipelineSettings.from_environ({"INCOMING_PREFIX": prefix})


# --- finding 13: the dataset size is checked at RegisterRun ------------------------------------------------
def test_a_dataset_above_max_dataset_bytes_is_refused_at_register(
    stack: Any, invoke: Any, dataset: bytes, monkeypatch: Any
) -> None:
    monkeypatch.setenv("MAX_DATASET_BYTES", str(len(dataset) - 1))
    stack.put("datasets/big.jsonl", dataset)
    with pytest.raises(DatasetTooLarge, match=r"above the pipeline's cap .*MaxDatasetBytes") as raised:
        invoke("register_run", _request(f"s3://{BUCKET}/datasets/big.jsonl"))
    assert raised.value.hint is not None
    assert "split" in raised.value.hint
    assert stack.keys("runs/") == []


# --- concurrent runs: MaxConcurrentRuns RUNNING runs at most, refused at RegisterRun before any job ---------
def test_a_run_above_max_concurrent_runs_is_refused_at_register_until_one_ends(
    stack: Any, invoke: Any, dataset: bytes, monkeypatch: Any
) -> None:
    from forgeflow.aws.ledger import DynamoLedger
    from forgeflow.pipeline.errors import RunsAtCapacity
    from tests.unit.pipeline.conftest import TABLE

    monkeypatch.setenv("MAX_CONCURRENT_RUNS", "2")
    stack.put("datasets/set.jsonl", dataset)
    uri = f"s3://{BUCKET}/datasets/set.jsonl"
    first = invoke("register_run", _request(uri, request_id="r-1"))
    invoke("register_run", _request(uri, request_id="r-2"))
    with pytest.raises(RunsAtCapacity, match=r"MaxConcurrentRuns = 2") as raised:
        invoke("register_run", _request(uri, request_id="r-3"))
    assert raised.value.hint is not None
    assert "MaxConcurrentRuns" in raised.value.hint
    assert len(stack.keys("runs/")) == 2  # the third run wrote nothing
    DynamoLedger(stack.dynamodb, TABLE).update(first["run_id"], status="SUCCEEDED")  # what PublishResult does
    assert invoke("register_run", _request(uri, request_id="r-3"))["registered"] is True


def test_the_fake_ledger_caps_running_rows_like_dynamodb() -> None:
    from fakes import FakeLedger

    from forgeflow.pipeline.errors import RunsAtCapacity
    from forgeflow.ports import LedgerRow

    ledger = FakeLedger.of({"run_id": "done", "status": "SUCCEEDED"}, {"run_id": "a", "status": "RUNNING"})
    assert ledger.register(LedgerRow(run_id="b"), max_running=2) is True
    with pytest.raises(RunsAtCapacity, match="MaxConcurrentRuns = 2"):
        ledger.register(LedgerRow(run_id="c"), max_running=2)
    assert ledger.register(LedgerRow(run_id="a"), max_running=2) is False
    ledger.update("a", status="FAILED")
    assert ledger.register(LedgerRow(run_id="c"), max_running=2) is True


def test_max_concurrent_runs_is_a_stack_parameter_read_by_register() -> None:
    assert PipelineSettings.from_environ({"MAX_CONCURRENT_RUNS": "5"}).max_concurrent_runs == 5
    with pytest.raises(InputError, match="MAX_CONCURRENT_RUNS"):
        PipelineSettings.from_environ({"MAX_CONCURRENT_RUNS": "0"})
