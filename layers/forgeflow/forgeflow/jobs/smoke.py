"""The smoke job: five real optimizer steps on the same image, instance type, count and recipe.

- Nova 2.0 Lite: `training_config.max_steps: 5` (its documented minimum is 4); checkpoints every 5 steps.
- Nova 1.0 recipes have no max_steps (only `trainer.max_epochs`, at least 1), so the smoke job trains one
  epoch over a seeded subset of exactly 5 × global_batch_size records of the mixed training data: one epoch
  of that subset is exactly five steps. `smoke_indices` picks the subset deterministically from the record
  count and a seed; `write_smoke_subset` streams it out of the mixed data.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from typing import TYPE_CHECKING

from forgeflow.errors import DataError
from forgeflow.recipes.config import SMOKE_STEPS
from forgeflow.recipes.render import RenderedRecipe

if TYPE_CHECKING:
    # Annotations only: importing storage would load its S3 backend (boto3) with this module.
    from forgeflow.storage import Storage


def smoke_recipe(rendered: RenderedRecipe) -> RenderedRecipe:
    """The smoke variant of a rendered recipe: identical except for how long it trains."""
    recipe = copy.deepcopy(rendered.recipe)
    training = recipe["training_config"]
    if rendered.generation == 2:
        training["max_steps"] = SMOKE_STEPS
        training["save_steps"] = SMOKE_STEPS
    else:
        training["trainer"]["max_epochs"] = 1
    return RenderedRecipe(recipe=recipe, config=rendered.config, hpr_recipe=rendered.hpr_recipe, smoke=True)


def needs_subset(rendered: RenderedRecipe) -> bool:
    """True when the smoke job must train on a subset (Nova 1.0: no max_steps key)."""
    return rendered.generation == 1


def smoke_subset_size(rendered: RenderedRecipe) -> int:
    """5 × global_batch_size: one epoch over this many records is five optimizer steps."""
    return SMOKE_STEPS * rendered.global_batch_size


def smoke_indices(count: int, size: int, seed: int) -> list[int]:
    """`size` record indices out of `count`, deterministic for (count, size, seed), in record order.

    With fewer records than `size`, every record is taken in whole passes and the remainder is drawn
    without replacement (never sampling with replacement), so the subset is still exactly `size` long.
    """
    if count < 1:
        raise ValueError("cannot take a smoke subset of an empty dataset")
    if size < 1:
        raise ValueError(f"smoke subset size must be positive, got {size}")
    passes, remainder = divmod(size, count)
    # Reproducible selection, not security: a seeded PRNG is what is wanted.
    rng = random.Random(f"forgeflow-smoke:{seed}:{count}:{size}")
    chosen = Counter(dict.fromkeys(range(count), passes) if passes else {})
    chosen.update(rng.sample(range(count), remainder))
    return sorted(chosen.elements())


def write_smoke_subset(storage: Storage, train_uri: str, out_uri: str, *, size: int, seed: int) -> int:
    """Stream the smoke subset of a JSONL file to `out_uri`; returns the records written (== size)."""
    count = 0
    with storage.open_input(train_uri) as stream:
        for line in stream:
            if line.strip():
                count += 1
    if count == 0:
        raise DataError(f"{train_uri}: no records to take a smoke subset from", code="NO_RECORDS")
    wanted = Counter(smoke_indices(count, size, seed))
    written = 0
    with storage.open_input(train_uri) as stream, storage.open_output(out_uri) as out:
        index = 0
        for line in stream:
            if not line.strip():
                continue
            repeats = wanted.get(index, 0)
            if repeats:
                record = line if line.endswith(b"\n") else line + b"\n"
                for _ in range(repeats):
                    out.write(record)
                written += repeats
            index += 1
    return written
