"""The subscription and credit functions on moto, driven by events/."""

from .conftest import claims


def provisioned(functions) -> dict:
    functions.http("PlanCatalogFunction", "plan_catalog/list_plans.json")  # seeds Lab Standard
    status, headers, subscription = functions.http("SubscriptionsFunction", "subscriptions/provision.json")
    assert status == 201, subscription
    assert headers["Location"] == f"/api/billing/subscriptions/{subscription['subscription_id']}"
    return subscription


def test_given_the_sample_events_when_an_organization_subscribes_tops_up_and_cancels_then_the_ledger_follows(functions):
    subscription = provisioned(functions)
    sid = {"subscription_id": subscription["subscription_id"]}
    assert subscription["organization_id"] == "org-helix" and subscription["allowance_balance"] == "1000"

    status, headers, replay = functions.http("SubscriptionsFunction", "subscriptions/provision.json")
    assert status == 200 and replay == subscription and headers["Idempotent-Replayed"] == "true"

    status, _, entry = functions.http("CreditsFunction", "credits/adjust_credits.json", path_parameters=sid)
    assert status == 201 and (entry["seq"], entry["type"], entry["amount"], entry["balance_after"]) == (
        2,
        "top_up",
        "250",
        "1250",
    )

    status, _, found = functions.http(
        "SubscriptionsFunction", "subscriptions/get_subscription.json", path_parameters=sid
    )
    assert status == 200 and found["credit_balance"] == "1250" and found["health"]["status"] == "healthy"

    status, _, page = functions.http("CreditsFunction", "credits/read_ledger.json", path_parameters=sid)
    assert status == 200 and [e["seq"] for e in page["items"]] == [1, 2]

    status, _, listed = functions.http("SubscriptionsFunction", "subscriptions/list_for_organization.json")
    assert status == 200 and [s["subscription_id"] for s in listed["items"]] == [subscription["subscription_id"]]

    status, _, canceled = functions.http("SubscriptionsFunction", "subscriptions/cancel.json", path_parameters=sid)
    assert status == 200 and canceled["status"] == "canceled" and canceled["canceled_at"]


def test_given_another_organization_when_it_reads_the_subscription_then_404(functions):
    subscription = provisioned(functions)
    sid = {"subscription_id": subscription["subscription_id"]}
    outsider = claims("org:admin", org="org-other")
    for function_id, event in (
        ("SubscriptionsFunction", "subscriptions/get_subscription.json"),
        ("CreditsFunction", "credits/read_ledger.json"),
        ("SubscriptionsFunction", "subscriptions/cancel.json"),
    ):
        status, _, body = functions.http(function_id, event, path_parameters=sid, authorizer=outsider)
        assert status == 404 and body["error"]["code"] == "not_found"
