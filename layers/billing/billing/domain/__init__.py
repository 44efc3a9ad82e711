"""Billing domain: plain typed objects and pure functions. No boto3, no HTTP."""
