"""What every use case works against: the deployment's stores, its clock and its settings, in one
object. Handlers get it from `deployment.billing()`, built once per container; unit tests build an
in-memory one. Adding a store changes this class and the composition root, not every service
signature and call. The unit of work of a credit change is services/credit_write.py's CreditWrite:
it commits, once, what the use case changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from msgspec import Struct, field

from ..domain.clock import Clock, SystemClock

if TYPE_CHECKING:  # the store protocols name every domain model: annotations only (cold start)
    from collections.abc import Iterator
    from datetime import datetime

    from ..store.base import DueIndex, InvoiceStore, PeriodClosingQueue, PlanStore, SubscriptionStore, UsageStore

if TYPE_CHECKING:
    from ..domain.billing_profiles import Issuer


class Billing(Struct, frozen=True):
    plans: PlanStore
    subscriptions: SubscriptionStore
    usage: UsageStore
    invoices: InvoiceStore
    clock: Clock = field(default_factory=SystemClock)
    residencies: tuple[str, ...] = ("us", "eu")
    sandbox: bool = False
    period_closings: PeriodClosingQueue | None = None  # where the scheduled run sends what is due
    due_index: DueIndex | None = None  # where the scheduled run finds it; None: the subscription store's
    issuer_setting: Callable[[], Issuer] | None = None  # the deployment's BILLING_ISSUER, read on first use

    def issuer(self) -> Issuer:
        """Who issues this deployment's invoices (a sandbox issuer unless the deployment names one)."""
        from ..domain.billing_profiles import SANDBOX_ISSUER

        return self.issuer_setting() if self.issuer_setting else SANDBOX_ISSUER

    def due_subscriptions(self, residency: str, now: datetime) -> Iterator[str]:
        """The residency's subscriptions due by `now`, through the due index on its own where the
        deployment has one (the run then loads no subscription store), else the store's."""
        return (self.due_index or self.subscriptions).due(residency, now)

    def now(self) -> datetime:
        """Billing time: read once per use case, so one request sees one moment."""
        return self.clock.now()

    @classmethod
    def in_memory(
        cls, clock: Clock | None = None, *, residencies: tuple[str, ...] = ("us", "eu"), sandbox: bool = False
    ) -> Billing:
        """The same semantics on in-memory stores (conditional writes, ordering, cursors)."""
        from ..store.memory import (
            InMemoryClosingQueue,
            InMemoryInvoiceStore,
            InMemoryPlanStore,
            InMemorySubscriptionStore,
            InMemoryUsageStore,
            Records,
        )

        plans, records = InMemoryPlanStore(), Records()  # one set of records: a write spans stores
        return cls(
            plans=plans,
            subscriptions=InMemorySubscriptionStore(plans, records),
            usage=InMemoryUsageStore(records),
            invoices=InMemoryInvoiceStore(records),
            clock=clock or SystemClock(),
            residencies=residencies,
            sandbox=sandbox,
            period_closings=InMemoryClosingQueue(),
        )
