"""What a client does with a retryable 409 (contention outlasting the server's own retries, which
a busy machine can cause): send the same request again, with the same idempotency key."""


def until_not_contended(send, *, tries: int = 20):
    """`send()` again while it answers a retryable 409. A first request is never answered as a
    replay (200); a retry may be, when the contended attempt's work had landed after all."""
    for attempt in range(tries):
        response = send()
        if response.status_code != 409 or not response.json()["error"]["details"].get("retryable"):
            assert attempt > 0 or response.status_code != 200, response.text
            return response
    raise AssertionError(f"still contended after {tries} tries")
