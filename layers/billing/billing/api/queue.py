"""SQS deliveries to billing functions: a batch of records in, the ids of those that failed out
(`ReportBatchItemFailures`), so SQS redelivers only those, and dead-letters each alone after the
queue's maxReceiveCount. Powertools' batch processor would do the same for one record at a time;
the usage consumer records a whole batch together, and this costs no import at cold start."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def batch_response(failed_message_ids: Iterable[str]) -> dict[str, Any]:
    """Lambda's partial batch response: an empty list means every record was handled."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed_message_ids]}
