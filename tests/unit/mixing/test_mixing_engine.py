"""The mixing engine on local files: exact counts and shares, byte identity, determinism, hold-out."""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.dataset.split import split_uri
from forgeflow.dataset.validation import RecordValidator
from forgeflow.errors import DataError, InputError
from forgeflow.mixing import progress
from forgeflow.mixing.engine import run_mix
from forgeflow.mixing.forge import Compute
from forgeflow.mixing.plan import parse_plan
from forgeflow.nova import Method
from forgeflow.storage import Storage

CURATED = ["general", "code", "math"]


def _source(root: Path, name: str, weight: float, **extra: Any) -> dict[str, Any]:
    role = "customer" if name == "customer" else "curated"
    return {"name": name, "role": role, "uri": str(root / name), "weight": weight, **extra}


def _mix(root: Path, plan: dict[str, Any], **options: Any) -> tuple[dict[str, Any], list[bytes], list[bytes]]:
    out = root / "out"
    report = run_mix(parse_plan(plan), str(out), Storage(), **options).to_dict()
    on_disk = orjson.loads((out / "mix_report.json").read_bytes())
    assert on_disk == orjson.loads(orjson.dumps(report))
    train = (out / "train.jsonl").read_bytes()
    validation = (out / "validation.jsonl").read_bytes()
    assert hashlib.sha256(train).hexdigest() == report["train"]["sha256"]
    assert hashlib.sha256(validation).hexdigest() == report["validation"]["sha256"]
    return report, train.splitlines(), validation.splitlines()


def _attempt(root: Path, plan: dict[str, Any], **options: Any) -> tuple[Any, DataError | None]:
    """The mix's outputs, or the DataError it refused with (for generated plans that may be infeasible)."""
    try:
        return _mix(root, plan, **options), None
    except DataError as error:
        return None, error


mix_cases = st.fixed_dictionaries(
    {
        "customer": st.integers(1, 60),
        "curated": st.lists(st.integers(0, 80), max_size=3),
        "weights": st.lists(st.integers(1, 9), min_size=4, max_size=4),
        "total": st.none() | st.integers(1, 150),
        "fraction": st.sampled_from([0.0, 0.25]),
        "upsample": st.booleans(),
        "seed": st.integers(0, 2**32),
        "files": st.integers(1, 3),
    }
)


@settings(max_examples=60, deadline=None)
@given(case=mix_cases)
def test_records_blend_is_exact_faithful_and_never_leaks_validation(
    case: dict[str, Any], mixdata: Any
) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        lines = {"customer": mixdata.write(root, "customer", case["customer"], files=case["files"])}
        names = ["customer"]
        for name, size in zip(CURATED, case["curated"], strict=False):
            lines[name] = mixdata.write(root, name, size, files=case["files"])
            names.append(name)
        weights = dict(zip(names, case["weights"], strict=False))
        plan = {
            "seed": case["seed"],
            "validation_fraction": case["fraction"],
            "allow_upsample": case["upsample"],
            "total": case["total"],
            "sources": [_source(root, name, weights[name]) for name in names],
        }
        # One process: forking per generated example would only slow the suite down.
        result, error = _attempt(root, plan, workers=1)
        if error is not None:
            assert error.code in {"SOURCE_TOO_SMALL", "EMPTY_SOURCE", "EMPTY_CUSTOMER_SOURCE"}
            assert error.code != "SOURCE_TOO_SMALL" or not case["upsample"]
            assert not (root / "out").exists()
            return
        report, train, validation = result

    total = len(train)
    by_source = Counter(mixdata.source_of(line) for line in train)
    whole = sum(weights.values())
    assert total == report["train"]["records"]
    if case["total"] is not None:
        assert total == case["total"]
    for entry in report["sources"]:
        name = entry["name"]
        assert by_source[name] == entry["selected"]
        # Exact: every count within one record of its share of the mix.
        assert abs(entry["selected"] - Fraction(weights[name], whole) * total) < 1
        # Byte-identical to input lines (all inputs are canonical here).
        chosen = [line for line in train if mixdata.source_of(line) == name]
        assert set(chosen) <= set(lines[name])
        # Sampling without replacement, whole passes plus a remainder: multiplicities differ by ≤ 1.
        counts = Counter(chosen)
        pool = [line for line in lines[name] if line not in set(validation)]
        multiplicities = [counts[line] for line in pool]
        assert max(multiplicities) - min(multiplicities) <= 1
        assert entry["repeats"] == entry["selected"] - len(counts)
        if not case["upsample"]:
            assert entry["repeats"] == 0
    assert set(validation).isdisjoint(train)
    assert set(validation) <= set(lines["customer"])
    assert report["validation"]["records"] == len(validation)
    if case["fraction"] == 0:
        assert validation == []
    if case["total"] is None:
        # Keep-all: every customer record exactly once, in train or in validation.
        customer_lines = [line for line in train if mixdata.source_of(line) == "customer"]
        assert sorted(customer_lines + validation) == sorted(lines["customer"])
    _assert_every_prefix_on_ratio(train, mixdata)


def _assert_every_prefix_on_ratio(train: list[bytes], mixdata: Any) -> None:
    sources = [mixdata.source_of(line) for line in train]
    final = Counter(sources)
    running: Counter[str] = Counter()
    for position, source in enumerate(sources, start=1):
        running[source] += 1
        for name, count in final.items():
            assert abs(running[name] - Fraction(count * position, len(sources))) < 1


@settings(max_examples=15, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 50), min_size=2, max_size=3),
    seed=st.integers(0, 1000),
    fraction=st.sampled_from([0.0, 0.3]),
    upsample_total=st.none() | st.integers(60, 200),
)
def test_same_plan_and_inputs_give_identical_bytes_whatever_the_listing(
    sizes: list[int], seed: int, fraction: float, upsample_total: int | None, mixdata: Any
) -> None:
    outputs = []
    layouts = (
        ({"files": 1}, 1),
        ({"files": 3, "shuffle": 1, "spaced": True}, None),  # scanned in parallel processes
        ({"files": 2, "shuffle": 2}, 1),
    )
    for layout, workers in layouts:
        with tempfile.TemporaryDirectory() as temporary:
            root = Path(temporary)
            names = ["customer", *CURATED[: len(sizes) - 1]]
            for name, size in zip(names, sizes, strict=True):
                mixdata.write(root, name, size, **layout)
            plan = {
                "seed": seed,
                "validation_fraction": fraction,
                "allow_upsample": True,
                "total": upsample_total,
                "sources": [_source(root, name, 1 + i) for i, name in enumerate(names)],
            }
            result, error = _attempt(root, plan, workers=workers)
            if error is not None:
                assert error.code == "EMPTY_CUSTOMER_SOURCE"
                return
            report, train, validation = result
            outputs.append((train, validation, report["train"]["sha256"], report["sources"][0]["selected"]))
    assert outputs[0] == outputs[1] == outputs[2]


def test_another_seed_gives_another_blend(tmp_path: Path, mixdata: Any) -> None:
    for name, size in (("customer", 200), ("general", 400)):
        mixdata.write(tmp_path, name, size)
    shas = set()
    for seed in (1, 2):
        plan = {
            "seed": seed,
            "sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)],
        }
        shas.add(_mix(tmp_path, plan)[0]["train"]["sha256"])
    assert len(shas) == 2


def test_the_scan_hashes_key_sorted_dumps_only_for_the_validation_hold_out(
    tmp_path: Path, mixdata: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14, third pass: the key-sorted dump (record_hash) was made for every record; the scan needs
    # it only to place customer records in or out of the hold-out.
    mixdata.write(tmp_path, "customer", 30)
    mixdata.write(tmp_path, "general", 50)
    sorted_records: list[int] = []
    dumps = orjson.dumps

    def counting(value: Any, *args: Any, **kwargs: Any) -> bytes:
        sort = kwargs.get("option", args[1] if len(args) > 1 else 0) & orjson.OPT_SORT_KEYS
        if sort and type(value) is dict and "messages" in value:
            sorted_records.append(1)
        return dumps(value, *args, **kwargs)

    monkeypatch.setattr(orjson, "dumps", counting)
    plan = {
        "seed": 3,
        "validation_fraction": 0.1,
        "sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)],
    }
    _mix(tmp_path, plan, workers=1)
    assert len(sorted_records) == 30  # one per customer record, none for the curated source


@settings(max_examples=20, deadline=None)
@given(
    customer=st.integers(1, 40),
    curated=st.integers(1, 60),
    weights=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    total=st.none() | st.integers(100, 20_000),
    seed=st.integers(0, 1000),
)
def test_token_shares_are_exact_within_half_a_record(
    customer: int, curated: int, weights: tuple[int, int], total: int | None, seed: int, mixdata: Any
) -> None:
    paddings = [0, 40, 400, 1200, 7]
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        lines = {
            "customer": mixdata.write(root, "customer", customer, paddings=paddings),
            "general": mixdata.write(root, "general", curated, paddings=paddings[::-1]),
        }
        plan = {
            "seed": seed,
            "unit": "tokens",
            "allow_upsample": True,
            "total": total,
            "sources": [_source(root, "customer", weights[0]), _source(root, "general", weights[1])],
        }
        report, train, _ = _mix(root, plan, workers=1)
    validator = RecordValidator()
    shares = [Fraction(w, sum(weights)) for w in weights]
    entries = report["sources"]
    mix_tokens = Fraction(entries[0]["available_tokens"]) / shares[0] if total is None else Fraction(total)
    for entry, share in zip(entries, shares, strict=True):
        biggest = max(validator.check(1, line).est_tokens for line in lines[entry["name"]])
        target = share * mix_tokens
        if total is None and entry["role"] == "customer":
            assert entry["est_tokens"] == entry["available_tokens"]
        assert abs(entry["est_tokens"] - target) <= Fraction(biggest, 2)
        assert entry["achieved_share"] == entry["achieved_token_share"]
    assert sum(e["est_tokens"] for e in entries) == report["train"]["est_tokens"]
    assert len(train) == report["train"]["records"]


def test_upsampling_the_customer_never_brings_validation_into_train(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 100)
    mixdata.write(tmp_path, "general", 1000)
    plan = {
        "seed": 3,
        "validation_fraction": 0.2,
        "allow_upsample": True,
        "total": 2000,
        "sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)],
    }
    report, train, validation = _mix(tmp_path, plan)
    customer = report["sources"][0]
    assert customer["selected"] == 1000
    assert customer["repeats"] == 1000 - customer["available"]
    assert customer["passes"] > 10
    assert validation
    assert set(validation).isdisjoint(train)


def test_a_curated_source_too_small_without_upsampling_fails_before_writing(
    tmp_path: Path, mixdata: Any
) -> None:
    mixdata.write(tmp_path, "customer", 700)
    mixdata.write(tmp_path, "general", 120)
    plan = {"sources": [_source(tmp_path, "customer", 0.7), _source(tmp_path, "general", 0.3)]}
    with pytest.raises(DataError) as caught:
        _mix(tmp_path, plan)
    message = str(caught.value)
    assert caught.value.code == "SOURCE_TOO_SMALL"
    assert "curated source 'general' has 120 records" in message
    assert "30.0 % of a 1,000-record mix needs 300" in message
    assert "lower its weight to ≤ 0.12" in message
    assert "allow_upsample: true (it would be repeated 2.50×)" in message
    assert not (tmp_path / "out").exists()
    # The suggested weight works.
    plan["sources"][1]["weight"] = 0.12
    report = _mix(tmp_path, plan)[0]
    assert report["sources"][1]["selected"] == 120


def test_an_empty_curated_source_is_an_error_even_when_rounding_would_give_it_nothing(
    tmp_path: Path, mixdata: Any
) -> None:
    mixdata.write(tmp_path, "customer", 1)
    mixdata.write(tmp_path, "general", 0)
    plan = {
        "total": 1,
        "sources": [_source(tmp_path, "customer", 1), _source(tmp_path, "general", 1)],
    }
    with pytest.raises(DataError, match="curated source 'general' holds no usable records") as caught:
        _mix(tmp_path, plan)
    assert caught.value.code == "EMPTY_SOURCE"
    assert not (tmp_path / "out").exists()


def test_max_records_caps_the_distinct_records_used(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 300)
    mixdata.write(tmp_path, "general", 500)
    plan = {
        "allow_upsample": True,
        "sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5, max_records=100)],
    }
    report, train, _ = _mix(tmp_path, plan)
    general = report["sources"][1]
    assert general["available"] == 500
    assert general["pool"] == 100
    assert general["selected"] == 300
    assert general["distinct"] == 100
    assert general["repeats"] == 200
    assert Counter(line for line in train if mixdata.source_of(line) == "general") == Counter(
        {line: 3 for line in set(train) if mixdata.source_of(line) == "general"}
    )


def test_non_canonical_input_is_written_canonically(tmp_path: Path, mixdata: Any) -> None:
    canonical = mixdata.write(tmp_path, "customer", 20, spaced=True)
    report, train, _ = _mix(tmp_path, {"sources": [_source(tmp_path, "customer", 1)]})
    assert sorted(train) == canonical
    assert report["longest_same_source_run"] == {"length": 20, "source": "customer", "start_line": 1}


def test_an_invalid_curated_record_names_source_file_and_line(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 10)
    mixdata.write(tmp_path, "general", 10)
    broken = tmp_path / "general" / "part-000.jsonl"
    lines = broken.read_bytes().splitlines()
    lines[3] = b'{"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}'
    broken.write_bytes(b"\n".join(lines) + b"\n")
    plan = {"sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)]}
    with pytest.raises(DataError) as caught:
        _mix(tmp_path, plan)
    message = str(caught.value)
    assert caught.value.code == "INVALID_SOURCE_RECORD"
    assert "curated source 'general'" in message
    assert f"{broken} line 4" in message
    assert not (tmp_path / "out").exists()


def test_sources_of_another_method_are_refused(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 10)
    mixdata.write(tmp_path, "general", 10, dpo=True)
    plan = {"sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)]}
    with pytest.raises(DataError, match=r"curated source 'general' holds DPO records .* the blend is SFT"):
        _mix(tmp_path, plan)


def test_dpo_blends_detect_their_method(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 10, dpo=True)
    mixdata.write(tmp_path, "general", 30, dpo=True)
    plan = {"sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)]}
    report = _mix(tmp_path, plan)[0]
    assert report["method"] == "dpo"
    # Sources may be scanned in parallel: whichever is found first is named.
    with pytest.raises(DataError, match=r"source '\w+' holds DPO records .* but the blend is SFT"):
        run_mix(parse_plan(plan), str(tmp_path / "o2"), Storage(), method=Method.SFT)


def test_an_unreadable_source_is_an_input_error_before_any_work(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 10)
    plan = {"sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "missing", 0.5)]}
    with pytest.raises(InputError) as caught:
        _mix(tmp_path, plan)
    assert caught.value.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_nova_categories_render_forge_config_and_mix_only_physical_sources(
    tmp_path: Path, mixdata: Any
) -> None:
    mixdata.write(tmp_path, "customer", 60)
    mixdata.write(tmp_path, "general", 100)
    plan = {
        "sources": [
            _source(tmp_path, "customer", 0.6),
            _source(tmp_path, "general", 0.2),
            {"name": "code", "uri": "nova:code", "weight": 0.2},
        ]
    }
    with pytest.raises(DataError, match=r"Nova-managed categories \(nova:code\)"):
        _mix(tmp_path, plan)
    report, train, _ = _mix(tmp_path, plan, compute=Compute.HYPERPOD)
    assert report["forge"]["customer_data_percent"] == 80
    assert report["forge"]["nova_data_percentages"] == {"code": 100}
    customer, general = report["sources"]
    assert (customer["target_share"], customer["mix_share"]) == (0.75, 0.6)
    assert (customer["selected"], general["selected"]) == (60, 20)
    assert len(train) == 80


def test_report_carries_provenance(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 30, files=2)
    mixdata.write(tmp_path, "general", 30)
    plan = {
        "seed": 9,
        "validation_fraction": 0.1,
        "sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)],
    }
    report = _mix(tmp_path, plan)[0]
    assert report["tool"]["name"] == "forgeflow"
    assert report["seed"] == 9
    assert report["plan"]["sources"][0]["share"] == 0.5
    inputs = report["inputs"]
    assert len(inputs) == 3
    for item in inputs:
        assert item["sha256"] == hashlib.sha256(Path(item["uri"]).read_bytes()).hexdigest()
        assert item["size"] == Path(item["uri"]).stat().st_size
    assert set(report["outputs"]) == {"train.jsonl", "validation.jsonl"}
    customer = report["sources"][0]
    assert customer["held_out"] + customer["available"] == 30
    assert report["validation"]["fraction"] == 0.1


def test_the_hold_out_is_the_same_split_as_forgeflow_split(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 300)
    split_uri(
        Storage(),
        str(tmp_path / "customer" / "part-000.jsonl"),
        str(tmp_path / "split"),
        fraction=0.2,
        seed=4,
    )
    plan = {"seed": 4, "validation_fraction": 0.2, "sources": [_source(tmp_path, "customer", 1)]}
    _, train, validation = _mix(tmp_path, plan)
    assert sorted(validation) == sorted((tmp_path / "split" / "validation.jsonl").read_bytes().splitlines())
    assert sorted(train) == sorted((tmp_path / "split" / "train.jsonl").read_bytes().splitlines())


@pytest.mark.parametrize("workers", [1, None])
def test_progress_is_reported_monotonically_up_to_the_total(
    tmp_path: Path, mixdata: Any, monkeypatch: pytest.MonkeyPatch, workers: int | None
) -> None:
    monkeypatch.setattr(progress, "_PROGRESS_STEP", 2048)
    mixdata.write(tmp_path, "customer", 200, paddings=[100])
    mixdata.write(tmp_path, "general", 400, paddings=[100])
    calls: list[tuple[int, int]] = []
    plan = parse_plan({"sources": [_source(tmp_path, "customer", 0.5), _source(tmp_path, "general", 0.5)]})
    run_mix(
        plan, str(tmp_path / "out"), Storage(), progress=lambda d, t: calls.append((d, t)), workers=workers
    )
    assert len(calls) > 2
    assert all(done <= total for done, total in calls)
    fractions = [done / total for done, total in calls]
    assert fractions == sorted(fractions)
    assert calls[-1][0] == calls[-1][1]


def one_token_per_message(record: dict[str, Any]) -> int:
    return len(record["messages"])


def test_the_token_estimator_is_pluggable(tmp_path: Path, mixdata: Any) -> None:
    mixdata.write(tmp_path, "customer", 30, paddings=[0, 900])
    mixdata.write(tmp_path, "general", 50, paddings=[3000])
    plan = {
        "unit": "tokens",
        "sources": [_source(tmp_path, "customer", 0.6), _source(tmp_path, "general", 0.4)],
    }
    report = _mix(tmp_path, plan, token_estimator=one_token_per_message)[0]
    # Two messages per record: token shares are record shares, exactly as planned.
    assert [s["selected"] for s in report["sources"]] == [30, 20]
    assert [s["est_tokens"] for s in report["sources"]] == [60, 40]
    assert report["token_estimator"].endswith("one_token_per_message")
    assert _mix(tmp_path, {**plan, "unit": "records"})[0]["token_estimator"] == "forgeflow.dataset.tokens"
