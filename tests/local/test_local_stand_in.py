"""The emulator's retrieval stand-in: nearest neighbour by word Jaccard, ties, empty memory, DPO records."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow_tools.local.stand_in import RetrievalModel, converse_pair, words


def test_words_are_lower_cased_sets() -> None:
    assert words("Where IS my parcel? my parcel!") == {"where", "is", "my", "parcel"}


def test_the_most_overlapping_prompt_wins() -> None:
    model = RetrievalModel([("where is my parcel", "shipping"), ("refund my charge", "billing")])
    assert model.answer("my parcel never came") == "shipping"
    assert model.answer("REFUND the charge") == "billing"


def test_ties_go_to_the_earliest_item() -> None:
    model = RetrievalModel([("alpha beta", "first"), ("alpha gamma", "second"), ("alpha beta", "third")])
    assert model.answer("alpha") == "first"  # 1/2 for every item
    assert model.answer("gamma beta") == "first"  # 1/3 for all three
    assert model.answer("nothing shared") == "first"  # 0 for all


def test_a_smaller_prompt_with_the_same_overlap_scores_higher() -> None:
    model = RetrievalModel([("alpha beta gamma delta", "long"), ("alpha zeta", "short")])
    assert model.answer("alpha") == "short"  # 1/2 beats 1/4


def test_an_empty_memory_answers_nothing() -> None:
    model = RetrievalModel([])
    assert len(model) == 0
    assert model.answer("anything") == ""


def test_words_in_most_prompts_are_handled_through_the_items_that_lack_them() -> None:
    # "triage" is in 3 of 4 prompts (indexed by absence); the best item lacks no query word.
    model = RetrievalModel(
        [("triage parcel", "a"), ("triage refund", "b"), ("triage password reset", "c"), ("password", "d")]
    )
    assert model.answer("triage password") == "c"  # 2/3 beats d's 1/2 and a's/b's 1/3


def test_converse_pairs_of_sft_and_dpo_records() -> None:
    sft: dict[str, Any] = {
        "system": [{"text": "You triage."}],
        "messages": [
            {"role": "user", "content": [{"text": "first"}]},
            {"role": "assistant", "content": [{"text": "one"}]},
            {"role": "user", "content": [{"text": "second"}, {"image": {"format": "png"}}]},
            {"role": "assistant", "content": [{"text": "two"}]},
        ],
    }
    assert converse_pair(sft) == ("You triage.\nfirst\nsecond", "two")
    dpo = {
        "messages": [
            {"role": "user", "content": [{"text": "q"}]},
            {
                "role": "assistant",
                "candidates": [
                    {"content": [{"text": "bad"}], "preferenceLabel": "non-preferred"},
                    {"content": [{"text": "good"}], "preferenceLabel": "preferred"},
                ],
            },
        ]
    }
    assert converse_pair(dpo) == ("q", "good")
    assert converse_pair({"messages": [{"role": "user", "content": [{"text": "q"}]}]}) is None
    assert converse_pair(["not", "a", "record"]) is None


def _brute_force(pairs: list[tuple[str, str]], query: str) -> str:
    q = words(query)

    def jaccard(prompt: str) -> float:
        m = words(prompt)
        return len(q & m) / len(q | m) if q | m else 1.0

    best = max(range(len(pairs)), key=lambda i: (jaccard(pairs[i][0]), -i))
    return pairs[best][1]


_TEXT = st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), max_size=5).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=12), _TEXT)
def test_the_index_answers_what_a_brute_force_scan_does(prompts: list[str], query: str) -> None:
    pairs = [(prompt, str(index)) for index, prompt in enumerate(prompts)]
    assert RetrievalModel(pairs).answer(query) == _brute_force(pairs, query)
