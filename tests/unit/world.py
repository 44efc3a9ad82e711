"""A subscription on an in-memory deployment, for service tests: one organization on a plan
derived from Lab Standard, a test clock at NOW, and helpers to record usage and read the ledger."""

from datetime import UTC, datetime

from billing.domain.access import Caller
from billing.domain.clock import TestClock
from billing.domain.lab_standard import lab_standard_terms
from billing.domain.usage import UsageRequest
from billing.services import catalog, invoicing_run, period_closing, subscriptions, usage
from billing.services.subscriptions import ProvisionRequest
from billing.services.unit_of_work import Billing

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ADMIN = Caller("admin", frozenset({"marketplace:admin"}), None, "us")
SERVICE = Caller("svc", frozenset({"service"}), None, None)


def no_pause(_):
    return None


class World:
    def __init__(self, **terms):
        self.clock = TestClock(at=NOW)
        self.billing = Billing.in_memory(self.clock, residencies=("us",))
        # The stores themselves, for tests that watch or interfere with one.
        self.plans, self.subscriptions = self.billing.plans, self.billing.subscriptions
        self.usage, self.invoices = self.billing.usage, self.billing.invoices
        catalog.publish_plan(self.billing, "lab", lab_standard_terms().model_copy(update=terms))
        request = ProvisionRequest.model_validate(
            {"plan_id": "lab", "residency": "us", "sla_acceptance": {"accepted_by": "a", "sla_version": "1"}}
        )
        self.subscription, _ = subscriptions.provision_subscription(
            self.billing, ADMIN, "org-1", request, idempotency_key=None
        )
        self.sid = self.subscription.subscription_id

    def at(self, moment: datetime) -> "World":
        """Move the clock forward to `moment` (it never goes back)."""
        if moment > self.clock.now():
            self.clock.freeze(moment)
        return self

    def invoicing_run(self, moment: datetime):
        """The schedule fires at `moment`, then the workers close what it queued.
        Returns (the run's report, the workers' report)."""
        run = invoicing_run.run_invoicing(self.billing, scheduled_at=moment)
        closed = period_closing.ClosingReport()
        for due in self.billing.period_closings.take():
            period_closing.close_due(self.billing, due, closed, pause=no_pause)
        return run, closed

    def record(self, key, quantity, now=None):
        if now is not None:
            self.at(now)
        request = UsageRequest(
            organization_id="org-1", service="instrumentation", quantity=quantity, idempotency_key=key
        )
        return usage.record_usage(self.billing, SERVICE, request, pause=no_pause)

    def ledger(self):
        return self.subscriptions.ledger_page(self.sid, limit=200, cursor=None).items
