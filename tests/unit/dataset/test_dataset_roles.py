"""Role rules at every position: alternation (user first, then assistant, ...) and the system role.

A mutant that checked the order of messages 0-1 only passed the whole suite once (issue 17, item 3): these
properties break the order anywhere, for SFT and DPO records.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeflow.dataset.validation import RecordValidator, ValidationOptions
from forgeflow.nova import Method

ROLES = ("user", "assistant")


def _message(role: str, index: int) -> dict[str, Any]:
    return {"role": role, "content": [{"text": f"turn {index}"}]}


def _candidates() -> dict[str, Any]:
    return {
        "role": "assistant",
        "candidates": [
            {"content": [{"text": "Sorry, I have opened a trace."}], "preferenceLabel": "preferred"},
            {"content": [{"text": "Wait."}], "preferenceLabel": "non-preferred"},
        ],
    }


def _record(roles: list[str], *, dpo: bool) -> dict[str, Any]:
    messages = [_message(role, index) for index, role in enumerate(roles)]
    if dpo:
        messages[-1] = _candidates() | {"role": roles[-1]}
    return {"messages": messages}


def _findings(record: dict[str, Any], method: Method) -> list[tuple[str, str]]:
    outcome = RecordValidator(ValidationOptions(method=method)).check(1, orjson.dumps(record))
    return [(issue.code, issue.path) for issue in outcome.errors]


def _alternating(count: int) -> list[str]:
    return [ROLES[index & 1] for index in range(count)]


@settings(max_examples=200, deadline=None)
@given(roles=st.lists(st.sampled_from(ROLES), min_size=2, max_size=9), dpo=st.booleans())
def test_any_non_alternating_sequence_is_rejected_at_its_first_wrong_role(
    roles: list[str], dpo: bool
) -> None:
    expected = _alternating(len(roles))
    record = _record(roles, dpo=dpo)
    findings = _findings(record, Method.DPO if dpo else Method.SFT)
    order = [path for code, path in findings if code == "ROLE_ORDER"]
    if roles == expected:
        assert order == []
        return
    first = next(index for index, (got, want) in enumerate(zip(roles, expected, strict=True)) if got != want)
    assert order, findings
    assert order[0] == f"/messages/{first}/role"


@settings(max_examples=100, deadline=None)
@given(
    exchanges=st.integers(1, 4),
    where=st.data(),
    dpo=st.booleans(),
    spelling=st.sampled_from(["system", "System"]),
)
def test_a_system_role_anywhere_is_one_error(
    exchanges: int, where: st.DataObject, dpo: bool, spelling: str
) -> None:
    roles = _alternating(2 * exchanges)
    position = where.draw(st.integers(0, len(roles) - (1 if dpo else 0)))
    record = _record(roles, dpo=dpo)
    record["messages"].insert(position, _message(spelling, position))
    findings = _findings(record, Method.DPO if dpo else Method.SFT)
    assert findings == [("SYSTEM_ROLE", f"/messages/{position}/role")]


def test_the_openai_style_system_first_record_gets_one_error() -> None:
    record = {"messages": [_message("system", 0), _message("user", 1), _message("assistant", 2)]}
    assert _findings(record, Method.SFT) == [("SYSTEM_ROLE", "/messages/0/role")]
