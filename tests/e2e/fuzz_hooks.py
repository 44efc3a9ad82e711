"""Schemathesis hooks (loaded by `st` in .venv-fuzz through SCHEMATHESIS_HOOKS; imports nothing of
the service). Each case gets a bearer token of a role that may call its operation (the document's
`x-roles`), and half of the cases that name a subscription, invoice, organization or plan are pointed
at ones that exist (seeded by tests/e2e/test_openapi_fuzz.py), so the fuzz reaches the 2xx paths
and not only the 404s. Which half is decided by the generated value itself: reruns with one seed
send the same requests."""

from __future__ import annotations

import json
import os
import zlib

import schemathesis

TOKENS: dict[str, str] = json.loads(os.environ.get("BILLING_FUZZ_TOKENS", "{}"))
KNOWN: dict[str, str] = json.loads(os.environ.get("BILLING_FUZZ_KNOWN", "{}"))
# The role each operation is fuzzed with: the narrowest role that may call it.
PREFERRED = ("org:admin", "service", "finance", "marketplace:admin", "org:member")
ORG_ADMIN_OPERATIONS = {"provisionSubscription"}


def _role(operation: dict) -> str | None:
    roles = operation.get("x-roles") or []
    if not roles:
        return None
    if operation.get("operationId") in ORG_ADMIN_OPERATIONS and "org:admin" in roles:
        return "org:admin"
    for role in ("service", "finance", "marketplace:admin"):
        if role in roles:
            return role
    return roles[0]


def _pick_known(name: str, value: object) -> bool:
    return name in KNOWN and zlib.crc32(repr(value).encode()) % 2 == 0


@schemathesis.hook
def map_case(context, case):
    operation = case.operation.definition.raw
    role = _role(operation)
    if role is not None and role in TOKENS:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {TOKENS[role]}"
    if case.path_parameters:
        for name, value in list(case.path_parameters.items()):
            if _pick_known(name, value):
                case.path_parameters[name] = KNOWN[name]
    return case
