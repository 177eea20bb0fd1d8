"""gen_qa metrics on small cases worked out by hand, and the bit-parallel LCS against the textbook DP."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.evaluation.metrics import (
    GEN_QA_METRICS,
    exact_match,
    f1_score,
    f1_score_quasi,
    gen_qa_scores,
    lcs_length,
    normalize,
    quasi_exact_match,
    rouge_l,
    rouge_n,
    rouge_tokens,
    score_pair,
)


def test_normalize_is_the_squad_normalisation() -> None:
    assert normalize("  The Cat, sat on a   MAT! ") == "cat sat on mat"
    assert normalize("An apple") == "apple"
    assert normalize("theory") == "theory"  # articles only as whole words


def test_exact_and_quasi_exact_match() -> None:
    assert exact_match(" billing/refund\n", "billing/refund") == 1.0
    assert exact_match("Billing/refund", "billing/refund") == 0.0
    assert quasi_exact_match("The Billing/Refund.", "billing refund") == 0.0  # "/" is dropped, not spaced
    assert quasi_exact_match("The answer is Paris.", "answer is paris") == 1.0


def test_token_f1_strict_and_quasi() -> None:
    # prediction 4 tokens, reference 3, 2 shared ("cat", "sat"): P = 1/2, R = 2/3, F1 = 4/7.
    assert f1_score("the cat sat down", "a cat sat") == pytest.approx(4 / 7)
    # normalised: [cat, sat, down] vs [cat, sat]: P = 2/3, R = 1, F1 = 4/5.
    assert f1_score_quasi("the cat sat down", "a cat sat") == pytest.approx(4 / 5)
    # Case matters to the strict F1 only.
    assert f1_score("Cat", "cat") == 0.0
    assert f1_score_quasi("Cat", "cat") == 1.0
    # Multiset overlap: "a a b" vs "a b b" share one "a" and one "b".
    assert f1_score("a a b", "a b b") == pytest.approx(2 / 3)
    assert f1_score("", "") == 1.0
    assert f1_score("", "x") == 0.0
    assert f1_score("x", "") == 0.0


def test_rouge() -> None:
    assert rouge_tokens("Account/Locked, now!") == ["account", "locked", "now"]
    # [the, cat, sat] vs [the, cat, ran]: unigrams 2/3 → F = 2/3; bigrams (the cat) 1/2 → F = 1/2.
    assert rouge_n("the cat sat", "the cat ran", 1) == pytest.approx(2 / 3)
    assert rouge_n("the cat sat", "the cat ran", 2) == pytest.approx(1 / 2)
    # LCS of [a, b, c, d] and [a, c, b, d] is 3: P = R = 3/4.
    assert rouge_l("a b c d", "a c b d") == pytest.approx(3 / 4)
    assert rouge_n("single", "single", 2) == 1.0  # no bigram on either side
    assert rouge_l("", "x") == 0.0


def _lcs_dp(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        previous = 0
        for j, y in enumerate(b, start=1):
            current = row[j]
            row[j] = previous + 1 if x == y else max(row[j], row[j - 1])
            previous = current
    return row[-1]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from("abcd"), max_size=70),
    st.lists(st.sampled_from("abcd"), max_size=70),
)
def test_bit_parallel_lcs_equals_the_dynamic_programme(a: list[str], b: list[str]) -> None:
    assert lcs_length(a, b) == _lcs_dp(a, b)


def test_scores_are_means_over_the_pairs() -> None:
    scores = gen_qa_scores([("billing/refund", "billing/refund"), ("", "billing/refund")])
    assert set(scores) == set(GEN_QA_METRICS)
    assert scores["exact_match"] == 0.5
    assert scores["f1_score"] == 0.5
    assert scores["rougeL"] == 0.5
    assert gen_qa_scores([]) == {}


def test_rouge_of_disjoint_texts_is_zero_even_for_one_token() -> None:
    assert rouge_n("cat", "dog", 1) == 0.0
    assert rouge_n("cat sat", "dog ran", 2) == 0.0
    assert rouge_n("a", "a b", 1) == pytest.approx(2 / 3)  # one predicted unigram, two reference ones


def test_score_pair_names_each_rouge_by_its_n() -> None:
    scores = score_pair("a b c", "a b d")
    assert scores["rouge1"] == pytest.approx(2 / 3)
    assert scores["rouge2"] == pytest.approx(1 / 2)  # bigram (a, b) of two on each side; trigrams share none


def test_means_are_rounded_to_six_decimals() -> None:
    assert gen_qa_scores([("a", "a"), ("b", "c"), ("d", "e")])["exact_match"] == 0.333333
