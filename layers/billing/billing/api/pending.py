"""Functions the template already declares but whose capability has not been built yet answer
honestly: 501 `not_implemented` in the error envelope over HTTP, and a result saying so for
EventBridge deliveries (no exception, so nothing is retried into a dead-letter queue)."""
from __future__ import annotations

from typing import Any, Callable

from ..observability import logger
from .errors import envelope
from .http import JSON, dumps


def not_yet_built(capability: str) -> Callable[[dict, Any], dict]:
    message = f"{capability} is declared in the stack but not built yet."

    def handler(event: dict, context: Any) -> dict:
        logger.warning(message)
        if "httpMethod" in event:
            return {"statusCode": 501, "headers": {"Content-Type": JSON}, "body": dumps(envelope("not_implemented", message))}
        return {"implemented": False, "message": message}

    return handler
