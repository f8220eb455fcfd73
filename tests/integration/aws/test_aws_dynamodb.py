"""DynamoStore against moto's DynamoDB: batch limits, retries of unprocessed items, transaction limits, calls
per save, the decision TTL, and two functions racing on one record."""

from __future__ import annotations

from typing import Any

import pytest

from peoplesync.adapters.dynamodb import DynamoStore, create_table
from peoplesync.model import RecordState, Shadow
from peoplesync.ports import PermanentError, TransientError, VersionConflict
from tests.integration.aws.aws_helpers import count_calls

TABLE = "peoplesync-state"


class Throttled:
    """The real (moto) client, except that BatchWriteItem / BatchGetItem hand back the last `keep` items or
    keys of each call unprocessed, for the first `times` calls, as DynamoDB does when a partition is busy."""

    def __init__(self, real: Any, keep: int, times: int) -> None:
        self.real, self.keep, self.times = real, keep, times
        self.write_sizes: list[int] = []
        self.get_sizes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        [(table, requests)] = RequestItems.items()
        self.write_sizes.append(len(requests))
        cut = len(requests) - self.keep if self.times > 0 else len(requests)
        self.times -= 1
        if requests[:cut]:
            self.real.batch_write_item(RequestItems={table: requests[:cut]})
        return {"UnprocessedItems": {table: requests[cut:]} if requests[cut:] else {}}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        [(table, request)] = RequestItems.items()
        keys = request["Keys"]
        self.get_sizes.append(len(keys))
        cut = len(keys) - self.keep if self.times > 0 else len(keys)
        self.times -= 1
        answer = self.real.batch_get_item(RequestItems={table: {**request, "Keys": keys[:cut]}}) if keys[:cut] \
            else {"Responses": {table: []}}
        answer["UnprocessedKeys"] = {table: {**request, "Keys": keys[cut:]}} if keys[cut:] else {}
        return answer


@pytest.fixture
def table(dynamodb) -> Any:
    create_table(dynamodb, TABLE)
    return dynamodb


def decisions(n: int) -> list[dict[str, Any]]:
    return [{"field": f"f{i}", "old": None, "new": i, "rule": "source", "system": "hr"} for i in range(n)]


def test_given_60_decisions_and_a_busy_table_then_chunks_of_25_are_retried_until_every_item_is_written(table):
    throttled = Throttled(table, keep=5, times=2)
    sleeps: list[float] = []
    store = DynamoStore(TABLE, throttled, sleep=sleeps.append)

    store.record_decisions("p1", decisions(60), at=1_000.0)

    assert max(throttled.write_sizes) <= 25
    assert throttled.write_sizes[:4] == [25, 5, 5, 25]  # the 5 left over are sent again before moving on
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.5  # backoff between retries
    assert [d["new"] for d in store.decisions("p1")] == list(range(60))


def test_given_a_table_that_never_takes_the_last_items_then_the_write_raises_instead_of_dropping_them(table):
    throttled = Throttled(table, keep=3, times=1_000)
    store = DynamoStore(TABLE, throttled, max_attempts=4, sleep=lambda _: None)

    with pytest.raises(TransientError, match="3 of the batch's items unprocessed after 4 attempts"):
        store.record_decisions("p1", decisions(10), at=1.0)


def test_given_250_records_when_loaded_together_then_batches_of_100_are_read_and_unprocessed_keys_retried(table):
    plain = DynamoStore(TABLE, table)
    for i in range(250):
        plain.save(RecordState(id=f"p{i:03d}", golden={"n": i}))
    throttled = Throttled(table, keep=7, times=2)
    store = DynamoStore(TABLE, throttled, sleep=lambda _: None)

    loaded = store.load_many([f"p{i:03d}" for i in range(250)] + ["nobody"])

    assert max(throttled.get_sizes) <= 100
    assert len(loaded) == 250 and loaded["p123"].golden == {"n": 123} and loaded["p123"].version == 1


def test_given_a_save_changing_more_index_entries_than_a_transaction_holds_then_it_is_refused_whole(table):
    store = DynamoStore(TABLE, table)
    state = RecordState(id="g1", kind="group", keys={"member": [f"m{i}" for i in range(120)]})

    with pytest.raises(PermanentError, match="at most 99"):
        store.save(state)

    assert store.load("g1") is None
    assert store.by_value("group", "member", "m0") == set()


def test_given_a_loaded_record_then_a_save_costs_one_write_and_no_extra_read(table):
    setup = DynamoStore(TABLE, table)
    setup.save(RecordState(id="p1", golden={"title": "Engineer"}, shadows={"ad": Shadow(key="u1")}))
    store = DynamoStore(TABLE, table)
    calls = count_calls(table)

    state = store.load("p1")
    state.golden["title"] = "Manager"  # the index is unchanged: one conditional PutItem
    store.save(state)
    state.shadows["cloud"] = Shadow(key="c1")  # two new index entries: one transaction
    store.save(state)

    assert dict(calls) == {"GetItem": 1, "PutItem": 1, "TransactWriteItems": 1}
    assert store.by_link("person", "cloud", "c1") == "p1"


def test_given_two_functions_holding_the_same_record_then_the_slower_save_is_refused(table):
    one, two = DynamoStore(TABLE, table), DynamoStore(TABLE, table)
    one.save(RecordState(id="p1", shadows={"ad": Shadow(key="u1")}))
    a, b = one.load("p1"), two.load("p1")

    a.shadows["cloud"] = Shadow(key="c1")
    one.save(a)
    b.shadows["badges"] = Shadow(key="b1")
    with pytest.raises(VersionConflict):
        two.save(b)

    assert set(one.load("p1").shadows) == {"ad", "cloud"}
    assert one.by_link("person", "badges", "b1") is None


def test_given_decisions_then_each_expires_after_the_configured_days(table):
    store = DynamoStore(TABLE, table, decision_ttl_days=30)

    store.record_decisions("p1", decisions(1), at=1_000.0)

    [item] = table.query(TableName=TABLE, KeyConditionExpression="pk = :pk",
                         ExpressionAttributeValues={":pk": {"S": "dec#p1"}})["Items"]
    assert int(item["ttl"]["N"]) == 1_000 + 30 * 86_400


def test_given_very_long_keys_then_they_are_indexed_by_hash_and_still_found(table):
    store = DynamoStore(TABLE, table)
    dn = "CN=" + "x" * 3000 + ",OU=Staff"
    store.save(RecordState(id="p1", shadows={"ad": Shadow(key="k" * 3000, ref=dn)}, keys={"note": ["y" * 3000]}))

    assert store.by_link("person", "ad", "k" * 3000) == "p1"
    assert store.by_ref("person", "ad", dn.upper()) == "p1"
    assert store.by_value("person", "note", "y" * 3000) == {"p1"}
