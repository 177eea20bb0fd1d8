"""The smoke job: max_steps 5 on Nova 2.0 Lite, one epoch over 5 × global_batch_size records on Nova 1.0."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.errors import DataError
from forgeflow.jobs.smoke import (
    needs_subset,
    smoke_indices,
    smoke_recipe,
    smoke_subset_size,
    write_smoke_subset,
)
from forgeflow.nova import NovaModel, Technique
from forgeflow.recipes.config import TrainingConfig
from forgeflow.recipes.render import render_recipe
from forgeflow.storage import Storage


def test_jobs_smoke_nova2_trains_five_steps() -> None:
    full = render_recipe(TrainingConfig(model=NovaModel.LITE_2, overrides={"training_config.max_steps": 500}))
    smoke = smoke_recipe(full)
    assert smoke.smoke
    assert not full.smoke
    assert smoke.max_steps == 5
    assert smoke.recipe["training_config"]["save_steps"] == 5
    assert not needs_subset(full)
    # Everything else is the same recipe.
    for key in ("run", "training_config"):
        a, b = dict(full.recipe[key]), dict(smoke.recipe[key])
        for changed in ("max_steps", "save_steps"):
            a.pop(changed, None)
            b.pop(changed, None)
        assert a == b


@pytest.mark.parametrize("technique", list(Technique))
def test_jobs_smoke_nova1_one_epoch_over_five_batches(technique: Technique) -> None:
    full = render_recipe(
        TrainingConfig(
            model=NovaModel.MICRO, technique=technique, overrides={"training_config.global_batch_size": 32}
        )
    )
    smoke = smoke_recipe(full)
    assert smoke.max_epochs == 1
    assert needs_subset(full)
    assert smoke_subset_size(full) == 160
    assert smoke.replicas == full.replicas
    assert smoke.instance_type == full.instance_type
    assert smoke.recipe["training_config"]["model"] == full.recipe["training_config"]["model"]
    assert "max_steps" not in smoke.recipe["training_config"]


def test_jobs_smoke_indices_are_deterministic_and_seeded() -> None:
    assert smoke_indices(1000, 80, 7) == smoke_indices(1000, 80, 7)
    assert smoke_indices(1000, 80, 7) != smoke_indices(1000, 80, 8)


@settings(max_examples=200, deadline=None)
@given(count=st.integers(1, 3000), size=st.integers(1, 1280), seed=st.integers(0, 2**32))
def test_jobs_smoke_indices_properties(count: int, size: int, seed: int) -> None:
    indices = smoke_indices(count, size, seed)
    assert len(indices) == size
    assert indices == sorted(indices)
    assert all(0 <= i < count for i in indices)
    # Without replacement inside each pass: no record appears more than ceil(size / count) times, and the
    # multiplicities differ by at most one.
    counts = [indices.count(i) for i in set(indices)]
    assert max(counts) - (size // count) <= 1
    if size <= count:
        assert len(set(indices)) == size


def test_jobs_smoke_indices_refuse_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        smoke_indices(0, 5, 1)


def test_jobs_smoke_write_subset(tmp_path: Path) -> None:
    source = tmp_path / "train.jsonl"
    source.write_bytes(b"".join(b'{"i": %d}\n' % i for i in range(50)) + b"\n")
    out = tmp_path / "smoke.jsonl"
    storage = Storage(None)
    assert write_smoke_subset(storage, str(source), str(out), size=20, seed=3) == 20
    lines = out.read_bytes().splitlines()
    assert len(lines) == 20
    assert lines == [b'{"i": %d}' % i for i in smoke_indices(50, 20, 3)]
    # Smaller than the subset: whole passes plus a remainder, still exactly `size` lines.
    assert write_smoke_subset(storage, str(source), str(out), size=120, seed=3) == 120
    assert len(out.read_bytes().splitlines()) == 120


def test_jobs_smoke_write_subset_of_empty_data_is_a_data_error(tmp_path: Path) -> None:
    source = tmp_path / "train.jsonl"
    source.write_bytes(b"\n")
    with pytest.raises(DataError, match="no records"):
        write_smoke_subset(Storage(None), str(source), str(tmp_path / "s.jsonl"), size=5, seed=1)
