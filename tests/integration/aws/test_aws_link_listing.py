"""One system's linked accounts on DynamoDB (moto): what a complete read must list is a Query of the link items
the `byKind` index lists, no record loaded; records saved before the listing are listed from the records and
moved to it a few at a time, their data and version untouched; and the vanished rule after a complete read
loads only the records of the accounts the read did not list."""

from __future__ import annotations

from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters import dynamodb_links
from peoplesync.adapters.dynamodb import DynamoStore, create_table
from peoplesync.model import PERSON, RecordState, Shadow
from peoplesync.ports import digests_of
from peoplesync.service import sweep_rules
from tests.integration.aws.aws_helpers import count_calls

TABLE = "peoplesync-state"


@pytest.fixture
def table(dynamodb) -> Any:
    create_table(dynamodb, TABLE)
    return dynamodb


def person(n: int, *, removed: bool = False) -> RecordState:
    return RecordState(id=f"p{n:03d}", golden={"title": f"Title {n}"}, shadows={
        "ad": Shadow(key=f"u{n:03d}", values={"title": f"Title {n}"}, active=not removed, removed=removed),
        "cloud": Shadow(key=f"c{n:03d}", values={"title": f"Title {n}"}, active=True)})


def as_saved_before(client: Any, n: int) -> None:
    """Make a record look saved by the version before the listing: in its kind's legacy partition, its link
    items carrying digests but no listing."""
    client.update_item(TableName=TABLE, Key={"pk": {"S": f"rec#p{n:03d}"}, "sk": {"S": "rec"}},
                       UpdateExpression="SET gpk = :g", ExpressionAttributeValues={":g": {"S": "kind#person"}})
    for pk in (f"link#person#ad#u{n:03d}", f"link#person#cloud#c{n:03d}"):
        client.update_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "link"}}, UpdateExpression="REMOVE gpk, gsk")


def record_item(client: Any, n: int) -> dict[str, Any]:
    return client.get_item(TableName=TABLE, Key={"pk": {"S": f"rec#p{n:03d}"}, "sk": {"S": "rec"}})["Item"]


def test_given_40_people_then_one_systems_accounts_are_listed_by_queries_alone(table):
    setup = DynamoStore(TABLE, table)
    for n in range(40):
        setup.save(person(n, removed=n % 10 == 0))  # every tenth already concluded gone from ad
    calls = count_calls(table)

    listed = list(DynamoStore(TABLE, table).linked_accounts(PERSON, "ad"))

    assert listed == [(f"p{n:03d}", f"u{n:03d}") for n in range(40) if n % 10]
    assert set(calls) == {"Query"}  # the link items' listing, and the legacy partition (empty): no record read


def test_given_records_saved_before_the_listing_then_they_are_listed_from_the_records_and_moved_to_it(
        table, monkeypatch):
    setup = DynamoStore(TABLE, table)
    for n in range(6):
        setup.save(person(n))
    before = {n: record_item(table, n) for n in range(6)}
    for n in (1, 2, 4):
        as_saved_before(table, n)
    monkeypatch.setattr(dynamodb_links, "MIGRATE_PER_LISTING", 0)  # the piece below moves nothing
    expected = [(f"p{n:03d}", f"u{n:03d}") for n in range(6)]

    store = DynamoStore(TABLE, table)
    calls = count_calls(table)
    keys_read: list[int] = []
    table.meta.events.register("provide-client-params.dynamodb.BatchGetItem",
                               lambda params, **_: keys_read.append(len(params["RequestItems"][TABLE]["Keys"])))
    assert list(store.linked_accounts(PERSON, "ad", after="p003")) == expected[4:]  # a piece going on:
    assert keys_read == [1]  # only the legacy record past it is read (and not moved: a bound of 0)
    monkeypatch.setattr(dynamodb_links, "MIGRATE_PER_LISTING", 2)
    calls.clear()
    first = list(store.linked_accounts(PERSON, "ad"))
    read_first, calls_first = calls["BatchGetItem"], calls["TransactWriteItems"]
    calls.clear()
    second = list(store.linked_accounts(PERSON, "ad"))
    read_second, calls_second = calls["BatchGetItem"], calls["TransactWriteItems"]
    calls.clear()
    third = list(store.linked_accounts(PERSON, "ad"))

    assert first == second == third == expected  # the same answer before, during and after the move
    assert (read_first, calls_first) == (1, 2)  # the three legacy records read; two moved (the bound)
    assert (read_second, calls_second) == (1, 1)  # the one left read, and moved
    assert set(calls) == {"Query"}  # all listed now: no record read
    for n in range(6):  # moved without touching the record's data or version
        item = record_item(table, n)
        assert item["data"] == before[n]["data"] and item["version"] == before[n]["version"]
        assert item["gpk"]["S"] == "kind#person#listed"
    assert list(store.all_ids(PERSON)) == [f"p{n:03d}" for n in range(6)]


def test_given_a_record_saved_again_by_the_previous_version_then_the_vanished_rule_reads_it_from_the_record(table):
    """A roll-out: a function still on the previous version concludes a listed record's ad account gone and saves
    it as it did (the legacy `gpk`; its link items' listing entries left behind, stale). A read of ad that lists
    nobody must not conclude that account gone again; a read of cloud that lists nobody concludes its one gone."""
    store = DynamoStore(TABLE, table)
    store.save(person(1))
    state = store.load("p001")
    state.shadows["ad"].removed = True
    store.save(state)
    as_saved_before(table, 1)
    table.update_item(TableName=TABLE, Key={"pk": {"S": "link#person#ad#u001"}, "sk": {"S": "link"}},
                      UpdateExpression="SET gpk = :g, gsk = :r",
                      ExpressionAttributeValues={":g": {"S": "links#person#ad"}, ":r": {"S": "p001"}})

    assert gone_after_reading_nobody(table, "ad") == []
    assert gone_after_reading_nobody(table, "cloud") == ["c001"]


def gone_after_reading_nobody(client: Any, system: str) -> list[str]:
    plan = bootstrap.compile_config(bootstrap.load_config({
        "systems": {"ad": {"connector": "memory"}, "cloud": {"connector": "memory"}},
        "fields": {"title": {"source": "ad", "map": {"ad": "title", "cloud": "title"}}}}))
    bridge = bootstrap.local(plan, store=DynamoStore(TABLE, client), connectors={})
    sent: list[dict[str, Any]] = []
    queue = type("Queue", (), {"send": lambda self, messages, **_: sent.extend(messages)})()
    sweep_rules.Swept(bridge.reconciler, system, approve=True, population=None, connectors=None).gone(set(), queue)
    return [m["observation"]["key"] for m in sent if m["observation"]["removed"]]


def test_given_a_complete_read_on_dynamodb_then_only_the_records_of_the_accounts_it_missed_are_loaded(table):
    plan = bootstrap.compile_config(bootstrap.load_config({
        "systems": {"ad": {"connector": "memory"}},
        "fields": {"title": {"source": "ad", "map": {"ad": "title"}}}}))
    store = DynamoStore(TABLE, table)
    for n in range(40):
        store.save(person(n))
    bridge = bootstrap.local(plan, store=store, connectors={})
    swept = sweep_rules.Swept(bridge.reconciler, "ad", approve=True, population=None, connectors=None)
    sent: list[dict[str, Any]] = []
    queue = type("Queue", (), {"send": lambda self, messages, **_: sent.extend(messages)})()
    listed = {f"u{n:03d}" for n in range(40) if n not in (7, 20, 39)}
    calls = count_calls(table)
    keys_read: list[int] = []
    table.meta.events.register("provide-client-params.dynamodb.BatchGetItem",
                               lambda params, **_: keys_read.append(len(params["RequestItems"][TABLE]["Keys"])))

    swept.gone(listed, queue)

    assert sorted(m["observation"]["key"] for m in sent) == ["u007", "u020", "u039"]
    assert all(m["observation"]["removed"] for m in sent)
    assert sum(keys_read) == 3  # the three records of the accounts not listed, none of the 37 others
    assert calls["Query"] >= 1


def test_given_a_small_system_among_many_people_then_a_complete_read_screens_without_a_record(table):
    """A system of a few accounts (a badge system of 3) in a deployment of many people: the pre-screen of a
    complete read in one go reads that system's link items, not the records of everyone."""
    store = DynamoStore(TABLE, table)
    for n in range(30):
        state = person(n)
        if n in (3, 14, 25):
            state.shadows["badges"] = Shadow(key=f"b{n:03d}", values={}, active=True, digest=f"badge{n}")
        store.save(state)
    keys_read: list[str] = []
    table.meta.events.register("provide-client-params.dynamodb.BatchGetItem", lambda params, **_: keys_read.extend(
        k["pk"]["S"] for k in params["RequestItems"][TABLE]["Keys"]))

    found = DynamoStore(TABLE, table).link_digests(PERSON, "badges")

    assert sorted(found) == ["b003", "b014", "b025"]
    assert all(d.record == f"p{k[1:]}" and d == digests_of(store.load(d.record))[(PERSON, "badges", k)]
               for k, d in found.items())  # as the record says
    assert sorted(keys_read) == ["link#person#badges#b003", "link#person#badges#b014", "link#person#badges#b025"]
