"""Finance: the drafts the invoicing schedule made for a period, reviewed and issued, each exported.

BILLING_URL=... BILLING_TOKEN=$(make -s token ROLE=finance) python finance_drafts.py 2026-11-01 out/
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from marketplace_billing import Billing, Conflict


def main(period_start: str, folder: str) -> int:
    since = datetime.fromisoformat(period_start).replace(tzinfo=UTC)
    Path(folder).mkdir(parents=True, exist_ok=True)
    with Billing(os.environ["BILLING_URL"], token=os.environ["BILLING_TOKEN"]) as billing:
        for draft in billing.invoices.list(status="draft", period_start_from=since):  # every page
            total = Decimal(draft.total_cents).scaleb(-2)  # cents to units, exactly
            print(f"{draft.organization_id} {draft.period_start:%Y-%m-%d} {total} {draft.currency}")
            try:
                issued = billing.invoices.issue(draft.subscription_id, draft.invoice_id)
            except Conflict as refused:  # period_open: usage may still come
                print(f"  left as a draft: {refused.code}")
                continue
            csv = billing.invoices.export(issued.subscription_id, issued.invoice_id, format="csv")
            (Path(folder) / f"{issued.number}.csv").write_bytes(csv)
            print(f"  issued {issued.number}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
