"""What a function's module needs of its environment to load in a fresh interpreter, as the
template sets it: its tables (it makes its DynamoDB client at init) and a region."""

import os

TABLES = ("PLANS", "SUBSCRIPTIONS", "USAGE_EVENTS", "CREDIT_LEDGER", "INVOICES", "IDEMPOTENCY", "OUTBOX")


def function_environment(**extra: str) -> dict[str, str]:
    tables = {f"{table}_TABLE": "t" for table in TABLES}
    return os.environ | tables | {"AWS_DEFAULT_REGION": "us-east-1"} | extra
