"""The local stack runs for a whole demo or test session: its memory grows with the data it
holds, not with the number of writes (moto kept every version of every item, ~5 MB an event)."""

from pathlib import Path

from .test_subscriptions_http import new_org, subscribe
from .test_usage_http import usage_body


def resident_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def test_memory_grows_less_than_50_mb_over_3000_usage_events(fresh_server, token):
    server = fresh_server
    org = new_org()
    subscribe(server, token, org)
    service = token("service")

    def batch():
        events = [usage_body(org, quantity="0.01", metadata={"run": f"run-{n}"}) for n in range(100)]
        response = server.request("POST", "/usage/batch", token=service, json={"events": events})
        assert response.status_code == 200 and {r["status"] for r in response.json()["results"]} == {"accepted"}

    batch()  # warm: every function loaded, every table touched
    before = resident_mb(server.process.pid)
    for _ in range(30):
        batch()
    for _ in range(100):  # single events too: one transaction each
        assert server.request("POST", "/usage", token=service, json=usage_body(org, quantity="0.01")).status_code == 201
    assert resident_mb(server.process.pid) - before < 50
