"""The run ledger on DynamoDB: `forgeflow.ports.RunLedger`, one item per `LedgerRow`.

Key `run_id`; GSI `by-execution` on `execution_arn`. The conditional insert is what makes a run start once
per upload. One more item, `run_id = "#running"`, counts the RUNNING rows for MaxConcurrentRuns: it changes
only in the same TransactWriteItems as a row's insert or its RUNNING → SUCCEEDED/FAILED update, so the count
and the rows cannot disagree (a GSI query on status could not refuse atomically: it is eventually
consistent and two registrations could both see room).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from forgeflow.pipeline.errors import RunsAtCapacity
from forgeflow.ports import LedgerRow

EXECUTION_INDEX = "by-execution"
# The counter item's key; `#` cannot start a run id (forgeflow.pipeline.request.run_id_for).
RUNNING_COUNTER = "#running"
ENDED = ("SUCCEEDED", "FAILED")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DynamoLedger:
    """`RunLedger` on a DynamoDB table with the documented key schema."""

    def __init__(self, client: Any, table_name: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._client = client
        self._table = table_name
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    def _value(self, value: Any) -> Any:
        # DynamoDB numbers are decimals; boto3 refuses floats rather than round them silently.
        return self._serializer.serialize(Decimal(str(value)) if isinstance(value, float) else value)

    def _item(self, values: dict[str, Any]) -> dict[str, Any]:
        return {key: self._value(value) for key, value in values.items() if value is not None}

    def _plain(self, item: dict[str, Any]) -> dict[str, Any]:
        return {key: self._deserializer.deserialize(value) for key, value in item.items()}

    def register(self, row: LedgerRow, *, max_running: int | None = None) -> bool:
        stamp = now_iso()
        put = {
            "TableName": self._table,
            "Item": self._item({"created_at": stamp, "updated_at": stamp, **row.to_item()}),
            "ConditionExpression": "attribute_not_exists(run_id)",
        }
        if row.status != "RUNNING":
            try:
                self._client.put_item(**put)
            except ClientError as error:
                if _code(error) == "ConditionalCheckFailedException":
                    return False
                raise
            return True
        try:
            self._client.transact_write_items(
                TransactItems=[{"Put": put}, {"Update": self._capped_count(max_running)}]
            )
        except ClientError as error:
            reasons = _cancellations(error)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False  # the row exists: a duplicate, whatever the count
            if max_running is not None and reasons[1:2] == ["ConditionalCheckFailed"]:
                raise RunsAtCapacity.at(max_running) from error
            raise
        return True

    def _count(self, delta: int) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": {"run_id": {"S": RUNNING_COUNTER}},
            "UpdateExpression": "ADD running :delta",
            "ExpressionAttributeValues": {":delta": {"N": str(delta)}},
        }

    def _capped_count(self, max_running: int | None) -> dict[str, Any]:
        count = self._count(+1)
        if max_running is not None:
            count["ConditionExpression"] = "attribute_not_exists(running) OR running < :max"
            count["ExpressionAttributeValues"][":max"] = {"N": str(max_running)}
        return count

    def reclaim(self, run_id: str, execution_arn: str, *, max_running: int | None = None) -> bool:
        # Conditional: of two executions re-sending the same FAILED request, exactly one wins; the run
        # takes a place under MaxConcurrentRuns again in the same transaction.
        reopen = {
            "TableName": self._table,
            "Key": {"run_id": {"S": run_id}},
            "UpdateExpression": "SET #status = :running, execution_arn = :arn, stage = :stage, "
            "updated_at = :now REMOVE outcome_event_id, error_code, message, result_uri, "
            "approval_token, approval_requested_at",
            "ConditionExpression": "#status = :failed",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":running": {"S": "RUNNING"},
                ":failed": {"S": "FAILED"},
                ":arn": {"S": execution_arn},
                ":stage": {"S": "register"},
                ":now": {"S": now_iso()},
            },
        }
        try:
            self._client.transact_write_items(
                TransactItems=[{"Update": reopen}, {"Update": self._capped_count(max_running)}]
            )
        except ClientError as error:
            reasons = _cancellations(error)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            if max_running is not None and reasons[1:2] == ["ConditionalCheckFailed"]:
                raise RunsAtCapacity.at(max_running) from error
            raise
        return True

    def get(self, run_id: str) -> LedgerRow | None:
        answer = self._client.get_item(
            TableName=self._table, Key={"run_id": {"S": run_id}}, ConsistentRead=True
        )
        item = answer.get("Item")
        return LedgerRow.model_validate(self._plain(item)) if item else None

    def update(self, run_id: str, **fields: Any) -> None:
        values = {**fields, "updated_at": now_iso()}
        names = {f"#f{index}": name for index, name in enumerate(values)}
        placeholders = {name: f":v{index}" for index, name in enumerate(values)}
        setters = ", ".join(f"#f{index} = {placeholders[name]}" for index, name in enumerate(values))
        update = {
            "TableName": self._table,
            "Key": {"run_id": {"S": run_id}},
            "UpdateExpression": f"SET {setters}",
            "ConditionExpression": "attribute_exists(run_id)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {
                placeholders[name]: self._value(value) for name, value in values.items()
            },
        }
        if fields.get("status") in ENDED and self._end_running(update):
            return
        self._client.update_item(**update)

    def _end_running(self, update: dict[str, Any]) -> bool:
        """Set a RUNNING row to its end status and free its place in one transaction; False when the row
        is not RUNNING (already ended, or unknown: the plain update then says which)."""
        ending = {
            **update,
            "ConditionExpression": "attribute_exists(run_id) AND #ledger_status = :ledger_running",
            "ExpressionAttributeNames": {**update["ExpressionAttributeNames"], "#ledger_status": "status"},
            "ExpressionAttributeValues": {
                **update["ExpressionAttributeValues"],
                ":ledger_running": {"S": "RUNNING"},
            },
        }
        try:
            self._client.transact_write_items(TransactItems=[{"Update": ending}, {"Update": self._count(-1)}])
        except ClientError as error:
            if _cancellations(error)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def add_job(self, run_id: str, job_name: str) -> None:
        """Append a job name once, even when a retried start records it again."""
        row = self.get(run_id)
        if row is None or job_name in row.job_names:
            return
        self._client.update_item(
            TableName=self._table,
            Key={"run_id": {"S": run_id}},
            UpdateExpression="SET job_names = list_append(if_not_exists(job_names, :empty), :job), "
            "updated_at = :now",
            ExpressionAttributeValues={
                ":job": {"L": [{"S": job_name}]},
                ":empty": {"L": []},
                ":now": {"S": now_iso()},
            },
        )

    def hold_for_approval(self, run_id: str, execution_arn: str, token: str) -> bool:
        # Conditional: only the execution that owns the RUNNING row may say which token approves it.
        stamp = now_iso()
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"run_id": {"S": run_id}},
                UpdateExpression="SET approval_token = :token, approval_requested_at = :now, "
                "stage = :stage, updated_at = :now",
                ConditionExpression="#status = :running AND execution_arn = :arn",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":token": {"S": token},
                    ":now": {"S": stamp},
                    ":stage": {"S": "approval"},
                    ":running": {"S": "RUNNING"},
                    ":arn": {"S": execution_arn},
                },
            )
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def find_by_execution(self, execution_arn: str) -> LedgerRow | None:
        answer = self._client.query(
            TableName=self._table,
            IndexName=EXECUTION_INDEX,
            KeyConditionExpression="execution_arn = :arn",
            ExpressionAttributeValues={":arn": {"S": execution_arn}},
            Limit=1,
        )
        items = answer.get("Items", [])
        return LedgerRow.model_validate(self._plain(items[0])) if items else None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _cancellations(error: ClientError) -> list[str]:
    """The per-item reasons of a cancelled transaction ("None" for the items that were fine)."""
    if _code(error) != "TransactionCanceledException":
        return []
    return [str(reason.get("Code", "None")) for reason in error.response.get("CancellationReasons", [])]
