"""What the contract says of request headers, for the handlers (http) and the OpenAPI document
(operations) alike: a leaf module, so neither imports the other for it."""

from __future__ import annotations

import re

# API.md: an Idempotency-Key is 1 to 255 visible ASCII characters.
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
