"""A commit whose answer was lost (a timeout, the SDK retrying the same write) finds its own
record on the retry: that request did the work, so it answers as a first request (201), never as
a replay (200 with Idempotent-Replayed), and nothing is charged twice."""
from decimal import Decimal

from billing.domain.idempotency import KeyAlreadyCommitted
from billing.services import credits
from billing.services.credits import CreditChangeRequest

from .world import ADMIN, NOW, World, no_pause


def test_usage_whose_commit_answer_was_lost_is_accepted_not_replayed():
    world = World()
    commit = world.usage.record

    def commit_then_lose_the_answer(*args, **kwargs):
        commit(*args, **kwargs)
        commit(*args, **kwargs)  # the SDK's retry of the same write meets the rows the first one wrote

    world.usage.record = commit_then_lose_the_answer
    event, replayed = world.record("first-time", 2)
    assert not replayed and event.credits == 10
    assert [e.type for e in world.ledger()] == ["grant", "usage"]


def test_a_twins_usage_is_still_a_replay():
    world = World()
    commit = world.usage.record
    twin = {}

    def a_twin_commits_first(*args, **kwargs):
        if not twin:
            twin["done"] = True
            World.record(world, "same", 2)  # a concurrent request with the same key and body
        return commit(*args, **kwargs)

    world.usage.record = a_twin_commits_first
    event, replayed = world.record("same", 2)
    assert replayed and event.credits == 10 and [e.type for e in world.ledger()] == ["grant", "usage"]


def test_a_credit_change_whose_commit_answer_was_lost_is_created_not_replayed():
    world = World()
    append = world.subscriptions.append

    def append_then_lose_the_answer(subscription, entry, *, idempotency, require_active=False):
        append(subscription, entry, idempotency=idempotency, require_active=require_active)
        raise KeyAlreadyCommitted()  # the retry found the record the lost commit wrote

    world.subscriptions.append = append_then_lose_the_answer
    body = CreditChangeRequest(amount=Decimal(5), type="top_up", reason="pack", idempotency_key="k")
    entry, replayed = credits.change_credits(world.plans, world.subscriptions, ADMIN, world.sid, body, now=NOW, pause=no_pause)
    assert not replayed and entry.amount == 5
    assert [e.type for e in world.ledger()] == ["grant", "top_up"]

