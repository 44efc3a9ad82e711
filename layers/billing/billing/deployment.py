"""The composition root: what this Lambda container's use cases work against (`billing()`: the
stores, the clock, the settings), built once per container from the validated configuration and
reused across invocations. Store modules are imported on first use, so a function loads only the
stores (and models) it needs: cold start matters."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from .config import BillingConfig, issuer, load_config
from .domain.clock import Clock, SystemClock
from .domain.paging import use_cursor_secret

if TYPE_CHECKING:
    from .services.unit_of_work import Billing

_clock: Clock = SystemClock()
_sqs = None  # the local stack's queues, when it serves them


def use_sqs(client) -> None:
    """The local stack's in-process queues (an SQS client's send_message_batch), for every function."""
    global _sqs
    _sqs = client
    period_closings.cache_clear()
    billing.cache_clear()


def use_clock(clock: Clock) -> None:
    """The local stack's test clock, for every function of the process (never set when deployed)."""
    global _clock
    _clock = clock
    billing.cache_clear()


def clock() -> Clock:
    return _clock


def settings() -> BillingConfig:
    config = load_config()
    use_cursor_secret(config.cursor_secret)  # before any list is read or written
    return config


def connect() -> None:
    """Lambda's init: the DynamoDB client every request of the function uses, made while its module
    loads, the collector still paused (billing/cold_start.py). Made on the first request instead,
    boto3's import and client ran with the collector walking their ~100,000 new objects: ~10 ms
    more of every cold start (docs/performance.md)."""
    dynamodb()


@lru_cache(maxsize=1)
def dynamodb():
    from .store.dynamodb import make_client

    config = settings()
    return make_client(config.dynamodb_endpoint, config.region)


@lru_cache(maxsize=1)
def plan_store():
    from .store.dynamodb_plans import DynamoPlanStore

    return DynamoPlanStore(dynamodb(), settings().plans_table)


@lru_cache(maxsize=1)
def subscription_store():
    from .store.dynamodb_subscriptions import DynamoSubscriptionStore

    config = settings()
    return DynamoSubscriptionStore(
        dynamodb(),
        subscriptions_table=config.subscriptions_table,
        ledger_table=config.credit_ledger_table,
        idempotency_table=config.idempotency_table,
        plans_table=config.plans_table,
        outbox_table=config.outbox_table,
    )


@lru_cache(maxsize=1)
def due_index():
    from .store.due_index import DynamoDueIndex

    return DynamoDueIndex(dynamodb(), settings().subscriptions_table)


@lru_cache(maxsize=1)
def usage_store():
    from .store.dynamodb_usage import DynamoUsageStore

    config = settings()
    return DynamoUsageStore(
        dynamodb(),
        usage_table=config.usage_events_table,
        subscriptions_table=config.subscriptions_table,
        ledger_table=config.credit_ledger_table,
        outbox_table=config.outbox_table,
        invoices_table=config.invoices_table,
        idempotency_table=config.idempotency_table,
    )


@lru_cache(maxsize=1)
def invoice_store():
    from .store.dynamodb_invoices import DynamoInvoiceStore

    config = settings()
    return DynamoInvoiceStore(
        dynamodb(),
        invoices_table=config.invoices_table,
        subscriptions_table=config.subscriptions_table,
        ledger_table=config.credit_ledger_table,
        outbox_table=config.outbox_table,
        idempotency_table=config.idempotency_table,
    )


@lru_cache(maxsize=1)
def guardrail_rollups():
    from .store.dynamodb_guardrails import DynamoGuardrailRollups

    return DynamoGuardrailRollups(dynamodb(), settings().guardrail_rollups_table)


@lru_cache(maxsize=1)
def events_publisher():
    from .store.eventbridge import EventBridgePublisher, make_events_client

    config = settings()
    return EventBridgePublisher(make_events_client(config.events_endpoint, config.region), config.events_bus)


@lru_cache(maxsize=1)
def period_closings():
    from .store.sqs import SqsClosingQueue

    client = _sqs
    if client is None:
        import boto3  # only the invoicing run sends: its SQS client is made on its first send

        client = boto3.client("sqs", region_name=settings().region)
    return SqsClosingQueue(client, settings().period_closing_queue_url)


class _OnFirstUse:
    """A store built (and its module imported) when a use case first touches it: the catalog
    function never loads the usage store's code."""

    def __init__(self, factory):
        self._factory = factory

    def __getattr__(self, name: str):
        return getattr(self._factory(), name)


@lru_cache(maxsize=1)
def billing() -> Billing:
    from .services.unit_of_work import Billing

    config = settings()
    return Billing(
        plans=_OnFirstUse(plan_store),
        subscriptions=_OnFirstUse(subscription_store),
        usage=_OnFirstUse(usage_store),
        invoices=_OnFirstUse(invoice_store),
        period_closings=_OnFirstUse(period_closings),
        due_index=_OnFirstUse(due_index),
        clock=_clock,
        residencies=config.residencies,
        sandbox=config.sandbox,
        issuer_setting=issuer,
    )


def reset() -> None:
    """Forget the cached configuration and clients (tests that swap databases between cases)."""
    load_config.cache_clear()
    issuer.cache_clear()
    cached_parts = (
        dynamodb,
        plan_store,
        subscription_store,
        due_index,
        usage_store,
        invoice_store,
        events_publisher,
        guardrail_rollups,
    )
    for cached in (*cached_parts, period_closings, billing):
        cached.cache_clear()
