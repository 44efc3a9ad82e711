"""Subscriptions: declared in template.yaml; the capability lands in its own issue."""
from billing.api.pending import not_yet_built

lambda_handler = not_yet_built("Subscriptions")
