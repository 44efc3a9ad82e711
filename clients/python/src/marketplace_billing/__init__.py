"""The Python client of the Marketplace Billing API (contract: CLIENT.md; the API: API.md).

from marketplace_billing import Billing

with Billing("https://lab.example/api/billing", token_provider=service_token) as billing:
    event = billing.usage.record(organization_id="org-helix", service="planner", quantity=1)
"""

from ._version import __version__
from .client import Billing
from .errors import (
    AuthenticationFailed,
    BillingError,
    Conflict,
    InsufficientCredits,
    NetworkError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationFailed,
)
from .models import (
    Entitlement,
    Guardrail,
    Hold,
    Invoice,
    LedgerEntry,
    LineItem,
    Plan,
    PlanChangePreview,
    Subscription,
    UsageEvent,
    UsageResult,
    UsageSource,
)
from .producers import UsageRecord, instrumentation_run, planner_finalization, sequence_analysis
from .resources import Reservation

__all__ = [
    "AuthenticationFailed",
    "Billing",
    "BillingError",
    "Conflict",
    "Entitlement",
    "Guardrail",
    "Hold",
    "InsufficientCredits",
    "Invoice",
    "LedgerEntry",
    "LineItem",
    "NetworkError",
    "NotFound",
    "PermissionDenied",
    "Plan",
    "PlanChangePreview",
    "RateLimited",
    "Reservation",
    "ServerError",
    "Subscription",
    "UsageEvent",
    "UsageRecord",
    "UsageResult",
    "UsageSource",
    "ValidationFailed",
    "__version__",
    "instrumentation_run",
    "planner_finalization",
    "sequence_analysis",
]
