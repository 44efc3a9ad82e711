"""Events out on moto: the outbox records a change writes in its own transaction (and a change that
does not commit leaves none), and OutboxPublisherFunction putting stream records on the bus in
tens, reporting what the bus did not take, under the event ids the outbox holds."""

import copy
import json

import boto3
import pytest
from msgspec.structs import replace

from billing import deployment
from billing.domain.credits import CreditBook, CreditPosting
from billing.domain.errors import RetryableConflict
from billing.store.eventbridge import EventBridgePublisher

from .conftest import TEMPLATE, sample_event
from .test_subscriptions import provisioned

OUTBOX = next(t["TableName"] for t in TEMPLATE.tables() if t["TableName"].startswith("marketplace_billing_outbox"))


def outbox(functions) -> list[dict]:
    """The events the outbox holds, oldest item first."""
    items = deployment.dynamodb().scan(TableName=OUTBOX, ConsistentRead=True)["Items"]
    return [e for item in sorted(items, key=lambda i: i["record_id"]["S"]) for e in json.loads(item["events"]["S"])]


def test_a_change_writes_its_event_in_its_transaction_and_a_change_that_does_not_commit_writes_none(functions):
    subscription = provisioned(functions)
    sid = {"subscription_id": subscription["subscription_id"]}
    status, _, entry = functions.http("CreditsFunction", "credits/adjust_credits.json", path_parameters=sid)
    assert status == 201
    (event,) = outbox(functions)
    detail = event["detail"]
    assert event["detail_type"] == "CreditsToppedUp" and detail["event_id"] == event["event_id"]
    assert detail["ledger_entry"] == entry and detail["subscription_id"] == subscription["subscription_id"]
    (item,) = deployment.dynamodb().scan(TableName=OUTBOX)["Items"]
    assert item["record_id"]["S"] == event["event_id"] and int(item["expires_at"]["N"]) > 0  # TTL

    # A change whose seq condition fails (a concurrent writer came first): nothing of it lands.
    store = deployment.subscription_store()
    current = store.get(subscription["subscription_id"])
    book = CreditBook.open(current, functions.clock.now(), "admin")
    book.take_exactly(current.credit_balance)  # to zero: a low alert and a depletion, had it committed
    book.post_draws("adjustment", reference="request:stale", reason="lost the race")
    posting = CreditPosting.of(current, book)
    assert [e.detail_type for e in posting.events] == ["CreditBalanceLow", "CreditsDepleted"]
    with pytest.raises(RetryableConflict):
        store.append(replace(posting, previous_revision=current.revision - 1), idempotency=None)
    assert len(outbox(functions)) == 1

    status, _, _ = functions.http("SubscriptionsFunction", "subscriptions/cancel.json", path_parameters=sid)
    assert status == 200
    assert [e["detail_type"] for e in outbox(functions)] == ["CreditsToppedUp", "SubscriptionCanceled"]


class FakeEvents:
    """An EventBridge client that records each PutEvents call and refuses the entries asked."""

    def __init__(self, refuse=(), fail_calls=()):
        self.calls: list[list[dict]] = []
        self.refuse, self.fail_calls = set(refuse), set(fail_calls)

    def put_events(self, Entries):  # noqa: N803 - boto3's parameter name
        self.calls.append(Entries)
        if len(self.calls) in self.fail_calls:
            raise ConnectionError("unreachable")
        answers = [
            {"ErrorCode": "InternalFailure"} if json.loads(e["Detail"])["event_id"] in self.refuse else {"EventId": "x"}
            for e in Entries
        ]
        return {"FailedEntryCount": sum("ErrorCode" in a for a in answers), "Entries": answers}


def stream_batch(count: int, *, per_record: int = 1) -> dict:
    """`count` events in stream records of `per_record` events each (as one write's outbox item)."""
    template = sample_event("outbox_publisher/stream_batch.json")["Records"][0]
    (sample,) = json.loads(template["dynamodb"]["NewImage"]["events"]["S"])
    records = []
    for first in range(0, count, per_record):
        record = copy.deepcopy(template)
        events = []
        for n in range(first, min(first + per_record, count)):
            event_id = f"01KAXQ3Z8N6R9T2V4W6Y8A{n:04d}"
            events.append(sample | {"event_id": event_id, "detail": sample["detail"] | {"event_id": event_id}})
        image = record["dynamodb"]["NewImage"]
        image["record_id"]["S"] = record["dynamodb"]["Keys"]["record_id"]["S"] = events[0]["event_id"]
        image["events"]["S"] = json.dumps(events)
        record["dynamodb"]["SequenceNumber"] = f"{len(records) + 1:021d}"
        records.append(record)
    return {"Records": records}


@pytest.fixture
def bus(functions):
    """The publisher's bus, swapped for a fake (undone before `functions` resets the deployment)."""
    with pytest.MonkeyPatch.context() as patch:

        def use(fake):
            patch.setattr(deployment, "events_publisher", lambda: EventBridgePublisher(fake, "billing-bus"))
            return fake

        yield use


def test_the_publisher_puts_new_records_on_the_bus_ten_at_a_time_under_their_event_ids(functions, bus):
    fake = bus(FakeEvents())
    answer = functions("OutboxPublisherFunction").invoke(stream_batch(23))
    assert answer == {"batchItemFailures": []}
    assert [len(call) for call in fake.calls] == [10, 10, 3]
    first = fake.calls[0][0]
    assert (first["Source"], first["DetailType"], first["EventBusName"]) == (
        "marketplace.billing",
        "SubscriptionCanceled",
        "billing-bus",
    )
    published = [json.loads(e["Detail"])["event_id"] for call in fake.calls for e in call]
    assert published == [f"01KAXQ3Z8N6R9T2V4W6Y8A{n:04d}" for n in range(23)]


def test_records_the_bus_refused_are_reported_so_the_stream_retries_them(functions, bus):
    bus(FakeEvents(refuse={"01KAXQ3Z8N6R9T2V4W6Y8A0003"}, fail_calls={2}))
    answer = functions("OutboxPublisherFunction").invoke(stream_batch(23))
    failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
    # The refused entry of the first call, then all of the failed second call and what followed it.
    assert failed == [f"{n:021d}" for n in [4, *range(11, 24)]]


def test_a_batch_delivered_twice_is_published_twice_under_the_same_event_ids(functions, bus):
    fake = bus(FakeEvents())
    batch = stream_batch(3)
    publisher = functions("OutboxPublisherFunction")
    publisher.invoke(batch)
    publisher.invoke(batch)  # the function crashed after PutEvents, before the checkpoint
    ids = [json.loads(e["Detail"])["event_id"] for call in fake.calls for e in call]
    assert ids[:3] == ids[3:] and len(set(ids)) == 3


def test_a_record_holding_several_events_is_retried_whole_when_one_of_them_was_refused(functions, bus):
    """A period close that ended holds wrote its events as one outbox item: any refused event
    sends the item back to the stream (the others go again under the same ids)."""
    fake = bus(FakeEvents(refuse={"01KAXQ3Z8N6R9T2V4W6Y8A0012"}))
    answer = functions("OutboxPublisherFunction").invoke(stream_batch(30, per_record=5))
    assert [len(call) for call in fake.calls] == [10, 10]  # then nothing: the stream resends from there
    # Record 3 (events 10..14) was refused in part; 5 and 6 were not tried.
    assert [f["itemIdentifier"] for f in answer["batchItemFailures"]] == [f"{n:021d}" for n in (3, 5, 6)]


def test_removals_from_the_outbox_are_not_events(functions, bus):
    fake = bus(FakeEvents())
    batch = stream_batch(2)
    batch["Records"][0]["eventName"] = "REMOVE"  # TTL expiry
    functions("OutboxPublisherFunction").invoke(batch)
    assert [len(call) for call in fake.calls] == [1]


def test_the_sample_batch_goes_onto_the_template_bus(functions):
    """The entries are ones EventBridge (moto's) takes."""
    bus_name = TEMPLATE.resolve({"Ref": "BillingEventsBus"})
    boto3.client("events", region_name="us-east-1").create_event_bus(Name=bus_name)
    answer = functions("OutboxPublisherFunction").invoke(sample_event("outbox_publisher/stream_batch.json"))
    assert answer == {"batchItemFailures": []}
