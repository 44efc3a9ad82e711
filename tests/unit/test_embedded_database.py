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
