"""Issue #15: `forgeflow runs logs` on a stack is one Logs Insights query on the run id correlation id.

moto's Logs Insights does not run Powertools-style JSON filters, so the client here is a stand-in that
records the query and answers like `GetQueryResults` (CloudWatch Logs API reference).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from forgeflow.aws.runs import DeployedRuns
from forgeflow.errors import InputError

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


class InsightsStandIn:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.started: dict[str, Any] = {}

    def start_query(self, **query: Any) -> dict[str, str]:
        self.started = query
        return {"queryId": "q1"}

    def get_query_results(self, queryId: str) -> dict[str, Any]:  # noqa: N803 (the API's name)
        row = [
            {"field": "@timestamp", "value": "2026-12-01 09:00:01.000"},
            {"field": "@log", "value": "123456789012:/aws/lambda/s-MixDataFunction-x"},
            {"field": "@message", "value": '{"message": "data mixed", "correlation_id": "r-1"}\n'},
        ]
        status = self.statuses.pop(0)
        return {"status": status, "results": [row] if status == "Complete" else []}


def _runs(logs: InsightsStandIn) -> DeployedRuns:
    return DeployedRuns(None, None, "arn:aws:states:us-east-1:1:stateMachine:m", logs=logs)  # type: ignore[arg-type]


def test_the_query_filters_on_the_run_id_over_the_given_groups_and_waits_for_it(monkeypatch) -> None:
    monkeypatch.setattr("forgeflow.aws.runs._QUERY_POLL_SECONDS", 0)
    logs = InsightsStandIn(["Scheduled", "Running", "Complete"])
    lines = _runs(logs).logs("r-1", ["/aws/lambda/s-MixDataFunction-x"], START, START + dt.timedelta(hours=1))

    assert 'filter correlation_id = "r-1"' in logs.started["queryString"]
    assert logs.started["logGroupNames"] == ["/aws/lambda/s-MixDataFunction-x"]
    assert (logs.started["startTime"], logs.started["endTime"]) == (1796115600, 1796119200)
    message = '{"message": "data mixed", "correlation_id": "r-1"}'
    assert lines == [f"2026-12-01 09:00:01.000 /aws/lambda/s-MixDataFunction-x {message}"]


@pytest.mark.parametrize("run_id", ['r" | fields @message', "r\n1", ""])
def test_a_run_id_with_other_characters_never_reaches_the_query(run_id: str) -> None:
    logs = InsightsStandIn(["Complete"])
    with pytest.raises(InputError, match="characters a run id never has"):
        _runs(logs).logs(run_id, ["/aws/lambda/f"], START, START)
    assert logs.started == {}


def test_a_failed_query_is_an_error_not_an_empty_answer(monkeypatch) -> None:
    monkeypatch.setattr("forgeflow.aws.runs._QUERY_POLL_SECONDS", 0)
    with pytest.raises(InputError, match="ended Failed"):
        _runs(InsightsStandIn(["Failed"])).logs("r-1", ["/aws/lambda/f"], START, START)
