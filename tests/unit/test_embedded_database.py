"""The local stack's embedded DynamoDB (moto): a failed transaction leaves every item as it was,
and a long-running server keeps no copies of what it no longer holds."""

import random

import boto3
import pytest
from botocore.exceptions import ClientError

from local_stack.database import EmbeddedDynamoDB


@pytest.fixture(scope="module")
def database():
    database = EmbeddedDynamoDB().start()
    yield database
    database.stop()


@pytest.fixture(scope="module")
def dynamodb(database):
    client = boto3.client(
        "dynamodb",
        endpoint_url=database.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    client.create_table(
        TableName="things",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    yield client


def put(pk, **attributes):
    return {
        "Put": {"TableName": "things", "Item": {"pk": {"S": pk}, **{k: {"N": str(v)} for k, v in attributes.items()}}}
    }


def test_a_cancelled_transaction_puts_back_what_its_earlier_actions_changed(dynamodb):
    dynamodb.put_item(TableName="things", Item={"pk": {"S": "kept"}, "n": {"N": "1"}})
    dynamodb.put_item(TableName="things", Item={"pk": {"S": "gone"}, "n": {"N": "1"}})
    actions = [
        put("new", n=1),
        {
            "Update": {
                "TableName": "things",
                "Key": {"pk": {"S": "kept"}},
                "UpdateExpression": "SET n = :two",
                "ExpressionAttributeValues": {":two": {"N": "2"}},
            }
        },
        {"Delete": {"TableName": "things", "Key": {"pk": {"S": "gone"}}}},
        {
            "ConditionCheck": {
                "TableName": "things",
                "Key": {"pk": {"S": "absent"}},
                "ConditionExpression": "attribute_exists(pk)",
            }
        },
    ]
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(TransactItems=actions)
    items = {i["pk"]["S"]: i["n"]["N"] for i in dynamodb.scan(TableName="things")["Items"]}
    assert items == {"kept": "1", "gone": "1"}
    dynamodb.transact_write_items(TransactItems=actions[:3])  # without the failing check it all lands
    assert {i["pk"]["S"]: i["n"]["N"] for i in dynamodb.scan(TableName="things")["Items"]} == {"kept": "2", "new": "1"}


def test_replaced_items_are_not_kept_by_the_server(dynamodb):
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    for n in range(50):
        dynamodb.transact_write_items(TransactItems=[put("counter", n=n)])
    assert len(Item.instances_tracked) == 0 and len(Table.instances_tracked) == 0


def test_queries_read_only_their_partition_and_keep_dynamodbs_order_and_pages(dynamodb):
    dynamodb.create_table(
        TableName="ranged",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "shard", "order")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_shard",
                "KeySchema": [
                    {"AttributeName": "shard", "KeyType": "HASH"},
                    {"AttributeName": "order", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    for p in range(3):
        for s in (5, 1, 3):
            item = {"pk": {"S": f"p{p}"}, "sk": {"S": f"s{s}"}}
            if s != 3:  # sparse: not every item is in the index
                item |= {"shard": {"S": f"h{s % 2}"}, "order": {"S": f"{s}-{p}"}}
            dynamodb.put_item(TableName="ranged", Item=item)

    def keys(**query):
        pages, start = [], None
        while True:
            found = dynamodb.query(
                TableName="ranged", Limit=2, **query, **({"ExclusiveStartKey": start} if start else {})
            )
            pages.append([(i["pk"]["S"], i["sk"]["S"]) for i in found["Items"]])
            start = found.get("LastEvaluatedKey")
            if not start:
                return pages

    partition = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "p1"}}}
    assert keys(**partition) == [[("p1", "s1"), ("p1", "s3")], [("p1", "s5")]]
    index = {
        "IndexName": "by_shard",
        "KeyConditionExpression": "shard = :h AND #o <= :o",
        "ExpressionAttributeNames": {"#o": "order"},
        "ExpressionAttributeValues": {":h": {"S": "h1"}, ":o": {"S": "5-1"}},
    }
    assert sum(keys(**index), []) == [("p0", "s1"), ("p1", "s1"), ("p2", "s1"), ("p0", "s5"), ("p1", "s5")]
    assert dynamodb.query(TableName="ranged", **partition, ScanIndexForward=False)["Items"][0]["sk"]["S"] == "s5"


def test_index_queries_answer_from_sorted_partitions_as_a_walk_of_the_table_would(dynamodb):
    """Puts, updates that move items between partitions, deletes and transactions, then every kind
    of key condition, both directions, paged: the same items in the same order as a full scan
    filtered and sorted by DynamoDB's rules (sort key, then the table's key)."""
    dynamodb.create_table(
        TableName="indexed",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "shard_id", "AttributeType": "S"},
            {"AttributeName": "rank", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_rank",
                "KeySchema": [
                    {"AttributeName": "shard_id", "KeyType": "HASH"},
                    {"AttributeName": "rank", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    chance = random.Random(28)

    def key(n):
        return {"pk": {"S": f"p{n % 7}"}, "sk": {"S": f"s{n}"}}

    def indexed(n):
        return {"shard_id": {"S": f"h{chance.randrange(3)}"}, "rank": {"N": str(chance.randrange(-20, 40))}}

    for n in range(120):
        dynamodb.put_item(TableName="indexed", Item=key(n) | (indexed(n) if n % 5 else {}))
    first = {":h": {"S": "h0"}}  # a first query builds the index: every write after must keep it
    assert dynamodb.query(
        TableName="indexed",
        IndexName="by_rank",
        KeyConditionExpression="shard_id = :h",
        ExpressionAttributeValues=first,
    )["Items"]
    for n in chance.sample(range(120), 40):
        moved = indexed(n)
        dynamodb.update_item(
            TableName="indexed",
            Key=key(n),
            UpdateExpression="SET shard_id = :h, #r = :r",
            ExpressionAttributeNames={"#r": "rank"},
            ExpressionAttributeValues={":h": moved["shard_id"], ":r": moved["rank"]},
        )
    for n in chance.sample(range(120), 15):
        dynamodb.update_item(TableName="indexed", Key=key(n), UpdateExpression="REMOVE shard_id")
    for n in chance.sample(range(120), 15):
        dynamodb.delete_item(TableName="indexed", Key=key(n))
    dynamodb.transact_write_items(
        TransactItems=[{"Put": {"TableName": "indexed", "Item": key(200 + n) | indexed(n)}} for n in range(10)]
    )
    with pytest.raises(ClientError, match="TransactionCanceled"):  # rolled back: leaves the index as it was
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "indexed", "Item": key(300) | indexed(0)}},
                {"Delete": {"TableName": "indexed", "Key": key(200)}},
                {
                    "ConditionCheck": {
                        "TableName": "indexed",
                        "Key": key(999),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )

    everything = dynamodb.scan(TableName="indexed")["Items"]
    conditions = {
        "": lambda r: True,
        "AND #r = :a": lambda r: r == 5,
        "AND #r < :a": lambda r: r < 5,
        "AND #r <= :a": lambda r: r <= 5,
        "AND #r > :a": lambda r: r > 5,
        "AND #r >= :a": lambda r: r >= 5,
        "AND #r BETWEEN :a AND :b": lambda r: -3 <= r <= 12,
    }
    for shard in ("h0", "h1", "h2"):
        for condition, keeps in conditions.items():
            for forward in (True, False):
                expected = sorted(
                    (
                        (int(i["rank"]["N"]), i["pk"]["S"], i["sk"]["S"])
                        for i in everything
                        if i.get("shard_id", {}).get("S") == shard and "rank" in i and keeps(int(i["rank"]["N"]))
                    ),
                    reverse=not forward,
                )
                values = {":h": {"S": shard}} | {
                    name: {"N": number} for name, number in ((":a", "5"), (":b", "12")) if name in condition
                }
                if "BETWEEN" in condition:
                    values[":a"] = {"N": "-3"}
                found, start = [], None
                while True:
                    page = dynamodb.query(
                        TableName="indexed",
                        IndexName="by_rank",
                        KeyConditionExpression=f"shard_id = :h {condition}",
                        ExpressionAttributeValues=values,
                        **({"ExpressionAttributeNames": {"#r": "rank"}} if condition else {}),
                        ScanIndexForward=forward,
                        Limit=4,
                        **({"ExclusiveStartKey": start} if start else {}),
                    )
                    found += [(int(i["rank"]["N"]), i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]]
                    start = page.get("LastEvaluatedKey")
                    if not start:
                        break
                assert found == expected, (shard, condition, forward)


def test_items_written_straight_into_the_database_are_found_by_key_and_by_index(database, dynamodb):
    dynamodb.create_table(
        TableName="seeded",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "shard_id", "due")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_due",
                "KeySchema": [
                    {"AttributeName": "shard_id", "KeyType": "HASH"},
                    {"AttributeName": "due", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    database.put_items(
        "seeded", [{"pk": {"S": f"s{n}"}, "shard_id": {"S": "h"}, "due": {"S": f"2026-{n:02d}"}} for n in (3, 1, 2)]
    )
    assert dynamodb.get_item(TableName="seeded", Key={"pk": {"S": "s2"}})["Item"]["due"] == {"S": "2026-02"}
    found = dynamodb.query(
        TableName="seeded",
        IndexName="by_due",
        KeyConditionExpression="shard_id = :h AND due <= :d",
        ExpressionAttributeValues={":h": {"S": "h"}, ":d": {"S": "2026-02"}},
    )["Items"]
    assert [i["pk"]["S"] for i in found] == ["s1", "s2"]


def test_an_item_over_400_kb_is_still_refused_when_measured_once(dynamodb):
    big = {"pk": {"S": "big"}, "blob": {"S": "x" * 406_000}}
    with pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
        dynamodb.put_item(TableName="things", Item=big)
    dynamodb.put_item(TableName="things", Item={"pk": {"S": "small"}, "blob": {"S": "x" * 1000}})
