"""`make token ROLE=... ORG=... RESIDENCY=...`: print a bearer token for the local stack."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "billing"))

from billing.api.tokens import AUDIENCE, LOCAL_ISSUER, TokenSettings, TokenVerifier, mint_token  # noqa: E402
from billing.domain.errors import Unauthenticated  # noqa: E402

# The contract's local secret is short on purpose; this tool only ever signs local tokens.
warnings.filterwarnings("ignore", message="The HMAC key is")


def local_token(
    roles: list[str], *, org: str | None, residency: str | None, sub: str | None = None, ttl_seconds: int = 12 * 3600
) -> str:
    """A token the local stack accepts, checked by the authorizer's own rules (the contract's roles
    only; an organization's token with its organization and residency): raises Unauthenticated
    with the reason rather than handing out a token every request would refuse."""
    secret = os.environ.get("BILLING_JWT_SECRET", "local-dev-secret")
    sub = sub or f"local|{roles[0] if roles else 'anonymous'}{'@' + org if org else ''}"
    token = mint_token(
        sub=sub, roles=roles, org=org or None, residency=residency or None, secret=secret, ttl_seconds=ttl_seconds
    )
    TokenVerifier(TokenSettings(issuer=LOCAL_ISSUER, audience=AUDIENCE, secret=secret)).claims(f"Bearer {token}")
    return token


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local_stack.token", description=__doc__)
    parser.add_argument("--role", action="append", default=[], help="a role; repeat or comma-join for several")
    parser.add_argument("--org", default="")
    parser.add_argument("--residency", default="")
    parser.add_argument("--sub", default="")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="seconds until the token expires")
    args = parser.parse_args(argv)
    roles = [r.strip() for joined in (args.role or ["marketplace:admin"]) for r in joined.split(",") if r.strip()]
    try:
        print(local_token(roles, org=args.org, residency=args.residency, sub=args.sub or None, ttl_seconds=args.ttl))
    except Unauthenticated as refused:
        sys.exit(
            f"make token: {refused.message} Roles: marketplace:admin, finance, service, org:admin, org:member "
            "(organization roles need ORG=...)."
        )


if __name__ == "__main__":
    main()
