"""The local stack's embedded DynamoDB (moto): a failed transaction leaves every item as it was,
and a long-running server keeps no copies of what it no longer holds."""

import boto3
import pytest
from botocore.exceptions import ClientError

from local_stack.database import EmbeddedDynamoDB


@pytest.fixture(scope="module")
def dynamodb():
    database = EmbeddedDynamoDB().start()
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
    database.stop()


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
