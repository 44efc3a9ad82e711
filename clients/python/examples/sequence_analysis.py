"""A sequencing pipeline, billing a whole run's analyses at once (sent 100 a request), per sample.

BILLING_URL=... BILLING_TOKEN=... python sequence_analysis.py org-helix flowcell-A7 250
"""

from __future__ import annotations

import os
import sys

from marketplace_billing import Billing, sequence_analysis


def main(organization_id: str, flowcell: str, analyses: int) -> int:
    samples = {f"{flowcell}-lane{n:03d}": 96 for n in range(analyses)}  # the pipeline's own results
    with Billing(os.environ["BILLING_URL"], token=os.environ["BILLING_TOKEN"]) as billing:
        results = billing.usage.record_many(
            sequence_analysis(organization_id, analysis_id, units=count) for analysis_id, count in samples.items()
        )
    charged = [r for r in results if r.charged]  # accepted now, or earlier under the same key
    for refused in (r for r in results if not r.charged):
        print(f"refused {refused.idempotency_key}: {refused.error['code']} {refused.error['message']}")
    print(f"{flowcell}: {len(charged)} of {len(results)} analyses charged")
    return 0 if len(charged) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
