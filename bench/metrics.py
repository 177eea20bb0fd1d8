"""Benchmark of `classification_metrics` at the seed's scale: 1,420 labels × 10⁵ predictions.

    .venv/bin/python bench/metrics.py [--labels 1420] [--records 100000] [--seed 7]

Draws references uniformly from `--labels` labels and predictions that are right 60 % of the time (the
rest a random label, some outside the set), then prints the best of three timings of one call.
"""

from __future__ import annotations

import argparse
import random
import time

from forgeflow.evaluation.metrics import classification_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1420)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    names = [f"category {index}" for index in range(args.labels)]
    references = [rng.choice(names) for _ in range(args.records)]
    wrong = [*names, "not a label"]
    predictions = [gold if rng.random() < 0.6 else rng.choice(wrong) for gold in references]
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        metrics = classification_metrics(references, predictions)
        timings.append(time.perf_counter() - started)
    print(
        f"classification_metrics: {args.labels} labels x {args.records} predictions: "
        f"best {min(timings):.3f} s of 3 (macro_f1 {metrics['macro_f1']:.4f}, "
        f"accuracy {metrics['accuracy']:.4f})"
    )


if __name__ == "__main__":
    main()
