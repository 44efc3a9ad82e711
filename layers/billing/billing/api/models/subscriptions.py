"""The subscriptions function's request models."""

from __future__ import annotations

from typing import Literal

from ...domain.plans import PlanId
from ...domain.subscriptions import OrganizationId, Residency, SubscriptionFilters
from .paging import PageQuery


class SubscriptionsQuery(PageQuery):
    """`GET /subscriptions?status&plan_id&organization_id&residency`."""

    status: Literal["active", "canceled"] | None = None
    plan_id: PlanId | None = None
    organization_id: OrganizationId | None = None
    residency: Residency | None = None

    def filters(self) -> SubscriptionFilters:
        return SubscriptionFilters(status=self.status, plan_id=self.plan_id, organization_id=self.organization_id)
