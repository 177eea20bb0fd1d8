"""RegisterRun on fakes (in-memory S3, ledger and bus): what it pins, claims, writes and says, field by field.

The handler tests on moto (test_pipeline_handlers.py) run it end to end; these pin each rule of
steps/register.py in milliseconds, so mutation testing can afford them (docs/mutation.md).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fakes import NOW, FakeBus, FakeLedger, fake_services
from fakes.s3 import MemoryS3

from forgeflow.errors import InputError
from forgeflow.pipeline.bounds import MAX_SIDECAR_BYTES
from forgeflow.pipeline.errors import DatasetTooLarge, InputMissing, RequestInvalid, RunsAtCapacity
from forgeflow.pipeline.settings import PipelineSettings
from forgeflow.pipeline.state import RegisterInput
from forgeflow.pipeline.steps import Services
from forgeflow.pipeline.steps.register import register_run
from forgeflow.ports import LedgerRow
from forgeflow.storage import Storage

BUCKET = "data"
KEY = "incoming/support_sft.jsonl"
ARN = "arn:aws:states:us-east-1:1:execution:sm:one"
SETTINGS = PipelineSettings(data_bucket=BUCKET, results_bus_name="results")


def _s3_event(key: str = KEY, version: str | None = "v1", etag: str | None = "e1") -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "size": 10, "sequencer": "0A"}
    if version:
        obj["version-id"] = version
    if etag:
        obj["etag"] = etag
    return {
        "version": "0",
        "id": "ev-1",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "1",
        "time": "2026-11-23T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": obj,
            "reason": "PutObject",
            "request-id": "R1",
            "requester": "1",
            "source-ip-address": "203.0.113.15",
        },
    }


def _request(**detail: Any) -> dict[str, Any]:
    return {
        "id": "ev-2",
        "source": "forgeflow",
        "detail-type": "FineTune Requested",
        "detail": {"dataset_uri": f"s3://{BUCKET}/{KEY}", **detail},
    }


def _world(
    s3: MemoryS3 | None = None, settings: PipelineSettings = SETTINGS, ledger: FakeLedger | None = None
) -> tuple[Services, MemoryS3]:
    store = s3 or MemoryS3()
    if not s3:
        store.put(BUCKET, KEY, b'{"messages": []}\n', version_id="v1")
    services = fake_services(
        ledger=ledger or FakeLedger(), bus=FakeBus(), storage=Storage(store), settings=settings
    )
    return services, store


def _register(event: dict[str, Any], services: Services, arn: str | None = ARN) -> Any:
    return register_run(RegisterInput(event=copy.deepcopy(event), execution_arn=arn), services)


def _rows(services: Services) -> list[LedgerRow]:
    ledger = services.ledger
    assert isinstance(ledger, FakeLedger)
    return list(ledger.rows.values())


def _row(services: Services, run_id: str) -> LedgerRow:
    row = services.ledger.get(run_id)
    assert row is not None
    return row


def _bus_details(services: Services) -> list[dict[str, Any]]:
    bus = services.bus
    assert isinstance(bus, FakeBus)
    return [
        {**json.loads(e["Detail"]), "_type": e["DetailType"], "_bus": e["EventBusName"]} for e in bus.entries
    ]


def test_an_upload_is_pinned_claimed_written_and_announced() -> None:
    services, store = _world()
    etag = store.objects[(BUCKET, KEY)].etag
    run = _register(_s3_event(etag=etag), services)
    prefix = f"s3://{BUCKET}/runs/{run.run_id}/"
    assert run.run_id.startswith("support-sft-")
    assert (run.registered, run.duplicate, run.request_id) == (True, False, None)
    assert (run.dataset_uri, run.dataset_version_id) == (f"s3://{BUCKET}/{KEY}", "v1")
    assert (run.request_uri, run.outputs_prefix) == (prefix + "request.json", prefix)
    assert (run.model, run.technique) == ("lite", "sft-lora")
    assert (run.settings.poll_seconds, run.settings.smoke_only) == (60, False)
    row = _row(services, run.run_id)
    assert (row.status, row.stage, row.source, row.execution_arn) == ("RUNNING", "register", "s3", ARN)
    assert (row.dataset_uri, row.dataset_etag, row.dataset_version_id) == (run.dataset_uri, etag, "v1")
    assert (row.request_id, row.request_uri) == (None, run.request_uri)
    written = json.loads(services.storage.read_bytes(run.request_uri))
    assert (written["run_id"], written["dataset"]["version_id"]) == (run.run_id, "v1")
    [started] = _bus_details(services)
    assert (started["_type"], started["_bus"]) == ("Run Started", "results")
    assert started["run_id"] == run.run_id
    assert (started["execution_arn"], started["source"], started["request_id"]) == (ARN, "s3", None)
    assert (started["dataset_uri"], started["dataset_version_id"]) == (run.dataset_uri, "v1")
    assert (started["dataset_etag"], started["model"], started["technique"]) == (etag, "lite", None)
    assert started["started_at"] == NOW.isoformat().replace("+00:00", "Z")


def test_a_request_pins_the_current_version_and_etag_and_keeps_its_request_id() -> None:
    services, store = _world()
    run = _register(_request(request_id="req-7", technique="dpo-lora", model="pro"), services)
    etag = store.objects[(BUCKET, KEY)].etag
    assert (BUCKET, KEY, None) in store.heads  # a request names no version: the current one
    assert not any(v for b, k, v in store.heads if k == KEY)
    assert (run.dataset_version_id, run.request_id, run.technique, run.model) == (
        "v1",
        "req-7",
        "dpo-lora",
        "pro",
    )
    row = _row(services, run.run_id)
    assert (row.source, row.request_id, row.dataset_etag, row.dataset_version_id) == (
        "request",
        "req-7",
        etag,
        "v1",
    )
    [started] = _bus_details(services)
    assert (started["request_id"], started["source"], started["technique"]) == (
        "req-7",
        "request",
        "dpo-lora",
    )
    assert started["dataset_etag"] == etag


def test_a_request_naming_only_a_method_leaves_the_technique_to_render_recipe() -> None:
    services, _ = _world()
    assert _register(_request(method="dpo"), services).technique is None


def test_the_upload_s_own_version_is_read_not_the_current_one() -> None:
    s3 = MemoryS3()
    s3.put(BUCKET, KEY, b"old\n", version_id="v1")
    s3.put(BUCKET, KEY, b"newer bytes\n", version_id="v2")
    services, _ = _world(s3)
    run = _register(_s3_event(version="v1", etag=None), services)
    assert run.dataset_version_id == "v1"
    assert (BUCKET, KEY, "v1") in s3.heads
    row = _row(services, run.run_id)
    assert row.dataset_etag == s3.versions[(BUCKET, KEY, "v1")].etag


def test_a_deleted_version_is_input_missing() -> None:
    services, _ = _world()
    with pytest.raises(InputMissing, match=r"support_sft.jsonl \(version v9\) does not exist"):
        _register(_s3_event(version="v9"), services)


def test_an_unversioned_upload_replaced_since_is_input_missing_and_an_unchanged_one_runs() -> None:
    s3 = MemoryS3(versioned=False)
    stored = s3.put(BUCKET, KEY, b"{}\n")
    services, _ = _world(s3)
    with pytest.raises(
        InputMissing, match=f"replaced since it was uploaded \\(ETag other, now {stored.etag}\\)"
    ):
        _register(_s3_event(version=None, etag="other"), services)
    run = _register(_s3_event(version=None, etag=stored.etag), services)
    assert (run.registered, run.dataset_version_id) == (True, None)


def test_a_versioned_upload_is_read_by_version_whatever_its_etag() -> None:
    services, _ = _world()
    assert _register(_s3_event(version="v1", etag="from-the-event"), services).registered
    [row] = _rows(services)
    assert row.dataset_etag == "from-the-event"


def test_the_size_cap_admits_its_own_size_and_refuses_one_byte_more() -> None:
    s3 = MemoryS3()
    s3.put(BUCKET, KEY, b"x" * 100, version_id="v1")
    services, _ = _world(s3, settings=SETTINGS.model_copy(update={"max_dataset_bytes": 100}))
    assert _register(_s3_event(), services).registered
    s3.put(BUCKET, KEY, b"x" * 101, version_id="v2")
    with pytest.raises(DatasetTooLarge) as caught:
        _register(_s3_event(version="v2"), services)
    assert str(caught.value).startswith(
        f"s3://{BUCKET}/{KEY} is 0.00 GiB, above the pipeline's cap of 0.00 GiB (MaxDatasetBytes = 100)"
    )
    assert (
        caught.value.hint == "split the dataset or sample it down; docs/pipeline.md, 'Spend and confinement'"
    )


def test_the_size_in_the_message_is_in_gib() -> None:
    s3 = MemoryS3()
    s3.put(BUCKET, KEY, b"{}\n", version_id="v1", size=3 << 29)  # 1.5 GiB
    services, _ = _world(s3, settings=SETTINGS.model_copy(update={"max_dataset_bytes": 1 << 30}))
    with pytest.raises(DatasetTooLarge, match=r"is 1\.50 GiB, above the pipeline's cap of 1\.00 GiB"):
        _register(_s3_event(), services)


def test_a_url_encoded_key_is_decoded_only_when_the_key_as_delivered_is_absent() -> None:
    s3 = MemoryS3()
    s3.put(BUCKET, "incoming/a b.jsonl", b"{}\n", version_id="v1")
    services, _ = _world(s3)
    run = _register(_s3_event(key="incoming/a+b.jsonl"), services)
    assert run.dataset_uri == f"s3://{BUCKET}/incoming/a b.jsonl"
    s3.put(BUCKET, "incoming/a+b.jsonl", b"{}\n", version_id="v1")
    again = _register(_s3_event(key="incoming/a+b.jsonl", etag="e2"), services, arn=ARN + "-2")
    assert again.dataset_uri == f"s3://{BUCKET}/incoming/a+b.jsonl"


def test_a_missing_dataset_is_input_missing_whether_or_not_its_key_is_encoded() -> None:
    services, _ = _world()
    with pytest.raises(InputMissing, match=r"s3://data/incoming/gone\+x.jsonl does not exist"):
        _register(_s3_event(key="incoming/gone+x.jsonl"), services)
    with pytest.raises(InputMissing, match="does not exist"):
        _register(_s3_event(key="incoming/gone.jsonl"), services)


def test_a_dataset_or_mix_source_outside_the_input_prefixes_is_refused() -> None:
    s3 = MemoryS3()
    s3.put(BUCKET, "runs/other/train.jsonl", b"{}\n", version_id="v1")
    services, _ = _world(s3)
    with pytest.raises(RequestInvalid, match=r"^dataset_uri: .* outside the pipeline's input prefixes"):
        _register(_request(dataset_uri=f"s3://{BUCKET}/runs/other/train.jsonl"), services)
    services, _ = _world()
    mix = {"sources": [{"uri": f"s3://{BUCKET}/runs/other/", "weight": 1}]}
    with pytest.raises(RequestInvalid, match=r"^mix\.sources\[0\]\.uri: "):
        _register(_request(mix=mix), services)


def test_the_sidecar_next_to_the_upload_sets_the_run_options() -> None:
    services, store = _world()
    store.put(
        BUCKET, "incoming/support_sft.forgeflow.yaml", b"smoke_only: true\npoll_seconds: 5\nmodel: pro\n"
    )
    run = _register(_s3_event(), services)
    assert (run.settings.smoke_only, run.settings.poll_seconds, run.model) == (True, 5, "pro")


def test_an_approval_asked_for_by_the_sidecar_or_the_stack_reaches_the_run_settings() -> None:
    # The approval gate (WaitForApproval) reads $.run.settings.require_approval: dropping it would launch
    # the full job with no one's approval.
    services, store = _world()
    store.put(BUCKET, "incoming/support_sft.forgeflow.yaml", b"require_approval: true\n")
    assert _register(_s3_event(), services).settings.require_approval is True
    stack, _ = _world(settings=SETTINGS.model_copy(update={"require_approval": True}))
    assert _register(_s3_event(), stack).settings.require_approval is True
    assert _register(_s3_event(), _world()[0]).settings.require_approval is False


def test_a_sidecar_over_the_cap_is_refused_not_truncated() -> None:
    services, store = _world()
    store.put(BUCKET, "incoming/support_sft.forgeflow.yaml", b"#" * (MAX_SIDECAR_BYTES + 1))
    with pytest.raises(RequestInvalid, match=f"larger than {MAX_SIDECAR_BYTES} bytes"):
        _register(_s3_event(), services)


def test_a_sidecar_probe_the_role_may_not_make_means_no_sidecar() -> None:
    class NoList(MemoryS3):
        def head(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
            if key.endswith(".forgeflow.yaml"):
                raise InputError("access denied", code="ACCESS_DENIED")
            return super().head(bucket, key, version_id)

    s3 = NoList()
    s3.put(BUCKET, KEY, b"{}\n", version_id="v1")
    services, _ = _world(s3)
    assert _register(_s3_event(), services).settings.smoke_only is False


def test_a_second_execution_for_the_same_upload_is_a_duplicate_that_writes_and_says_nothing() -> None:
    services, store = _world()
    first = _register(_s3_event(), services)
    store.objects.pop((BUCKET, first.request_uri.removeprefix(f"s3://{BUCKET}/")))
    again = _register(_s3_event(), services, arn=ARN + "-redelivered")
    assert (again.duplicate, again.run_id, again.registered) == (True, first.run_id, True)
    assert not services.storage.exists(first.request_uri)
    assert len(_bus_details(services)) == 1
    row = _row(services, first.run_id)
    assert row.execution_arn == ARN


def test_the_owning_execution_retrying_register_run_keeps_its_run() -> None:
    services, _ = _world()
    first = _register(_s3_event(), services)
    retried = _register(_s3_event(), services)
    assert (retried.duplicate, retried.run_id) == (False, first.run_id)


def test_no_execution_arn_never_claims_an_existing_row() -> None:
    services, _ = _world()
    _register(_s3_event(), services, arn=None)
    assert _register(_s3_event(), services, arn=None).duplicate is True


def test_a_failed_run_started_again_is_handed_to_the_new_execution() -> None:
    services, _ = _world()
    first = _register(_s3_event(), services)
    services.ledger.update(first.run_id, status="FAILED", error_code="JobFailed")
    again = _register(_s3_event(), services, arn=ARN + "-rerun")
    assert again.duplicate is False
    row = _row(services, first.run_id)
    assert (row.status, row.execution_arn) == ("RUNNING", ARN + "-rerun")
    assert len(_bus_details(services)) == 2


def test_max_concurrent_runs_refuses_a_new_run_when_full() -> None:
    full = FakeLedger.of({"run_id": "a", "status": "RUNNING"}, {"run_id": "b", "status": "RUNNING"})
    settings = SETTINGS.model_copy(update={"max_concurrent_runs": 2})
    services, _ = _world(settings=settings, ledger=full)
    with pytest.raises(RunsAtCapacity):
        _register(_s3_event(), services)
    assert len(_bus_details(services)) == 0


def test_an_invalid_sidecar_is_refused_naming_the_sidecar() -> None:
    services, store = _world()
    store.put(BUCKET, "incoming/support_sft.forgeflow.yaml", b"- a list\n")
    with pytest.raises(
        RequestInvalid, match=r"^s3://data/incoming/support_sft\.forgeflow\.yaml must be a mapping"
    ):
        _register(_s3_event(), services)


def test_a_head_without_etag_or_size_pins_no_etag_and_counts_as_empty() -> None:
    class Bare(MemoryS3):
        def head(self, bucket: str, key: str, version_id: str | None = None) -> dict[str, Any] | None:
            found = super().head(bucket, key, version_id)
            return None if found is None else {"VersionId": found.get("VersionId")}

    s3 = Bare()
    s3.put(BUCKET, KEY, b"{}\n", version_id="v1")
    services, _ = _world(s3)
    run = _register(_request(), services)
    assert _row(services, run.run_id).dataset_etag is None
    assert _bus_details(services)[0]["dataset_etag"] is None


def test_the_size_error_says_why_the_cap_exists() -> None:
    s3 = MemoryS3()
    s3.put(BUCKET, KEY, b"{}\n", version_id="v1", size=101)
    services, _ = _world(s3, settings=SETTINGS.model_copy(update={"max_dataset_bytes": 100}))
    with pytest.raises(DatasetTooLarge) as caught:
        _register(_s3_event(), services)
    assert caught.value.args[0].endswith(
        "(MaxDatasetBytes = 100): Validate reads it within a 15-minute Lambda and Mix spills it "
        "to 10 GiB of /tmp"
    )
