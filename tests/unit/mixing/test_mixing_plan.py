"""The mix plan: its file shape, defaults, and the messages invalid plans get."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from forgeflow.errors import DataError, InputError
from forgeflow.mixing.plan import DEFAULT_SEED, MixPlan, Unit, load_plan, parse_plan

ISSUE_EXAMPLE = """\
seed: 42
unit: records            # or: tokens
validation_fraction: 0.1 # held out from the customer source only
allow_upsample: false
total: null              # null = keep every customer record once; or an integer total
sources:
  - name: customer
    role: customer       # exactly one source has this role
    uri: data/customer.jsonl      # local path, s3:// URI, or a prefix (all .jsonl under it)
    weight: 0.7
  - name: general
    uri: s3://my-bucket/curated/general/
    weight: 0.3
    max_records: null
"""


def _plan(**changes: Any) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "sources": [
            {"name": "customer", "role": "customer", "uri": "c.jsonl", "weight": 0.7},
            {"name": "general", "uri": "s3://b/general/", "weight": 0.3},
        ]
    }
    plan.update(changes)
    return plan


def _error(data: Any) -> str:
    with pytest.raises(DataError) as caught:
        parse_plan(data)
    assert caught.value.exit_code == 1
    return str(caught.value)


def test_the_issue_example_loads_from_a_file_with_paths_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "plans").mkdir()
    path = tmp_path / "plans" / "plan.yaml"
    path.write_text(ISSUE_EXAMPLE)
    plan = load_plan(path)
    assert plan.seed == 42
    assert plan.unit is Unit.RECORDS
    assert plan.validation_fraction == 0.1
    assert plan.total is None
    assert plan.customer.uri == str(tmp_path / "plans" / "data" / "customer.jsonl")
    assert plan.sources[1].uri == "s3://my-bucket/curated/general/"
    assert plan.share(plan.customer) == pytest.approx(0.7)


def test_defaults_are_filled_and_recorded() -> None:
    plan = parse_plan(_plan())
    assert plan.seed == DEFAULT_SEED
    assert plan.unit is Unit.RECORDS
    assert plan.allow_upsample is False
    resolved = plan.resolved()
    assert resolved["seed"] == DEFAULT_SEED
    assert [s["share"] for s in resolved["sources"]] == [0.7, 0.3]
    assert resolved["sources"][1]["role"] == "curated"


def test_weights_are_normalised_shares_of_the_final_mix() -> None:
    plan = parse_plan(
        _plan(
            sources=[
                {"name": "c", "role": "customer", "uri": "c.jsonl", "weight": 7},
                {"name": "g", "uri": "g.jsonl", "weight": 2},
                {"name": "code", "uri": "nova:code", "weight": 1},
            ]
        )
    )
    assert [plan.share(s) for s in plan.sources] == [0.7, 0.2, 0.1]
    assert [plan.physical_share(s) for s in plan.physical] == [pytest.approx(7 / 9), pytest.approx(2 / 9)]
    assert [s.name for s in plan.nova] == ["code"]


def test_json_text_and_mappings_load_too() -> None:
    text = '{"sources": [{"name": "c", "role": "customer", "uri": "c.jsonl", "weight": 1}]}'
    assert isinstance(load_plan(text), MixPlan)
    assert isinstance(load_plan(_plan()), MixPlan)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sources": [{"name": "g", "uri": "g.jsonl", "weight": 1}]}, "no source has role: customer"),
        (
            {
                "sources": [
                    {"name": "a", "role": "customer", "uri": "a.jsonl", "weight": 1},
                    {"name": "b", "role": "customer", "uri": "b.jsonl", "weight": 1},
                ]
            },
            "2 sources have role: customer (a, b)",
        ),
        (
            {
                "sources": [
                    {"name": "a", "role": "customer", "uri": "a.jsonl", "weight": 1},
                    {"name": "a", "uri": "b.jsonl", "weight": 1},
                ]
            },
            "two sources are named 'a'",
        ),
        (
            {"sources": [{"name": "a", "role": "customer", "uri": "a.jsonl", "weight": 0}]},
            "sources[0].weight: weight must be a positive number (got 0.0)",
        ),
        (
            {"sources": [{"name": "a", "role": "customer", "uri": "a.jsonl", "weight": -0.2}]},
            "remove the source instead of giving it weight 0",
        ),
        (
            {"sources": [{"name": "a", "role": "customer", "uri": "a.jsonl", "weigth": 1}]},
            "sources[0].weigth: unknown key",
        ),
        ({"unit": "bytes"}, "unit: Input should be 'records' or 'tokens'"),
        ({"validation_fraction": 0.9}, "validation_fraction: Input should be less than or equal to 0.5"),
        ({"total": 0}, "total: Input should be greater than or equal to 1"),
        (
            {"sources": [{"name": "a", "role": "customer", "uri": "nova:code", "weight": 1}]},
            "the customer source must be your own JSONL data",
        ),
        (
            {
                "sources": [
                    {"name": "a", "role": "customer", "uri": "a.jsonl", "weight": 1},
                    {"name": "b", "uri": "nova:Code!", "weight": 1},
                ]
            },
            "is not a Nova category",
        ),
        (
            {
                "sources": [
                    {"name": "a", "role": "customer", "uri": "a.jsonl", "weight": 1},
                    {"name": "b", "uri": "nova:code", "weight": 1},
                    {"name": "c", "uri": "nova:code", "weight": 1},
                ]
            },
            "nova:code is listed twice",
        ),
        (
            {"sources": [{"name": "bad name", "role": "customer", "uri": "a.jsonl", "weight": 1}]},
            "name 'bad name' must be",
        ),
        ({"sources": []}, "sources: List should have at least 1 item"),
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
    ],
)
def test_invalid_plans_say_where_and_what_to_change(change: dict[str, Any], expected: str) -> None:
    assert expected in _error(_plan(**change))


def test_a_plan_that_is_not_a_mapping_is_refused() -> None:
    assert "must be a mapping" in _error(["sources"])


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("seed: 1\nsources: [\n  {name: a\n")
    with pytest.raises(DataError, match=r"plan\.yaml: line \d+, column \d+: not valid YAML"):
        load_plan(path)


def test_a_missing_plan_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_plan(tmp_path / "absent.yaml")
    assert caught.value.exit_code == 2
