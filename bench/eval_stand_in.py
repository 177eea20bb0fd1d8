"""Benchmark of the emulated gen_qa evaluation: the retrieval stand-in and the metrics at scale.

    .venv/bin/python bench/eval_stand_in.py [--memory 50000] [--queries 5000] [--seed 7]

Builds a synthetic memory of `--memory` (prompt, response) pairs and `--queries` gen_qa queries, all
sharing one 40-word system prompt (the worst case for a plain inverted index: every query word of the
system prompt is in every item) with Zipf-distributed user words, then prints the time to index the
memory, to answer every query, and to score the answers with every gen_qa metric.
"""

from __future__ import annotations

import argparse
import random
import time

from forgeflow.evaluation.metrics import gen_qa_scores
from forgeflow_tools.local.stand_in import RetrievalModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    vocabulary = [f"w{index}" for index in range(20_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    system = " ".join(rng.choices(vocabulary[:2000], k=40))
    labels = [f"label/{index}" for index in range(50)]

    def prompt() -> str:
        return system + "\n" + " ".join(rng.choices(vocabulary, weights, k=rng.randint(8, 60)))

    def response() -> str:
        return rng.choice(labels) + " " + " ".join(rng.choices(vocabulary, weights, k=rng.randint(0, 40)))

    memory = [(prompt(), response()) for _ in range(args.memory)]
    queries = [(prompt(), response()) for _ in range(args.queries)]

    started = time.perf_counter()
    model = RetrievalModel(memory)
    indexed = time.perf_counter()
    answers = [(model.answer(query), reference) for query, reference in queries]
    answered = time.perf_counter()
    scores = gen_qa_scores(answers)
    scored = time.perf_counter()

    print(f"memory {len(model):,} pairs, {len(queries):,} queries")
    print(f"index     {indexed - started:7.2f} s")
    print(f"answer    {answered - indexed:7.2f} s  ({len(queries) / (answered - indexed):,.0f} queries/s)")
    print(f"metrics   {scored - answered:7.2f} s")
    print(f"total     {scored - started:7.2f} s")
    print("scores   ", {name: round(value, 4) for name, value in scores.items()})


if __name__ == "__main__":
    main()
