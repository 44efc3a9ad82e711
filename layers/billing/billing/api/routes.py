"""Every route of the API: path (under /api/billing) -> its methods. Generated from
template.yaml by `python -m local_stack.routes`; tests/unit/test_contract.py keeps it current."""

ROUTES: dict[str, tuple[str, ...]] = {
    "/invoices": ("GET",),
    "/openapi.json": ("GET",),
    "/organizations/{organization_id}/subscriptions": ("GET", "POST"),
    "/plans": ("GET", "POST"),
    "/plans/{plan_id}": ("GET", "PATCH", "PUT"),
    "/plans/{plan_id}/archive": ("POST",),
    "/plans/{plan_id}/versions": ("GET",),
    "/subscriptions": ("GET",),
    "/subscriptions/{subscription_id}": ("GET",),
    "/subscriptions/{subscription_id}/cancel": ("POST",),
    "/subscriptions/{subscription_id}/credits": ("POST",),
    "/subscriptions/{subscription_id}/invoices": ("GET",),
    "/subscriptions/{subscription_id}/invoices/draft": ("POST",),
    "/subscriptions/{subscription_id}/invoices/{invoice_id}": ("GET",),
    "/subscriptions/{subscription_id}/invoices/{invoice_id}/export": ("GET",),
    "/subscriptions/{subscription_id}/invoices/{invoice_id}/issue": ("POST",),
    "/subscriptions/{subscription_id}/invoices/{invoice_id}/void": ("POST",),
    "/subscriptions/{subscription_id}/ledger": ("GET",),
    "/subscriptions/{subscription_id}/periods": ("GET",),
    "/subscriptions/{subscription_id}/usage": ("GET",),
    "/subscriptions/{subscription_id}/usage/daily": ("GET",),
    "/subscriptions/{subscription_id}/usage/summary": ("GET",),
    "/usage": ("POST",),
    "/usage/batch": ("POST",),
}
