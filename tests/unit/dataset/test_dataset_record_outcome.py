"""What one record's outcome carries besides its findings (record.py), and the entry points' contracts.

The report (report.py) and the mixer (mixing/objectscan.py) read more than the findings: the record and
its canonical line (written back), the key-sorted dump (what duplicate detection digests), the method
(a DPO record in an SFT source is named), the counts and the token estimate. The fast path must give the
same counts and estimate as the full walk for every record it accepts (fast.py: "no walk, no findings").
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from converse_records import a, t, u

from forgeflow.dataset.record import RecordValidator
from forgeflow.dataset.validation import ValidationOptions
from forgeflow.nova import Method, NovaModel


def media(kind: str, fmt: str) -> dict[str, Any]:
    return {kind: {"format": fmt, "source": {"s3Location": {"uri": f"s3://m/{kind}"}}}}


PAIR = [
    {"content": [t("a")], "preferenceLabel": "preferred"},
    {"content": [t("b")], "preferenceLabel": "non-preferred"},
]
SFT = {"messages": [u(), a()]}
DPO = {"messages": [u(), {"role": "assistant", "candidates": PAIR}]}


def _codes(outcome: Any) -> list[tuple[int, str, str]]:
    return [(i.line, i.path, i.code) for i in outcome.errors + outcome.warnings]


def test_dataset_record_a_walked_valid_record_keeps_its_record_line_and_sorted_dump() -> None:
    # An unknown top-level key is a warning (codes.yaml): valid, but only the full walk can say so.
    record = {"zeta": 1, "messages": [u(), a()], "system": [t("s")]}
    outcome = RecordValidator().check(3, orjson.dumps(record))
    assert _codes(outcome) == [(3, "/zeta", "UNKNOWN_KEY")]
    assert outcome.valid
    assert outcome.record == record
    assert outcome.canonical == orjson.dumps(record)
    assert outcome.sorted_json == orjson.dumps(record, option=orjson.OPT_SORT_KEYS) != orjson.dumps(record)


@pytest.mark.parametrize(("record", "method"), [(SFT, Method.SFT), (DPO, Method.DPO)], ids=["sft", "dpo"])
def test_dataset_record_the_outcome_names_the_record_method_on_both_paths(
    record: dict[str, Any], method: Method
) -> None:
    fast = RecordValidator().check(1, orjson.dumps(record))
    assert fast.valid
    assert fast.sorted_json is None
    assert fast.method is method
    walked = RecordValidator().check(1, orjson.dumps({**record, "zeta": 1}))
    assert walked.sorted_json is not None  # the full walk
    assert walked.method is method


def test_dataset_record_a_dpo_record_in_an_sft_dataset_is_named_dpo() -> None:
    outcome = RecordValidator(ValidationOptions(method=Method.SFT)).check(1, orjson.dumps(DPO))
    assert _codes(outcome) == [(1, "/messages/1/candidates", "METHOD_MISMATCH")]
    assert outcome.method is Method.DPO  # what the mixer names (objectscan.method_mismatch)


# Valid records of every shape the fast path accepts: counts and estimate must equal the full walk's.
FAST_SHAPES: list[tuple[str, NovaModel, dict[str, Any]]] = [
    ("video", NovaModel.LITE, {"messages": [u(t("watch"), media("video", "mp4")), a()]}),
    ("document", NovaModel.LITE, {"messages": [u(t("read"), media("document", "pdf")), a()]}),
    ("images", NovaModel.LITE, {"messages": [u(media("image", "png"), media("image", "jpeg")), a()]}),
    ("empty-system", NovaModel.LITE, {"system": [], "messages": [u(), a()]}),
    ("system", NovaModel.LITE, {"system": [t("be brief")], "messages": [u(), a(), u(), a()]}),
    ("two-system-blocks", NovaModel.LITE, {"system": [t("be brief"), t("and kind")], "messages": [u(), a()]}),
    ("dpo", NovaModel.LITE, DPO),
    ("lite-2", NovaModel.LITE_2, {"messages": [u(), a()]}),
]


@pytest.mark.parametrize(("model", "record"), [c[1:] for c in FAST_SHAPES], ids=[c[0] for c in FAST_SHAPES])
def test_dataset_record_the_fast_path_counts_as_the_full_walk(
    model: NovaModel, record: dict[str, Any]
) -> None:
    options = ValidationOptions(model=model)
    assert RecordValidator(options).fast_counts(record, clear=False) is not None  # the fast path takes it
    fast = RecordValidator(options).check(1, orjson.dumps(record))
    walked = RecordValidator(options).check_record_walk(1, record, clear=False)
    assert fast.valid
    assert walked.valid
    assert fast.counts == walked.counts
    assert fast.est_tokens == walked.est_tokens > 0


def test_dataset_record_an_empty_system_adds_no_system_tokens() -> None:
    plain = RecordValidator().check_record_walk(1, {"messages": [u(), a()]}, clear=False)
    empty = RecordValidator().check_record_walk(1, {"system": [], "messages": [u(), a()]}, clear=False)
    assert empty.counts is not None
    assert not empty.counts.has_system
    assert empty.est_tokens == plain.est_tokens


def test_dataset_record_check_record_tests_every_text_of_a_parsed_record() -> None:
    # Conversion output has no raw line, so nothing has cleared its texts of reserved strings.
    outcome = RecordValidator().check_record(4, {"messages": [u(t("see <unk>")), a()]})
    assert _codes(outcome) == [(4, "/messages/0/content/0/text", "RESERVED_TOKEN")]
    assert outcome.canonical is None


def test_dataset_record_a_broken_line_is_a_parse_error_unless_it_is_the_unterminated_last() -> None:
    validator = RecordValidator()
    assert _codes(validator.check(7, b'{"messages": [')) == [(7, "", "JSON_PARSE")]
    assert _codes(validator.check(7, b'{"messages": [', last_unterminated=True)) == [
        (7, "", "TRUNCATED_LINE")
    ]


def test_dataset_record_a_system_block_with_an_extra_key_still_has_its_text_checked() -> None:
    record = {"system": [{"text": "User: hi", "x": 1}, {"text": 5, "y": 2}], "messages": [u(), a()]}
    assert _codes(RecordValidator().check(1, orjson.dumps(record))) == [
        (1, "/system/0", "SYSTEM_BLOCK"),
        (1, "/system/0/text", "RESERVED_TOKEN"),
        (1, "/system/1", "SYSTEM_BLOCK"),
        (1, "/system/1/text", "WRONG_TYPE"),
    ]


def test_dataset_record_a_lone_candidates_message_is_a_dpo_record() -> None:
    # One message, and it holds the candidates: a DPO record (too short, and starting with the
    # assistant), not an SFT record missing its candidates.
    record = {"messages": [{"role": "assistant", "candidates": PAIR}]}
    outcome = RecordValidator(ValidationOptions(method=Method.DPO)).check(1, orjson.dumps(record))
    assert _codes(outcome) == [(1, "/messages", "TOO_FEW_MESSAGES"), (1, "/messages/0/role", "ROLE_ORDER")]
    assert outcome.method is Method.DPO
