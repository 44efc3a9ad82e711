"""The period-closing queue on SQS: the scheduled run's due subscriptions, one message each, sent
with SendMessageBatch in batches of 10 (SQS's limit). Entries SQS could not take are sent again a
few times; what still fails raises, so the run fails loudly (and its own retry re-sends: the
workers' closes are idempotent)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ..domain.closing import DueClose

BATCH = 10  # SendMessageBatch's limit
ATTEMPTS = 5


class QueueUnavailable(Exception):
    """Some messages could not be sent after retries."""


class SqsClosingQueue:
    def __init__(self, client, queue_url: str):
        self._client = client
        self._url = queue_url

    def send(self, subscription_ids: Iterable[str], now: datetime) -> int:
        sent, batch = 0, []
        for subscription_id in subscription_ids:
            batch.append(subscription_id)
            if len(batch) == BATCH:
                sent += self._send(batch, now)
                batch = []
        if batch:
            sent += self._send(batch, now)
        return sent

    def _send(self, subscription_ids: list[str], now: datetime) -> int:
        pending = {str(i): DueClose(s, now).as_message() for i, s in enumerate(subscription_ids)}
        for _ in range(ATTEMPTS):
            entries = [{"Id": entry_id, "MessageBody": body} for entry_id, body in pending.items()]
            answer = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            failed = answer.get("Failed") or []
            refused = [f for f in failed if f.get("SenderFault")]
            if refused:  # a malformed entry will not pass on a retry either
                raise QueueUnavailable(f"SQS refused {len(refused)} messages: {refused[0].get('Message')}")
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
            if not pending:
                return len(subscription_ids)
        raise QueueUnavailable(f"{len(pending)} of {len(subscription_ids)} messages could not be sent")
