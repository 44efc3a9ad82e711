"""The local stack's queues (local_stack/queues.py) run as template.yaml declares them: batch
sizes, partial batch failures, maxReceiveCount to the dead-letter queue, rules to queue targets."""

import json
from collections import Counter
from pathlib import Path

import pytest

from local_stack.patterns import matches
from local_stack.queues import LocalQueues
from local_stack.template import Stack

ROOT = Path(__file__).resolve().parents[2]
STACK = Stack(ROOT / "template.yaml")


class Recorder:
    """A stand-in for the template's functions: records batches, fails the bodies it is told to."""

    def __init__(self, failing=(), raising=False):
        self.batches: list[tuple[str, list[str]]] = []
        self.failing, self.raising = set(failing), raising

    def __call__(self, function_id, event):
        bodies = [r["body"] for r in event["Records"]]
        self.batches.append((function_id, bodies))
        if self.raising:
            raise RuntimeError("the whole invocation failed")
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in self.failing
            ]
        }


def test_the_template_declares_each_consumer_with_its_batch_size_and_partial_failures():
    sources = {s.queue: s for s in STACK.queue_sources()}
    assert (sources["UsageQueue"].function_id, sources["UsageQueue"].batch_size) == ("UsageBusFunction", 100)
    assert (sources["PeriodClosingQueue"].function_id, sources["PeriodClosingQueue"].batch_size) == (
        "PeriodClosingFunction",
        10,
    )
    assert all(s.reports_item_failures for s in sources.values())
    specs = {q.logical_id: q for q in STACK.queues()}
    assert (specs["PeriodClosingQueue"].max_receive_count, specs["PeriodClosingQueue"].dead_letter_queue) == (
        5,
        "PeriodClosingDeadLetterQueue",
    )


def test_messages_are_delivered_in_batches_and_only_the_failed_come_back_until_dead_lettered():
    invoke = Recorder(failing={"m7"})
    queues = LocalQueues(STACK, invoke)
    for i in range(23):
        queues.send("PeriodClosingQueue", f"m{i}")
    report = queues.drain("PeriodClosingQueue")["PeriodClosingQueue"]
    assert [len(bodies) for _, bodies in invoke.batches[:2]] == [10, 10]
    received = Counter(body for _, bodies in invoke.batches for body in bodies)
    assert received["m7"] == 5 and set(received.values()) == {1, 5}  # every other message once
    assert report == {"deliveries": 27, "failures": 5, "dead_lettered": 1}
    assert queues.messages("PeriodClosingDeadLetterQueue") == ["m7"] and queues.messages("PeriodClosingQueue") == []


def test_a_failed_invocation_redelivers_its_whole_batch():
    queues = LocalQueues(STACK, Recorder(raising=True))
    queues.send("UsageQueue", "a")
    queues.send("UsageQueue", "b")
    assert queues.drain("UsageQueue")["UsageQueue"] == {"deliveries": 6, "failures": 6, "dead_lettered": 2}


def test_events_on_the_bus_reach_the_queues_of_the_rules_they_match():
    queues = LocalQueues(STACK, Recorder())
    routed = queues.put_events(
        "UsageBus", [{"detail-type": "UsageRecorded", "source": "s", "detail": {}}, {"detail-type": "Other"}]
    )
    assert routed == 1
    [body] = queues.messages("UsageQueue")
    assert json.loads(body)["detail-type"] == "UsageRecorded" and json.loads(body)["id"]
    assert queues.put_events("NoSuchBus", [{"detail-type": "UsageRecorded"}]) == 0
    assert matches({"detail": {"kind": ["a"]}}, {"detail": {"kind": "a"}}) and not matches({"x": ["a"]}, {})


def test_a_function_sends_through_the_sqs_call_billing_makes():
    queues = LocalQueues(STACK, Recorder())
    url = STACK.resolve({"Ref": "PeriodClosingQueue"})
    answer = queues.send_message_batch(QueueUrl=url, Entries=[{"Id": "0", "MessageBody": "x"}])
    assert answer["Failed"] == [] and queues.messages("PeriodClosingQueue") == ["x"]
    with pytest.raises(KeyError):
        queues.drain("PeriodClosingDeadLetterQueue")  # no function reads it
