"""The run ledger on DynamoDB: `forgeflow.ports.RunLedger`, one item per `LedgerRow`.

Key `run_id`; GSI `by-execution` on `execution_arn`. The conditional insert is what makes a run start once
per upload.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from forgeflow.ports import LedgerRow

EXECUTION_INDEX = "by-execution"


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

    def register(self, row: LedgerRow) -> bool:
        stamp = now_iso()
        values = {"created_at": stamp, "updated_at": stamp, **row.to_item()}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._item(values),
                ConditionExpression="attribute_not_exists(run_id)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def reclaim(self, run_id: str, execution_arn: str) -> bool:
        # Conditional: of two executions re-sending the same FAILED request, exactly one wins.
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"run_id": {"S": run_id}},
                UpdateExpression="SET #status = :running, execution_arn = :arn, stage = :stage, "
                "updated_at = :now REMOVE outcome_event_id, error_code, message, result_uri",
                ConditionExpression="#status = :failed",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":running": {"S": "RUNNING"},
                    ":failed": {"S": "FAILED"},
                    ":arn": {"S": execution_arn},
                    ":stage": {"S": "register"},
                    ":now": {"S": now_iso()},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
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
        self._client.update_item(
            TableName=self._table,
            Key={"run_id": {"S": run_id}},
            UpdateExpression=f"SET {setters}",
            ConditionExpression="attribute_exists(run_id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                placeholders[name]: self._value(value) for name, value in values.items()
            },
        )

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
