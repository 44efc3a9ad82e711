"""The DynamoDB interpreter of a write (store/writes.py): each operation becomes one item of one
TransactWriteItems, laid out by its record kind's `Layout`, its condition a ConditionExpression.
A cancelled transaction is a WriteRefused naming the operations whose condition failed."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError
from msgspec import Struct

from .capacity import WriteUnits, item_size, transactional
from .dynamodb import TransactionCancelled, is_conditional_failure, to_attributes, transact_write, value
from .writes import Add, Kind, Operation, Put, Update, WriteRefused

KEYS_ONLY_ENTRY = 100  # bytes: a keys-only index entry (its keys and the table's), under 1 KB


class Layout(Struct, frozen=True):
    """How one kind of record is stored: its table, its key's attributes, its item. `stored`: the
    attributes an update sets, from the update (default: its changes as they are); `finish`: what
    the store adds to an update of its own (the due index); `add`: an Add's update expression;
    `indexed`: its items make index entries (each one more write unit); `keys_only_indexes`: the
    keys-only indexes they are in besides (a small entry each: one write unit)."""

    table: str
    key: Callable[[Hashable], dict[str, Any]]
    item: Callable[[Any], dict[str, Any]] | None = None
    key_name: str = "pk"
    stored: Callable[[Update], Mapping[str, Any]] | None = None
    finish: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None
    add: Callable[[Add, dict[str, Any]], dict[str, Any]] | None = None
    indexed: bool = False
    keys_only_indexes: int = 0


def _conditions(expected: Mapping[str, Any], names: dict[str, str], values: dict[str, Any]) -> list[str]:
    conditions = []
    for n, (name, wanted) in enumerate(expected.items()):
        names[f"#e{n}"] = name
        if wanted is None:  # unset: an item keeps no null attributes
            conditions.append(f"attribute_not_exists(#e{n})")
            continue
        values[f":e{n}"] = value(wanted)
        conditions.append(f"#e{n} = :e{n}")
    return conditions


def _put(layout: Layout, put: Put) -> dict[str, Any]:
    action: dict[str, Any] = {"TableName": layout.table, "Item": to_attributes(layout.item(put.record))}
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    if put.expected is not None:
        action["ConditionExpression"] = " AND ".join(_conditions(put.expected, names, values))
    elif put.lapsed_by is not None:
        action["ConditionExpression"] = f"attribute_not_exists({layout.key_name}) OR expires_at < :lapsed"
        values[":lapsed"] = value(int(put.lapsed_by.timestamp()))
    else:
        action["ConditionExpression"] = f"attribute_not_exists({layout.key_name})"
    if names:
        action["ExpressionAttributeNames"] = names
    if values:
        action["ExpressionAttributeValues"] = values
    return {"Put": action}


def _update(layout: Layout, update: Update) -> dict[str, Any]:
    changes = layout.stored(update) if layout.stored else update.changes
    names = {f"#s{n}": name for n, name in enumerate(changes)}
    values = {f":s{n}": value(changes[name]) for n, name in enumerate(changes)}
    action = {
        "Update": {
            "TableName": layout.table,
            "Key": layout.key(update.key),
            "UpdateExpression": "SET " + ", ".join(f"#s{n} = :s{n}" for n in range(len(changes))),
            "ConditionExpression": " AND ".join(_conditions(update.expected, names, values)),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }
    return layout.finish(action, update.after) if layout.finish else action


def actions(write: Sequence[Operation], layouts: Mapping[Kind, Layout]) -> list[dict[str, Any]]:
    """The transaction items of a write, in its order."""
    translated = []
    for operation in write:
        layout = layouts[operation.kind]
        if isinstance(operation, Put):
            translated.append(_put(layout, operation))
        elif isinstance(operation, Update):
            translated.append(_update(layout, operation))
        else:
            translated.append(layout.add(operation, layout.key(operation.key)))
    return translated


def commit(
    client, write: Sequence[Operation], layouts: Mapping[Kind, Layout], *, before: Sequence[dict[str, Any]] = ()
) -> WriteUnits:
    """Send the write as one transaction; returns the write units it consumed (estimated: see
    store/capacity.py). Raises WriteRefused. `before`: transaction items of the store's own ahead
    of the write (a guard); when one of them fails, the TransactionCancelled is the store's to read."""
    items = actions(write, layouts)
    if len(items) == 1 and not before:
        return _single(client, write, items[0], layouts)
    try:
        # One token an attempt: the SDK's own retry of a commit whose answer was lost is a no-op.
        transact_write(client, [*before, *items], token=secrets.token_hex(16))
    except TransactionCancelled as cancelled:
        if any(cancelled.failed_condition(i) for i in range(len(before))):
            raise
        failed = [
            i - len(before) for i in range(len(before), len(before) + len(items)) if cancelled.failed_condition(i)
        ]
        raise WriteRefused(failed) from None
    return _write_units(write, items, layouts)


def _single(client, write: Sequence[Operation], item: dict[str, Any], layouts: Mapping[Kind, Layout]) -> WriteUnits:
    """A write of one item needs no transaction (and costs half: transactional writes count twice)."""
    ((verb, params),) = item.items()
    try:
        {"Put": client.put_item, "Update": client.update_item}[verb](**params)
    except ClientError as error:
        if is_conditional_failure(error):
            raise WriteRefused([0]) from None
        raise
    doubled = _write_units(write, [item], layouts)
    return WriteUnits(table=doubled.table / 2, indexes=doubled.indexes)


def _write_units(write: Sequence[Operation], items: list[dict[str, Any]], layouts: Mapping[Kind, Layout]) -> WriteUnits:
    """Each item's size after the write: a put's item, an updated record's whole item (when the
    update says what it leaves), an aggregate's counters; 100 bytes for an update of a few fields."""
    sizes, index_entries = [], []
    for operation, item in zip(write, items, strict=True):
        layout = layouts[operation.kind]
        if isinstance(operation, Put):
            size = item_size(item["Put"]["Item"])
        elif isinstance(operation, Update):
            size = item_size(to_attributes(layout.item(operation.after))) if operation.after is not None else 100
        else:
            size = 60 + sum(len(n.encode()) + 8 for n in item["Update"]["ExpressionAttributeNames"].values())
        sizes.append(size)
        if layout.indexed:
            index_entries.append(size)
        if isinstance(operation, Put):  # an update changes no key an index holds
            index_entries += [KEYS_ONLY_ENTRY] * layout.keys_only_indexes
    return transactional(sizes, index_entry_sizes=index_entries)
