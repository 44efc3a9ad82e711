"""A subscription on an in-memory deployment, for service tests: one organization on a plan
derived from Lab Standard, with helpers to record usage and read the ledger."""
from datetime import datetime, timezone

from billing.domain.access import Caller
from billing.domain.lab_standard import lab_standard_terms
from billing.domain.usage import UsageRequest
from billing.services import catalog, subscriptions, usage
from billing.services.subscriptions import ProvisionRequest
from billing.store.memory import InMemoryInvoiceStore, InMemoryPlanStore, InMemorySubscriptionStore, InMemoryUsageStore

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
ADMIN = Caller("admin", frozenset({"marketplace:admin"}), None, "us")
SERVICE = Caller("svc", frozenset({"service"}), None, None)


def no_pause(_):
    return None


class World:
    def __init__(self, **terms):
        self.plans = InMemoryPlanStore()
        catalog.publish_plan(self.plans, "lab", lab_standard_terms().model_copy(update=terms), now=NOW)
        self.subscriptions = InMemorySubscriptionStore(self.plans)
        self.usage = InMemoryUsageStore(self.subscriptions)
        self.invoices = InMemoryInvoiceStore(self.subscriptions)
        request = ProvisionRequest.model_validate({"plan_id": "lab", "residency": "us", "sla_acceptance": {"accepted_by": "a", "sla_version": "1"}})
        self.subscription, _ = subscriptions.provision_subscription(self.plans, self.subscriptions, ADMIN, "org-1", request,
                                                                    served_residencies=("us",), idempotency_key=None, now=NOW)
        self.sid = self.subscription.subscription_id

    def record(self, key, quantity, now=NOW):
        request = UsageRequest(organization_id="org-1", service="instrumentation", quantity=quantity, idempotency_key=key)
        return usage.record_usage(self.plans, self.subscriptions, self.usage, self.invoices, SERVICE, request, now=now, pause=no_pause)

    def ledger(self):
        return self.subscriptions.ledger_page(self.sid, limit=200, cursor=None).items
