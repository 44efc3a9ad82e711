"""What the use cases share to find what they act on: the subscription a caller may act on (its
access check) and finance's lists across the residencies served. Kept apart from the subscription
use cases so a function that only reads a subscription loads neither their request models nor the
credit write path (cold start)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..domain.access import Caller, Permission
from ..domain.errors import NotFound
from ..domain.paging import Page, list_binding, merged_page

if TYPE_CHECKING:
    from ..domain.subscriptions import Subscription
    from .unit_of_work import Billing


def subscription_for(billing: Billing, caller: Caller, subscription_id: str, permission: Permission) -> Subscription:
    """The subscription, if the caller may act on it: 403 for a role that never may, 404 when it
    does not exist or belongs to another organization."""
    caller.authorize(permission)
    subscription = billing.subscriptions.get(subscription_id)
    missing = NotFound(f"No subscription '{subscription_id[:128]}'.")  # also what another organization's answers
    if subscription is None:
        raise missing
    caller.authorize_for(permission, subscription.organization_id, hidden_as=missing)
    return subscription


def across_residencies(
    billing: Billing,
    name: str,
    residency_page: Callable[..., Page],
    order: Callable[[Any], str],
    filters: Any,
    *,
    residency: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    """Finance's list of one residency (the query's) or of every residency served: each read from its
    own partition of a residency index, merged in `order`; the cursor holds each one's position."""
    residencies = (residency,) if residency else tuple(billing.residencies)

    def source(chosen: str):
        return lambda before, page_cursor: residency_page(
            chosen, filters, limit=limit, cursor=page_cursor, before=before
        )

    return merged_page(
        {chosen: source(chosen) for chosen in residencies},
        order,
        limit=limit,
        cursor=cursor,
        binding=list_binding(name, filters, residencies),
    )
