"""The answer of `POST .../plan-change`, for the OpenAPI document only (the function answers the
subscription or the preview themselves: building this union costs a cold start nothing then)."""

from __future__ import annotations

from pydantic import RootModel

from ...domain.subscriptions import Subscription
from ...services.plan_changes import PlanChangePreview


class PlanChangeAnswer(RootModel[Subscription | PlanChangePreview]):
    """The subscription (a change made), or what the change would bill (`preview: true`)."""
