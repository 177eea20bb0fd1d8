"""Record-walk edges the mutation run of record.py found untested (docs/mutation.md, 2026-12-01).

Each test reads what a user reads: the code, JSON pointer and message of every finding, or whether a
later record of the file is valid. The mutants they kill: a message that is no object reaching the
plain-turn shortcut's `len` and `.get`; the turn count reset by a message after a 'system' one; the
texts' total length subtracted on one path of `_content`; the method not fixed, or fixed by a record
without a messages array.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from converse_records import a, t, u

from forgeflow.dataset.record import RecordValidator
from forgeflow.dataset.validation import ValidationOptions
from forgeflow.nova import Method


def _findings(validator: RecordValidator, record: dict[str, Any]) -> list[tuple[str, str, str]]:
    outcome = validator.check(1, orjson.dumps(record))
    return [(i.path, i.code, i.message.split("; fix: ")[0]) for i in outcome.errors + outcome.warnings]


def test_a_message_that_is_no_object_is_a_wrong_type_whatever_its_length() -> None:
    # A number has no len() and a two-character string or two-item array has the length of a plain
    # turn's {role, content}: none may reach the dict tests.
    record = {"messages": [u(), 7, "ab", [1, 2], None, a()]}
    assert _findings(RecordValidator(), record) == [
        ("/messages/1", "WRONG_TYPE", "message is number, expected an object"),
        ("/messages/2", "WRONG_TYPE", "message is string, expected an object"),
        ("/messages/3", "WRONG_TYPE", "message is array, expected an object"),
        ("/messages/4", "WRONG_TYPE", "message is null, expected an object"),
    ]


def test_a_system_message_is_skipped_by_the_alternation_of_every_later_message() -> None:
    # The assistant turn after the 'system' message is not a plain turn (two text blocks), so the
    # general path numbers it; the user and assistant turns after it must still be in order.
    system = {"role": "system", "content": [t("be brief")]}
    record = {"messages": [u(), system, a(t("one"), t("two")), u(), a(), system, u(t("x"), t("y")), a()]}
    assert _findings(RecordValidator(), record) == [
        ("/messages/1/role", "SYSTEM_ROLE", "a 'system' role inside messages"),
        ("/messages/5/role", "SYSTEM_ROLE", "a 'system' role inside messages"),
    ]


@pytest.mark.parametrize("where", ["message", "candidate"])
def test_whitespace_texts_on_both_paths_of_a_content_are_only_whitespace_not_empty(where: str) -> None:
    # The first block takes the plain-text shortcut, the second (an extra key) the general path: their
    # lengths add up, they do not cancel out.
    blocks = [t("  "), {"text": "  ", "x": 1}]
    if where == "message":
        record = {"messages": [u(*blocks), a()]}
        path, whose = "/messages/0/content", "message's"
    else:
        candidates = [{"content": blocks, "preferenceLabel": "preferred"}]
        candidates.append({"content": [t("b")], "preferenceLabel": "non-preferred"})
        record = {"messages": [u(), {"role": "assistant", "candidates": candidates}]}
        path, whose = "/messages/1/candidates/0/content", "candidate's"
    assert _findings(RecordValidator(), record) == [
        (path, "EMPTY_TEXT", f"the {whose} text is only whitespace"),
        (f"{path}/1/x", "UNKNOWN_KEY", "unknown content-block key 'x'"),
    ]


DPO = {"messages": [u(), {"role": "assistant", "candidates": [
    {"content": [t("a")], "preferenceLabel": "preferred"},
    {"content": [t("b")], "preferenceLabel": "non-preferred"},
]}]}  # fmt: skip


def test_a_first_record_with_an_empty_messages_array_makes_the_file_sft() -> None:
    validator = RecordValidator()
    assert _findings(validator, {"messages": []}) == [
        ("/messages", "TOO_FEW_MESSAGES", "the record has 0 messages, at least 2 are needed")
    ]
    assert validator.method is Method.SFT
    assert _findings(validator, DPO) == [
        ("/messages/1/candidates", "METHOD_MISMATCH", "a DPO record (with candidates) in an SFT dataset")
    ]


@pytest.mark.parametrize("first", [{"system": [t("s")]}, {"messages": "hi"}], ids=["missing", "string"])
def test_a_first_record_without_a_messages_array_leaves_the_method_to_the_next(first: dict[str, Any]) -> None:
    validator = RecordValidator()
    assert [code for _, code, _ in _findings(validator, first)] in (["MISSING_MESSAGES"], ["WRONG_TYPE"])
    assert validator.method is None
    assert _findings(validator, DPO) == []
    assert validator.method is Method.DPO


def test_an_empty_messages_array_does_not_change_the_method_already_fixed() -> None:
    validator = RecordValidator(ValidationOptions(method=Method.DPO))
    assert [code for _, code, _ in _findings(validator, {"messages": []})] == ["TOO_FEW_MESSAGES"]
    assert _findings(validator, DPO) == []
    assert validator.method is Method.DPO
