"""Many subscriptions at once, for tests and the bench: each made by the real provisioning use case
(the same items, the same grant), but written with BatchWriteItem instead of one transaction each,
so 50,000 take seconds, not minutes. Never for a deployment: there are no conditions (no guard
against a second active subscription, no plan-version check)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgspec.structs import replace

from billing import deployment
from billing.domain.access import Caller
from billing.services.subscriptions import ProvisionRequest, provision_subscription
from billing.store.dynamodb import to_attributes
from billing.store.dynamodb_subscriptions import ACTIVE_GUARD, Tables, credit_layouts
from billing.store.dynamodb_writes import actions
from billing.store.writes import posting_write

SEEDER = Caller("seed", frozenset({"marketplace:admin"}), None, None)
BATCH = 25  # BatchWriteItem's limit


class _CollectingProvisioner:
    """Stands in for the subscription store's `provision`: keeps the items it would write."""

    def __init__(self, subscriptions_table: str, ledger_table: str):
        self.subscriptions_table = subscriptions_table
        self.layouts = credit_layouts(Tables(subscriptions_table, ledger_table, outbox=""))
        self.writes: list[tuple[str, dict[str, Any]]] = []

    def provision(self, posting, *, plan, idempotency) -> None:
        subscription = posting.subscription
        guard = {
            "pk": f"ORG#{subscription.organization_id}",
            "sk": ACTIVE_GUARD,
            "subscription_id": subscription.subscription_id,
            "created_at": subscription.created_at,
        }
        # The items the provisioning write puts (its events are not published: no outbox record).
        records = [operation for operation in posting_write(posting, new=True) if operation.kind != "outbox"]
        self.writes += [
            (self.subscriptions_table, to_attributes(guard)),
            *((put["Put"]["TableName"], put["Put"]["Item"]) for put in actions(records, self.layouts)),
        ]


class _PlanOnce:
    """The plan store, reading each plan once: seeding subscribes thousands to the same plan."""

    def __init__(self, plans):
        self._plans, self._current = plans, {}

    def current(self, plan_id: str):
        if plan_id not in self._current:
            self._current[plan_id] = self._plans.current(plan_id)
        return self._current[plan_id]

    def __getattr__(self, name: str):  # every other read as the store answers it
        return getattr(self._plans, name)


Write = Callable[[str, list[dict[str, Any]]], None]  # (table, items in DynamoDB JSON)


def seed_subscriptions(
    organization_ids: list[str], *, plan_id: str = "lab-standard", residency: str = "us", write: Write | None = None
) -> list:
    """Subscribe each organization to the plan now (the deployment's clock); returns the subscriptions.
    `write` puts the items (the embedded database's `put_items` skips HTTP); BatchWriteItem otherwise."""
    config = deployment.settings()
    collector = _CollectingProvisioner(config.subscriptions_table, config.credit_ledger_table)
    billing = deployment.billing()
    billing = replace(billing, subscriptions=collector, plans=_PlanOnce(billing.plans))
    request = ProvisionRequest.model_validate(
        {"plan_id": plan_id, "residency": residency, "sla_acceptance": {"accepted_by": "seed", "sla_version": "1"}}
    )
    made = [
        provision_subscription(billing, SEEDER, organization_id, request, idempotency_key=None)[0]
        for organization_id in organization_ids
    ]
    if write is not None:
        by_table: dict[str, list[dict[str, Any]]] = {}
        for table, item in collector.writes:
            by_table.setdefault(table, []).append(item)
        for table, items in by_table.items():
            write(table, items)
        return made
    client = deployment.dynamodb()
    for first in range(0, len(collector.writes), BATCH):
        requests: dict[str, list] = {}
        for table, item in collector.writes[first : first + BATCH]:
            requests.setdefault(table, []).append({"PutRequest": {"Item": item}})
        while requests:
            requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
    return made
