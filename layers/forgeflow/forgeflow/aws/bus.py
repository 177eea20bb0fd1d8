"""The results bus (EventBridge): puts ForgeFlow's results events, failing loudly if one is dropped."""

from __future__ import annotations

from typing import Any

from forgeflow.errors import ForgeFlowError


class EventBridgeBus:
    """`forgeflow.ports.ResultsBus` on EventBridge PutEvents."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def put(self, entry: dict[str, Any]) -> str:
        answer = self._client.put_events(Entries=[entry])
        result = answer["Entries"][0]
        if answer.get("FailedEntryCount", 0) or "EventId" not in result:
            raise ForgeFlowError(
                f"EventBridge refused the {entry.get('DetailType')!r} event: "
                f"{result.get('ErrorCode')} {result.get('ErrorMessage')}",
                code="EVENT_NOT_PUT",
            )
        return str(result["EventId"])
