"""Retries and twins: a commit whose answer was lost (a timeout, the SDK retrying the same write)
finds its own record on the retry, so it answers as a first request (201), never as a replay; a
concurrent twin that committed first is replayed, never refused; nothing is charged twice."""

from decimal import Decimal

from billing.domain.errors import RetryableConflict
from billing.domain.idempotency import KeyAlreadyCommitted
from billing.services import credits
from billing.services.credits import CreditChangeRequest

from .world import ADMIN, World, no_pause


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

    def append_then_lose_the_answer(posting, *, idempotency, require_active=False):
        append(posting, idempotency=idempotency, require_active=require_active)
        raise KeyAlreadyCommitted()  # the retry found the record the lost commit wrote

    world.subscriptions.append = append_then_lose_the_answer
    body = CreditChangeRequest(amount=Decimal(5), type="top_up", reason="pack", idempotency_key="k")
    entry, replayed = credits.change_credits(world.billing, ADMIN, world.sid, body, pause=no_pause)
    assert not replayed and entry.amount == 5
    assert [e.type for e in world.ledger()] == ["grant", "top_up"]


def test_an_adjustment_whose_lost_commit_leaves_too_little_for_its_retry_is_created_not_replayed():
    """The SDK retried a commit that had landed (its answer was lost): the retry finds our own
    adjustment's effect, the balance floor refuses it, and the key is ours. That is a 201."""
    world = World(credit_allowance=Decimal(5))
    append = world.subscriptions.append

    def append_then_lose_the_answer(posting, *, idempotency, require_active=False):
        append(posting, idempotency=idempotency, require_active=require_active)
        world.subscriptions.append = append  # the next attempt meets the state this one left
        raise RetryableConflict("the answer was lost; the SDK's retry met its own commit")

    world.subscriptions.append = append_then_lose_the_answer
    body = CreditChangeRequest(amount=Decimal(-5), type="adjustment", reason="refund", idempotency_key="k")
    entry, replayed = credits.change_credits(world.billing, ADMIN, world.sid, body, pause=no_pause)
    assert not replayed and entry.amount == -5 and world.subscriptions.get(world.sid).credit_balance == 0


def test_a_usage_twin_that_committed_meanwhile_is_replayed_not_refused():
    world = World(overage_policy="block", credit_allowance=Decimal(5))
    find_events = world.usage.find_events
    calls = []

    def racing_find_events(keys):
        calls.append(keys)
        if len(calls) == 1:  # our first look finds nothing; the twin commits right after it
            found = find_events(keys)
            world.record("same", 1)
            return found
        return find_events(keys)

    world.usage.find_events = racing_find_events
    event, replayed = world.record("same", 1)  # our own attempt now meets an empty balance
    assert replayed and event.credits == 5 and len([e for e in world.ledger() if e.type == "usage"]) == 1


def test_a_credit_twin_that_committed_meanwhile_is_replayed_not_refused():
    world = World()
    body = CreditChangeRequest(amount=Decimal(-1), type="adjustment", reason="r", idempotency_key="k")
    credits.change_credits(
        world.billing,
        ADMIN,
        world.sid,
        CreditChangeRequest(amount=Decimal(1), type="top_up", reason="r", idempotency_key="t"),
    )
    lookup = world.subscriptions.idempotency_record
    state = {"first": True}

    def racing_lookup(scope):
        if state.pop("first", False):
            credits.change_credits(world.billing, ADMIN, world.sid, body, pause=no_pause)  # the twin
            return None
        return lookup(scope)

    world.subscriptions.idempotency_record = racing_lookup
    entry, replayed = credits.change_credits(world.billing, ADMIN, world.sid, body, pause=no_pause)
    assert replayed and entry.amount == -1 and world.subscriptions.get(world.sid).credit_balance == 1000
