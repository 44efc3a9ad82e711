"""The local stack's DynamoDB Streams (local_stack/streams.py) deliver as the template declares:
INSERT then MODIFY when an item's status moves, only what the filters let through, and a failed
batch retried whole, or from its first failed record when the function reports item failures."""

from pathlib import Path

from local_stack.streams import StreamRelay
from local_stack.template import Stack, StreamSource

ROOT = Path(__file__).resolve().parents[2]


class Table:
    """The two calls the relay makes (a keys-and-status scan, then batch reads) on a dict."""

    def __init__(self, name: str):
        self.name, self.items = name, {}

    def put(self, key: str, status: str | None = None) -> None:
        item = {"pk": {"S": key}}
        if status:
            item["status"] = {"S": status}
        self.items[key] = item

    def scan(self, **_):
        return {"Items": [dict(item) for item in self.items.values()]}

    def batch_get_item(self, RequestItems):  # noqa: N803 - boto3's spelling
        keys = [k["pk"]["S"] for k in RequestItems[self.name]["Keys"]]
        return {"Responses": {self.name: [self.items[k] for k in keys]}}


class Function:
    """Records each batch's (eventName, key); fails the keys it is told to, or raises."""

    def __init__(self, failing=(), raising=False):
        self.batches: list[list[tuple[str, str]]] = []
        self.failing, self.raising = set(failing), raising

    def invoke(self, event):
        records = event["Records"]
        self.batches.append([(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records])
        if self.raising:
            raise RuntimeError("the whole invocation failed")
        failed = [r for r in records if r["dynamodb"]["Keys"]["pk"]["S"] in self.failing]
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in failed]}


def relay_for(table: Table, function: Function, **source) -> StreamRelay:
    spec = StreamSource("F", table.name, "arn:stream", source.pop("batch_size", 10), ("pk",), **source)
    return StreamRelay(table, spec, function)


def deliver(relay: StreamRelay) -> int:
    relay.written()
    return relay.deliver()


def test_new_items_go_once_in_key_order_and_a_status_change_goes_again_as_modify():
    table, function = Table("t"), Function()
    for key in ("b", "a"):
        table.put(key)
    relay = relay_for(table, function)
    assert deliver(relay) == 2
    assert deliver(relay) == 0
    table.put("a", status="voided")
    assert deliver(relay) == 1
    assert function.batches == [[("INSERT", "a"), ("INSERT", "b")], [("MODIFY", "a")]]


def test_with_item_failures_reported_the_batch_is_retried_from_its_first_failed_record():
    table, function = Table("t"), Function(failing={"b"})
    for key in ("a", "b", "c"):
        table.put(key)
    relay = relay_for(table, function, reports_item_failures=True)
    assert deliver(relay) == 1
    function.failing.clear()
    assert relay.deliver() == 2  # marked dirty again by the failure: no new write needed
    assert function.batches[1] == [("INSERT", "b"), ("INSERT", "c")]


def test_without_item_failures_a_failed_invocation_retries_the_whole_batch():
    table, function = Table("t"), Function(failing={"b"}, raising=True)
    for key in ("a", "b"):
        table.put(key)
    relay = relay_for(table, function)
    assert deliver(relay) == 0
    function.raising = False
    assert relay.deliver() == 2
    assert function.batches[1] == [("INSERT", "a"), ("INSERT", "b")]


def test_records_the_filters_keep_out_never_reach_the_function():
    table, function = Table("t"), Function()
    table.put("a")
    table.put("b", status="voided")
    relay = relay_for(table, function, filters=({"dynamodb": {"NewImage": {"status": {"S": ["voided"]}}}},))
    assert deliver(relay) == 1
    assert function.batches == [[("INSERT", "b")]]


def test_the_template_streams_report_item_failures_where_they_declare_it():
    sources = {s.function_id: s for s in Stack(ROOT / "template.yaml").stream_sources()}
    assert sources["OutboxPublisherFunction"].reports_item_failures
    assert not sources["GuardrailRollupsFunction"].reports_item_failures
