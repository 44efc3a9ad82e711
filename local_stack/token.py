"""`make token ROLE=... ORG=... RESIDENCY=...`: print a bearer token for the local stack."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "layers" / "billing"))

from billing.api.tokens import mint_token  # noqa: E402

# The contract's local secret is short on purpose; this tool only ever signs local tokens.
warnings.filterwarnings("ignore", message="The HMAC key is")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local_stack.token", description=__doc__)
    parser.add_argument("--role", action="append", default=[], help="a role; repeat or comma-join for several")
    parser.add_argument("--org", default="")
    parser.add_argument("--residency", default="")
    parser.add_argument("--sub", default="")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="seconds until the token expires")
    args = parser.parse_args(argv)
    roles = [r.strip() for joined in (args.role or ["marketplace:admin"]) for r in joined.split(",") if r.strip()]
    sub = args.sub or f"local|{roles[0] if roles else 'anonymous'}{'@' + args.org if args.org else ''}"
    secret = os.environ.get("BILLING_JWT_SECRET", "local-dev-secret")
    print(
        mint_token(
            sub=sub,
            roles=roles,
            org=args.org or None,
            residency=args.residency or None,
            secret=secret,
            ttl_seconds=args.ttl,
        )
    )


if __name__ == "__main__":
    main()
