"""template.yaml serves every route of the contract, and every function has sample events."""

import re
from pathlib import Path

from local_stack.template import Stack

ROOT = Path(__file__).resolve().parents[2]
API = ROOT.parent / "shared" / "API.md"


def contract_routes() -> set[tuple[str, str]]:
    text = API.read_text()
    found = set()
    # A code span may wrap a line between the method and the path.
    for method, path in re.findall(r"`(GET|POST|PUT|DELETE|PATCH)\s+(/[^`?\s]*)", text):
        if path.startswith("/_local"):
            continue
        found.add((method, path if path.startswith("/api/billing/") else "/api/billing" + path))
    for path in re.findall(r"`(\.\.\./[a-z]+)`", text):  # ".../void" next to the issue route
        found.add(("POST", "/api/billing/subscriptions/{subscription_id}/invoices/{invoice_id}/" + path.split("/")[-1]))
    return found


# Routes API.md names that open issues build, with the issue that builds each. The list may only
# shrink: a route built is taken off it (the test below fails until it is), a new route of the
# contract that nobody has taken on fails the test until it is built or listed here.
NOT_YET_BUILT: dict[tuple[str, str], int] = {}


def not_yet_built() -> set[tuple[str, str]]:
    return {(method, "/api/billing" + path) for method, path in NOT_YET_BUILT}


def test_every_contract_route_is_declared_in_the_template_or_awaits_its_issue():
    stack = Stack(ROOT / "template.yaml")
    declared = {(r.method, r.path) for r in stack.api_routes()}
    missing = contract_routes() - declared - not_yet_built()
    assert len(contract_routes()) >= 20
    assert not missing, f"routes of API.md missing from template.yaml: {sorted(missing)}"


def test_the_list_of_routes_awaiting_an_issue_only_holds_unbuilt_contract_routes():
    declared = {(r.method, r.path) for r in Stack(ROOT / "template.yaml").api_routes()}
    assert not not_yet_built() & declared, "built: take these off NOT_YET_BUILT"
    assert not_yet_built() <= contract_routes(), "listed but no longer in API.md"


def test_only_the_public_catalog_routes_skip_the_authorizer():
    routes = Stack(ROOT / "template.yaml").api_routes()
    public = {(r.method, r.path) for r in routes if r.authorizer is None and r.method != "ANY"}
    assert public == {
        ("GET", "/api/billing/plans"),
        ("GET", "/api/billing/plans/{plan_id}"),
        ("GET", "/api/billing/plans/{plan_id}/versions"),
        ("GET", "/api/billing/openapi.json"),
    }


def test_every_function_has_sample_events():
    stack = Stack(ROOT / "template.yaml")
    for spec in stack.functions().values():
        folder = ROOT / "events" / spec.code_dir.name
        assert list(folder.glob("*.json")), f"no sample events for {spec.logical_id} in {folder}"


def test_every_path_answers_its_other_methods_and_allow_lists_what_the_template_declares():
    """Each path has an ANY method (no token: it answers OPTIONS and 405, never data), and what
    `Allow` lists for it (from the layer's operations table) is what template.yaml declares."""
    from billing.api.http import allowed_methods

    routes = Stack(ROOT / "template.yaml").api_routes()
    declared: dict[str, set[str]] = {}
    for route in routes:
        if route.method != "ANY":
            declared.setdefault(route.path, set()).add(route.method)
    assert set(declared) == {r.path for r in routes if r.method == "ANY" and r.authorizer is None}
    concrete = {path: path.replace("{", "x").replace("}", "") for path in declared}  # {plan_id} -> xplan_id
    assert {path: set(allowed_methods(concrete[path])) for path in declared} == declared
