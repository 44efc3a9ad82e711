"""Usage in DynamoDB: per subscription, its events and one aggregate item per period
(SUB#{id} / PERIOD#{period_start}) kept in step with the events by the same transactions."""
from __future__ import annotations

from datetime import datetime

from ..domain.usage import UsageTotals
from ..domain.values import format_timestamp
from .dynamodb import from_attributes, value


def period_key(subscription_id: str, period_start: datetime) -> dict:
    return {"pk": value(f"SUB#{subscription_id}"), "sk": value(f"PERIOD#{format_timestamp(period_start)}")}


class DynamoUsageStore:
    def __init__(self, client, table_name: str):
        self._client = client
        self._table = table_name

    def period_totals(self, subscription_id: str, period_start: datetime) -> UsageTotals:
        found = self._client.get_item(TableName=self._table, Key=period_key(subscription_id, period_start), ConsistentRead=True,
                                      ProjectionExpression="credits, overage_credits")
        item = from_attributes(found.get("Item", {}))
        return UsageTotals(credits=item.get("credits", 0), overage_credits=item.get("overage_credits", 0))
