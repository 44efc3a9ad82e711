"""template.yaml serves every route of the contract, and every function has sample events."""
import re
from pathlib import Path

from local_stack.template import Stack

ROOT = Path(__file__).resolve().parents[2]
API = ROOT.parent / "shared" / "API.md"


def contract_routes() -> set[tuple[str, str]]:
    text = API.read_text()
    found = set()
    for method, path in re.findall(r"`(GET|POST|PUT|DELETE|PATCH) (/[^`?\s]*)", text):
        if path.startswith("/_local"):
            continue
        found.add((method, "/api/billing" + path))
    for path in re.findall(r"`(\.\.\./[a-z]+)`", text):  # ".../void" next to the issue route
        found.add(("POST", "/api/billing/subscriptions/{subscription_id}/invoices/{invoice_id}/" + path.split("/")[-1]))
    return found


def test_every_contract_route_is_declared_in_the_template():
    stack = Stack(ROOT / "template.yaml")
    declared = {(r.method, r.path) for r in stack.api_routes()}
    missing = contract_routes() - declared
    assert len(contract_routes()) >= 20
    assert not missing, f"routes of API.md missing from template.yaml: {sorted(missing)}"


def test_only_the_public_catalog_routes_skip_the_authorizer():
    public = {(r.method, r.path) for r in Stack(ROOT / "template.yaml").api_routes() if r.authorizer is None}
    assert public == {("GET", "/api/billing/plans"), ("GET", "/api/billing/plans/{plan_id}")}


def test_every_function_has_sample_events():
    stack = Stack(ROOT / "template.yaml")
    for spec in stack.functions().values():
        folder = ROOT / "events" / spec.code_dir.name
        assert list(folder.glob("*.json")), f"no sample events for {spec.logical_id} in {folder}"
