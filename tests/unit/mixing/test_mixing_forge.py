"""Nova-managed categories: the Forge data-mixing configuration and where it is refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.errors import DataError
from forgeflow.mixing.forge import Compute, check_compute, forge_data_mixing, known_categories
from forgeflow.mixing.plan import MixPlan, parse_plan
from forgeflow.nova import Method, NovaModel


def _plan(*sources: tuple[str, float], seed: int = 42) -> MixPlan:
    entries: list[dict[str, Any]] = [
        {"name": "customer", "role": "customer", "uri": "c.jsonl", "weight": 0.5}
    ]
    for uri, weight in sources:
        name = uri.replace(":", "-").replace("/", "-").strip("-")
        entries.append({"name": name, "uri": uri, "weight": weight})
    return parse_plan({"seed": seed, "sources": entries})


def test_a_plan_without_nova_categories_has_no_forge_configuration() -> None:
    assert forge_data_mixing(_plan(("s3://b/general/", 0.5))) is None


def test_customer_share_and_relative_category_percentages() -> None:
    # 50 customer + 20 physical curated + 9 code + 21 math: Forge's "customer data" is the whole file.
    config = forge_data_mixing(_plan(("s3://b/general/", 0.2), ("nova:code", 0.09), ("nova:math", 0.21)))
    assert config is not None
    assert config["customer_data_percent"] == 70
    assert config["nova_data_percentages"] == {"code": 30, "math": 70}
    assert config["hyperparameters"] == {
        "customer_data_percent": "70",
        "nova_code_percent": "30",
        "nova_math_percent": "70",
    }
    assert config["recipe"]["training_config"]["data_mixing"]["sources"] == {
        "customer_data": {"percent": 70},
        "nova_data": {"code": 30, "math": 70},
    }
    assert config["modality"] == "text"


def test_thirds_keep_two_decimals_and_sum_to_exactly_one_hundred() -> None:
    config = forge_data_mixing(_plan(("nova:code", 1), ("nova:math", 1), ("nova:stem", 1)))
    assert config is not None
    values = list(config["nova_data_percentages"].values())
    assert sorted(values) == [33.33, 33.33, 33.34]
    assert round(sum(values), 6) == 100
    assert config["customer_data_percent"] == 14.29


@settings(max_examples=100, deadline=None)
@given(weights=st.lists(st.integers(1, 100), min_size=1, max_size=5), seed=st.integers(0, 1000))
def test_category_percentages_always_sum_to_one_hundred(weights: list[int], seed: int) -> None:
    categories = known_categories()["text"]
    config = forge_data_mixing(
        _plan(*[(f"nova:{categories[i]}", w) for i, w in enumerate(weights)], seed=seed)
    )
    assert config is not None
    total_basis_points = sum(round(v * 100) for v in config["nova_data_percentages"].values())
    assert total_basis_points == 10_000
    assert 0 < config["customer_data_percent"] < 100


def test_unknown_category_lists_the_known_ones() -> None:
    with pytest.raises(DataError, match="unknown Nova category 'nova:cooking'") as caught:
        forge_data_mixing(_plan(("nova:cooking", 0.3)))
    assert "math" in str(caught.value)


def test_a_share_that_rounds_to_zero_is_refused() -> None:
    with pytest.raises(DataError, match="would get 0 %"):
        forge_data_mixing(_plan(("nova:code", 0.00001)))


def test_serverful_jobs_refuse_nova_categories_with_an_explanation() -> None:
    plan = _plan(("nova:code", 0.3))
    with pytest.raises(DataError) as caught:
        check_compute(plan, Compute.SERVERFUL, method=Method.SFT, model=NovaModel.LITE)
    message = str(caught.value)
    assert caught.value.code == "FORGE_NOT_AVAILABLE"
    assert "nova:code" in message
    assert "serverful" in message
    assert "--compute hyperpod" in message


@pytest.mark.parametrize(
    ("compute", "method", "model", "uri", "code"),
    [
        (Compute.HYPERPOD, Method.DPO, NovaModel.LITE, "nova:code", "FORGE_METHOD_UNSUPPORTED"),
        (Compute.SERVERLESS, Method.SFT, NovaModel.LITE, "nova:code", "FORGE_MODEL_UNSUPPORTED"),
        (Compute.SERVERLESS, Method.SFT, NovaModel.LITE_2, "nova:charts", "FORGE_MODALITY_UNSUPPORTED"),
    ],
)
def test_forge_limits_by_compute_method_and_model(
    compute: Compute, method: Method, model: NovaModel, uri: str, code: str
) -> None:
    with pytest.raises(DataError) as caught:
        check_compute(_plan((uri, 0.3)), compute, method=method, model=model)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("compute", "model"),
    [
        (Compute.HYPERPOD, NovaModel.LITE),
        (Compute.HYPERPOD, NovaModel.PRO),
        (Compute.SERVERLESS, NovaModel.LITE_2),
    ],
)
def test_supported_forge_targets_pass(compute: Compute, model: NovaModel) -> None:
    check_compute(_plan(("nova:code", 0.3)), compute, method=Method.SFT, model=model)


def test_plans_without_categories_run_anywhere() -> None:
    check_compute(_plan(("s3://b/g/", 0.3)), Compute.SERVERFUL, method=Method.DPO, model=NovaModel.MICRO)


def test_a_customer_share_that_rounds_to_zero_names_the_physical_side() -> None:
    with pytest.raises(DataError, match="physically mixed sources would get 0 %"):
        forge_data_mixing(_plan(("nova:code", 100_000)))
