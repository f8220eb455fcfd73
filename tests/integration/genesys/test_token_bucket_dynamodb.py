"""The request budget kept in DynamoDB (moto), shared by every Lambda invocation using one API client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from peoplesync.adapters.dynamodb_buckets import DynamoBucketStore  # noqa: E402
from peoplesync.connectors.ratelimit import TokenBucket  # noqa: E402

from .conftest import SimClock  # noqa: E402


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with moto.mock_aws():
        ddb = boto3.resource("dynamodb", region_name="us-east-1")
        t = ddb.create_table(TableName="peoplesync-state", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")
        yield t


def test_given_two_invocations_on_one_table_then_they_share_one_budget(table: Any) -> None:
    clock = SimClock()
    a = TokenBucket("genesys:client", 120, clock=clock, sleep=clock.sleep, store=DynamoBucketStore(table))
    b = TokenBucket("genesys:client", 120, clock=clock, sleep=clock.sleep, store=DynamoBucketStore(table))
    start = clock.now
    for _ in range(10):
        a.acquire()
        b.acquire()
    assert abs(clock.now - start - 19 * 0.5) < 1e-6  # 20 tokens at 2/s
    item = table.get_item(Key={"pk": "bucket#genesys:client"})["Item"]
    assert float(item["tokens"]) < 1


def test_given_a_retry_after_seen_by_one_invocation_then_the_other_waits_too(table: Any) -> None:
    clock = SimClock()
    a = TokenBucket("c", 300, clock=clock, sleep=clock.sleep, store=DynamoBucketStore(table))
    b = TokenBucket("c", 300, clock=clock, sleep=clock.sleep, store=DynamoBucketStore(table))
    a.acquire()
    a.defer(30)
    start = clock.now
    b.acquire()
    assert clock.now - start >= 30


def test_given_a_lost_race_then_the_token_is_not_spent_twice(table: Any) -> None:
    clock = SimClock()
    store = DynamoBucketStore(table)
    rival = TokenBucket("c", 60, clock=clock, sleep=clock.sleep, store=DynamoBucketStore(table))
    rival.acquire()  # the bucket exists, empty
    clock.advance(1.0)  # exactly one token has refilled
    real_put = table.put_item
    raced = []

    class Racing:
        """The table as seen by `store`: a rival takes the token between our read and our write."""

        def get_item(self, **kw: Any) -> Any:
            return table.get_item(**kw)

        def put_item(self, **kw: Any) -> Any:
            if not raced:
                raced.append(True)
                rival.acquire()
            return real_put(**kw)

    store.table = Racing()
    mine = TokenBucket("c", 60, clock=clock, sleep=clock.sleep, store=store)
    start = clock.now
    mine.acquire()
    assert raced and clock.now - start >= 1.0 - 1e-6  # it had to wait for the next token
