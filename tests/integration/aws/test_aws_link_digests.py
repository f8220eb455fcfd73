"""The digest index on DynamoDB (moto): a poll's pre-screen of the accounts it read costs one small read per
account (link items, BatchGetItem) and no record; the digests change in the same transaction as their record;
link items written before the index are answered from their records until the record's next save."""

from __future__ import annotations

from typing import Any

import pytest

from peoplesync.adapters.dynamodb import DynamoStore, create_table
from peoplesync.model import PERSON, RecordState, Shadow
from peoplesync.ports import VersionConflict, digests_of
from tests.integration.aws.aws_helpers import count_calls

TABLE = "peoplesync-state"


@pytest.fixture
def table(dynamodb) -> Any:
    create_table(dynamodb, TABLE)
    return dynamodb


def person(n: int) -> RecordState:
    return RecordState(id=f"p{n:03d}", golden={"title": f"Title {n}"}, shadows={
        "ad": Shadow(key=f"u{n:03d}", values={"title": f"Title {n}"}, active=True, digest=f"read{n}"),
        "cloud": Shadow(key=f"c{n:03d}", values={"title": f"Title {n}"}, active=True, digest=f"c{n}")})


def expected(store: DynamoStore, ids: list[str], system: str = "ad") -> dict[str, Any]:
    out = {}
    for rid in ids:
        state = store.load(rid)
        out[state.shadows[system].key] = digests_of(state)[(PERSON, system, state.shadows[system].key)]
    return out


def strip_index(client: Any, record_id: str, links: list[str]) -> None:
    """Make a record look saved before the digest index: no `dg` on it, no digests on its link items (nor the
    link listing, which came after: the record in the `byKind` partition of its kind alone)."""
    client.update_item(TableName=TABLE, Key={"pk": {"S": f"rec#{record_id}"}, "sk": {"S": "rec"}},
                       UpdateExpression="REMOVE dg SET gpk = :g", ExpressionAttributeValues={":g": {"S": "kind#person"}})
    for pk in links:
        client.update_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "link"}},
                           UpdateExpression="REMOVE dg, dr, ds, rm, gpk, gsk")


def test_given_250_accounts_read_then_their_digests_cost_three_batch_reads_and_no_record(table):
    setup = DynamoStore(TABLE, table)
    for n in range(250):
        setup.save(person(n))
    store = DynamoStore(TABLE, table)  # another function: nothing cached
    calls = count_calls(table)

    found = store.link_digests(PERSON, "ad", [f"u{n:03d}" for n in range(250)] + ["u999"])

    assert dict(calls) == {"BatchGetItem": 3}
    assert found == expected(setup, [f"p{n:03d}" for n in range(250)])
    assert found["u007"].settled is not None and found["u007"].read is not None


def test_given_a_record_saved_again_then_its_link_items_follow_in_the_same_write(table):
    store = DynamoStore(TABLE, table)
    store.save(person(1))
    before = store.link_digests(PERSON, "cloud", ["c001"])["c001"]
    state = store.load("p001")
    state.shadows["ad"].values["title"] = "Manager"  # read again with another title
    state.shadows["ad"].digest = "read1-b"
    calls = count_calls(table)

    store.save(state)

    assert dict(calls) == {"TransactWriteItems": 1}  # the record and the one link item whose digests changed
    assert store.link_digests(PERSON, "ad", ["u001"]) == expected(store, ["p001"])
    assert store.link_digests(PERSON, "cloud", ["c001"]) == {"c001": before}  # its digests did not change


def test_given_a_save_that_loses_its_race_then_the_link_digests_still_describe_the_stored_record(table):
    one, two = DynamoStore(TABLE, table), DynamoStore(TABLE, table)
    one.save(person(1))
    a, b = one.load("p001"), two.load("p001")
    a.shadows["ad"].digest = "first"
    one.save(a)
    b.shadows["ad"].digest = "second"
    b.shadows["cloud"].pending = {"title": "Nurse"}  # it would also owe a write: every digest would change

    with pytest.raises(VersionConflict):
        two.save(b)

    for system, key in (("ad", "u001"), ("cloud", "c001")):
        assert two.link_digests(PERSON, system, [key]) == expected(one, ["p001"], system)


def test_given_a_record_saved_before_the_index_then_it_is_answered_from_the_record_until_its_next_save(table):
    store = DynamoStore(TABLE, table)
    store.save(person(1))
    store.save(person(2))
    strip_index(table, "p001", ["link#person#ad#u001", "link#person#cloud#c001"])
    fresh = DynamoStore(TABLE, table)
    calls = count_calls(table)

    assert fresh.link_digests(PERSON, "ad", ["u001", "u002"]) == expected(store, ["p001", "p002"])
    assert calls["BatchGetItem"] == 2  # the link items, then the one record they could not answer for

    state = fresh.load("p001")
    state.golden["title"] = "Manager"  # a change that moves no digest: the save still writes them all
    fresh.save(state)
    items = [table.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "link"}})["Item"]
             for pk in ("link#person#ad#u001", "link#person#cloud#c001")]
    assert all("dg" in item for item in items)
    calls.clear()
    found = DynamoStore(TABLE, table).link_digests(PERSON, "cloud", ["c001"])
    assert dict(calls) == {"BatchGetItem": 1}  # no record read any more
    assert found == expected(store, ["p001"], "cloud")


def test_given_a_link_item_another_record_holds_then_a_save_leaves_it_alone_and_succeeds(table):
    store = DynamoStore(TABLE, table)
    store.save(person(1))
    key = {"pk": {"S": "link#person#ad#u001"}, "sk": {"S": "link"}}
    table.update_item(TableName=TABLE, Key=key, UpdateExpression="SET rid = :r, dr = :d",
                      ExpressionAttributeValues={":r": {"S": "p002"}, ":d": {"S": "theirs"}})
    state = store.load("p001")
    state.shadows["ad"].digest = "read again"

    store.save(state)

    item = table.get_item(TableName=TABLE, Key=key)["Item"]
    assert item["rid"]["S"] == "p002" and item["dr"]["S"] == "theirs"
    assert store.load("p001").shadows["ad"].digest == "read again"
