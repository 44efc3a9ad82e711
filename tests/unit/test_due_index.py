"""The due index's attributes (store/due_index.py) and the period-closing queue's SQS adapter
(store/sqs.py), without a database: what they write and send."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from billing.domain.closing import DueClose
from billing.domain.errors import ValidationFailed
from billing.store.due_index import SHARDS, due_attributes, due_moment, due_shard, keeping_due_index
from billing.store.sqs import QueueUnavailable, SqsClosingQueue

from .world import NOW, World


def test_due_moments_sort_as_text_as_they_do_in_time():
    moments = [NOW, NOW + timedelta(microseconds=1), NOW + timedelta(seconds=1), datetime(2027, 1, 1, tzinfo=UTC)]
    assert sorted(map(due_moment, moments)) == list(map(due_moment, moments))
    assert len({len(due_moment(m)) for m in moments}) == 1


def test_shards_are_stable_and_spread_one_residency_over_every_shard():
    ids = [f"01KAXH7N3Q5W0S8D2M4R6T{i:04d}" for i in range(2000)]
    counts = Counter(due_shard("us", i) for i in ids)
    assert len(counts) == SHARDS and max(counts.values()) < 2 * 2000 / SHARDS
    assert due_shard("us", ids[0]) == due_shard("us", ids[0]) and due_shard("eu", ids[0]).startswith("DUE#eu#")


def test_a_subscription_whose_final_period_is_closed_carries_no_due_attributes():
    subscription = World().subscription
    attributes = due_attributes(subscription)
    assert attributes["due_order"] == f"{due_moment(subscription.current_period_end)}#{subscription.subscription_id}"
    closed = subscription.model_copy(update={"final_period_closed": True, "grants": ()})
    assert due_attributes(closed) == {}


def test_an_update_sets_the_due_attributes_or_removes_them():
    subscription = World().subscription
    update = {"Update": {"UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}}}
    kept = keeping_due_index(update, subscription)["Update"]
    assert kept["UpdateExpression"] == "SET due_shard = :due_shard, due_order = :due_order, a = :a"
    assert kept["ExpressionAttributeValues"][":due_order"]["S"].endswith(subscription.subscription_id)
    closed = subscription.model_copy(update={"final_period_closed": True, "grants": ()})
    removed = keeping_due_index(update, closed)["Update"]
    assert removed["UpdateExpression"] == "SET a = :a REMOVE due_shard, due_order"
    assert update["Update"]["UpdateExpression"] == "SET a = :a"  # the caller's action is left as it was


class FakeSqs:
    def __init__(self, fail_first: int = 0, sender_fault: bool = False):
        self.calls: list[list[dict]] = []
        self.fail_first, self.sender_fault = fail_first, sender_fault

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - boto3's names
        self.calls.append(Entries)
        failing = Entries[: self.fail_first]
        self.fail_first = 0
        failed = [{"Id": e["Id"], "SenderFault": self.sender_fault, "Code": "x", "Message": "no"} for e in failing]
        return {"Successful": [{"Id": e["Id"]} for e in Entries[len(failing) :]], "Failed": failed}


def test_due_subscriptions_are_sent_ten_a_batch_with_the_runs_moment():
    sqs = FakeSqs()
    sent = SqsClosingQueue(sqs, "url").send((f"sub-{i}" for i in range(23)), NOW)
    assert sent == 23 and [len(batch) for batch in sqs.calls] == [10, 10, 3]
    first = DueClose.from_message(sqs.calls[0][0]["MessageBody"])
    assert first == DueClose("sub-0", NOW)


def test_entries_sqs_could_not_take_are_sent_again_and_refused_ones_raise():
    sqs = FakeSqs(fail_first=2)
    assert SqsClosingQueue(sqs, "url").send(["a", "b", "c"], NOW) == 3
    assert [len(batch) for batch in sqs.calls] == [3, 2]  # only the two that failed, once more
    with pytest.raises(QueueUnavailable):
        SqsClosingQueue(FakeSqs(fail_first=1, sender_fault=True), "url").send(["a"], NOW)


def test_a_message_that_is_not_a_due_close_is_a_validation_failure():
    with pytest.raises(ValidationFailed):
        DueClose.from_message(json.dumps({"subscription_id": "s"}))
    with pytest.raises(ValidationFailed):
        DueClose.from_message("not json")
