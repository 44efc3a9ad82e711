"""What the scheduled run hands its workers: one subscription to close as of the run's moment.
One message a subscription, so a subscription that fails is retried, and dead-lettered, alone."""

from __future__ import annotations

import json
from datetime import datetime

from msgspec import Struct

from .errors import ValidationFailed
from .values import format_timestamp, parse_timestamp


class DueClose(Struct, frozen=True):
    subscription_id: str
    now: datetime  # the run's scheduled time: a redelivery closes exactly what the run meant

    def as_message(self) -> str:
        return json.dumps({"subscription_id": self.subscription_id, "now": format_timestamp(self.now)})

    @classmethod
    def from_message(cls, body: str) -> DueClose:
        try:
            message = json.loads(body)
            return cls(str(message["subscription_id"]), parse_timestamp(message["now"]))
        except (ValueError, TypeError, KeyError):
            raise ValidationFailed.of(
                "body", 'expected {"subscription_id": "...", "now": "<RFC 3339>"}', location="message"
            ) from None
