"""What the contract says of request headers, for the handlers (http) and the OpenAPI document
(operations) alike: a leaf module, so neither imports the other for it."""

from __future__ import annotations

import re

from ..domain.idempotency import IDEMPOTENCY_KEY_PATTERN

# API.md: an Idempotency-Key is 1 to 255 visible ASCII characters (the same rule as body fields').
IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
