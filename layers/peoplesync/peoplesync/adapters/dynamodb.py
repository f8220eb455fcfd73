"""`DynamoStore`: the `StateStore` on one DynamoDB table (string keys `pk`, `sk`; sparse GSI `byKind`).

Behaves exactly like `MemoryStore` (tests/contract holds it to that). Items, by `pk` prefix (the SCIM
repository keeps its own items under `SCIM#`, so the two never meet):

| item            | pk                                | sk          | other attributes                  |
|-----------------|-----------------------------------|-------------|-----------------------------------|
| record          | `rec#<id>`                        | `rec`       | data (JSON), version, gpk, gsk    |
| link index      | `link#<kind>#<system>#<key>`      | `link`      | rid; dg, dr, ds, rm; gpk, gsk     |
| ref index       | `ref#<kind>#<system>#<ref lower>` | `ref`       | rid                               |
| value index     | `val#<kind>#<field>#<value>`      | `<id>`      |                                   |
| cursor          | `cursor#<system>`                 | `cursor`    | cursor                            |
| meta            | `meta#<name>`                     | `meta`      | data (JSON)                       |
| review          | `review`                          | `<item id>` | data (JSON)                       |
| decision        | `dec#<id>`                        | `<ns>#<n>`  | field, data (JSON), ttl           |
| checked config  | `config#<digest>`                 | `config`    | data (JSON), ttl (config_cache.py) |

A record is stored as JSON text, not as a DynamoDB map: no float/Decimal conversion, exact round trips.
Key components longer than 512 bytes are replaced by their SHA-256 (DynamoDB caps a partition key at 2 KB).

`save` writes the record and the index entries that changed (old entries vs new, from `index_entries`) in one
`TransactWriteItems`, conditioned on the version loaded; a record whose index did not change is one
conditional `PutItem`. The old entries come from the `load` that produced the state (cached per version), so
a load + save costs one read and one write. A transaction holds at most 100 items: a save that would change
more index entries than that is refused (PermanentError) before anything is written.

One difference from `MemoryStore`, on purpose: a ref entry another record has since overwritten is not
reclaimed by a save that does not change it (reclaiming would cost a write per shadow on every save).
`all_ids` reads the `byKind` index, which is eventually consistent: a record saved a moment ago may be
missing from it for a moment.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ..model import RecordState
from ..ports import LinkDigest, TransientError, VersionConflict, digests_of
from . import dynamodb_links
from .dynamodb_index import (  # the index items and what a save changes in them
    MAX_TRANSACTION_ITEMS,
    Digests,
    Entries,
    _key,
    _link_key,
    _rec_key,
    _ref_key,
    _s,
    _value_pk,
    digest_of_item,
    index_ops,
    is_listed,
    legacy_gpk,
    record_gpk,
)
from .memory import LoadedLookups, index_entries, value_key

__all__ = ["MAX_TRANSACTION_ITEMS", "DynamoStore", "create_table"]

KIND_INDEX = "byKind"
BATCH_WRITE_ITEMS = 25
BATCH_GET_KEYS = 100
_counter = itertools.count()
_Saved = tuple[Entries, Digests, bool]  # a record's index entries, link digests, and whether its links carry them
# (digests and listing: `dynamodb_index.is_listed`)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def create_table(client: Any, table_name: str) -> None:
    """Create the table as template.yaml declares it (for tests and local experiments with moto)."""
    client.create_table(
        TableName=table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gpk", "gsk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": KIND_INDEX,
            "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}, {"AttributeName": "gsk", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
    )
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


class DynamoStore(LoadedLookups):
    """The `StateStore` on DynamoDB. `client` is a low-level boto3 DynamoDB client (made if not given).

    `decision_ttl_days`: decisions expire this long after they were made (None keeps them forever).
    `max_attempts` / `sleep`: how batch calls retry unprocessed items (exponential backoff with jitter).
    """

    def __init__(self, table_name: str, client: Any = None, *, decision_ttl_days: float | None = 90,
                 max_attempts: int = 8, base_delay: float = 0.05, max_delay: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep, cache_size: int = 4096) -> None:
        if client is None:
            import boto3  # only where the store is really used

            client = boto3.client("dynamodb")
        self.table = table_name
        self.client = client
        self.decision_ttl = decision_ttl_days * 86400 if decision_ttl_days else None
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        # record id -> (version, its index entries, link digests and whether its link items carry them, at that
        # version): the "old" side of the next save's diff
        self._entries: OrderedDict[str, tuple[int, _Saved]] = OrderedDict()
        self._cache_size = cache_size

    # --- records ----------------------------------------------------------------------------------------
    def load(self, record_id: str) -> RecordState | None:
        item = self._get(_rec_key(record_id))
        return self._state(item) if item is not None else None

    def load_many(self, record_ids: Iterable[str]) -> dict[str, RecordState]:
        """Load several records with BatchGetItem (100 keys a call); missing ids are absent from the result."""
        ids = list(dict.fromkeys(record_ids))
        found: dict[str, RecordState] = {}
        for start in range(0, len(ids), BATCH_GET_KEYS):
            for item in self._batch_get([_rec_key(i) for i in ids[start:start + BATCH_GET_KEYS]]):
                state = self._state(item)
                found[state.id] = state
        return found

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Each save is its own conditional write (one record's transaction at most): a batch groups nothing
        (see `ports.StateStore.batch`)."""
        return contextlib.nullcontext()

    def expect_links(self, links: Iterable[tuple[str, str, str]]) -> None:
        """Not read ahead: a Lambda batch has no store batch to hold them in (`ports.StateStore.expect_links`)."""

    def expect_records(self, record_ids: Iterable[str]) -> None:
        """Not read ahead: a Lambda batch has no store batch to hold them in (`ports.StateStore.expect_records`)."""

    def keep(self, state: RecordState) -> None:
        """Nothing kept: each Lambda invocation loads what it reconciles (`ports.StateStore.keep`)."""

    def save(self, state: RecordState) -> None:
        new, new_digests = index_entries(state), digests_of(state)
        old, old_digests, indexed = self._old_entries(state)
        record_item = self._record_item(state)
        if state.version == 0:
            cond: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            cond = {"ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": {"N": str(state.version)}}}
        ops = index_ops(self.table, state.id, old, new, (old_digests, new_digests, indexed))
        if not ops:
            try:
                self.client.put_item(TableName=self.table, Item=record_item, **cond)
            except self.client.exceptions.ConditionalCheckFailedException:
                raise VersionConflict(f"record {state.id} is no longer at version {state.version}") from None
        else:
            self._transact(state, [{"Put": {"TableName": self.table, "Item": record_item, **cond}}], ops)
        state.version += 1
        self._remember(state.id, state.version, (new, new_digests, True))

    def all_ids(self, kind: str) -> Iterator[str]:
        """In id order: the records saved by this version and those saved before (`record_gpk`), merged."""
        return heapq.merge(self.index_keys(record_gpk(kind)), self.index_keys(legacy_gpk(kind)))

    def index_keys(self, gpk: str, after: str | None = None) -> Iterator[str]:
        """The `gsk` of every item in one partition of the `byKind` index (past `after`), in order (eventually
        consistent)."""
        return iter([item["gsk"]["S"] for item in self.index_items(gpk, after)])

    def index_items(self, gpk: str, after: str | None = None) -> Iterator[dict[str, Any]]:
        """The items of one partition of the `byKind` index (keys only), in `gsk` order, past `after`."""
        if after is None:
            return self._pages(IndexName=KIND_INDEX, KeyConditionExpression="gpk = :k",
                               ExpressionAttributeValues={":k": _s(gpk)}, consistent=False)
        return self._pages(IndexName=KIND_INDEX, KeyConditionExpression="gpk = :k AND gsk > :a",
                           ExpressionAttributeValues={":k": _s(gpk), ":a": _s(after)}, consistent=False)

    def count(self, kind: str) -> int:
        """The ids listed and counted (a Query with `Select=COUNT` would read the same items)."""
        return sum(1 for _ in self.all_ids(kind))

    def linked_ids(self, kind: str, system: str) -> Iterator[str]:
        return iter(sorted({rid for rid, _, _ in dynamodb_links.links(self, kind, system)}))

    def linked_accounts(self, kind: str, system: str, after: str | None = None) -> Iterator[tuple[str, str | None]]:
        """From the listing the link items carry (`dynamodb_links.py`), no record loaded but those saved before it."""
        return dynamodb_links.linked_accounts(self, kind, system, after)

    def link_digests(self, kind: str, system: str, keys: Iterable[str] | None = None) -> dict[str, LinkDigest]:
        """The accounts among `keys`: their link items' digests (BatchGetItem), no record loaded unless its
        link items predate the index (dynamodb_index.py). Every account (`keys` None): those the system's link
        listing names (`dynamodb_links.py`)."""
        if keys is None:
            return dynamodb_links.link_digests(self, kind, system)
        by_pk = {_link_key(kind, system, k)["pk"]["S"]: k for k in dict.fromkeys(keys)}
        out: dict[str, LinkDigest] = {}
        legacy: dict[str, str] = {}  # account key -> record id, for link items written before the index
        pks = list(by_pk)
        for start in range(0, len(pks), BATCH_GET_KEYS):
            for item in self._batch_get([_key(pk, "link") for pk in pks[start:start + BATCH_GET_KEYS]]):
                key, digest = by_pk[item["pk"]["S"]], digest_of_item(item)
                if digest is None:
                    legacy[key] = item["rid"]["S"]
                else:
                    out[key] = digest
        if legacy:
            states = self.load_many(legacy.values())
            for key, rid in legacy.items():
                state = states.get(rid)
                if state is not None and state.kind == kind and (shadow := state.shadows.get(system)) is not None \
                        and shadow.key == key:
                    out[key] = digests_of(state)[(kind, system, key)]
        return out

    # --- RecordIndex --------------------------------------------------------------------------------------
    def by_link(self, kind: str, system: str, key: str) -> str | None:
        item = self._get(_link_key(kind, system, key))
        return item["rid"]["S"] if item else None

    def by_ref(self, kind: str, system: str, ref: str) -> str | None:
        item = self._get(_ref_key(kind, system, ref))
        return item["rid"]["S"] if item else None

    def by_value(self, kind: str, field: str, value: Any) -> set[str]:
        pk = _value_pk(kind, field, value_key(value))
        return {item["sk"]["S"] for item in self._pages(KeyConditionExpression="pk = :pk",
                                                        ExpressionAttributeValues={":pk": _s(pk)})}

    # --- cursors, meta, reviews, decisions ----------------------------------------------------------------
    def get_cursor(self, system: str) -> str | None:
        item = self._get(_key(f"cursor#{system}", "cursor"))
        return item["cursor"]["S"] if item and "cursor" in item else None

    def put_cursor(self, system: str, cursor: str | None) -> None:
        item: dict[str, Any] = _key(f"cursor#{system}", "cursor")
        if cursor is not None:
            item["cursor"] = _s(cursor)
        self.client.put_item(TableName=self.table, Item=item)

    def get_meta(self, name: str) -> dict[str, Any] | None:
        item = self._get(_key(f"meta#{name}", "meta"))
        return json.loads(item["data"]["S"]) if item else None

    def put_meta(self, name: str, value: Mapping[str, Any]) -> None:
        self.client.put_item(TableName=self.table,
                             Item={**_key(f"meta#{name}", "meta"), "data": _s(_dumps(dict(value)))})

    def add_review(self, item_id: str, item: Mapping[str, Any]) -> None:
        self.client.put_item(TableName=self.table, Item={**_key("review", item_id), "data": _s(_dumps(dict(item)))})

    def reviews(self) -> list[dict[str, Any]]:
        items = self._pages(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": _s("review")})
        return [dict(json.loads(i["data"]["S"]), id=i["sk"]["S"]) for i in items]

    def remove_review(self, item_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key=_key("review", item_id))

    def record_decisions(self, record_id: str, decisions: list[dict[str, Any]], at: float) -> None:
        # The sort key keeps insertion order (as MemoryStore does): wall clock in ns, then a process counter.
        stamp = f"{time.time_ns():020d}#{next(_counter) % 10**8:08d}"
        requests = []
        for i, d in enumerate(decisions):
            item: dict[str, Any] = {**_key(f"dec#{record_id}", f"{stamp}#{i:05d}"), "field": _s(str(d["field"])),
                                    "data": _s(_dumps(dict(d, at=at)))}
            if self.decision_ttl is not None:
                item["ttl"] = {"N": str(int(at + self.decision_ttl))}
            requests.append({"PutRequest": {"Item": item}})
        self.batch_write(requests)

    def decisions(self, record_id: str, field: str | None = None) -> list[dict[str, Any]]:
        items = self._pages(KeyConditionExpression="pk = :pk",
                            ExpressionAttributeValues={":pk": _s(f"dec#{record_id}")})
        return [json.loads(i["data"]["S"]) for i in items if field is None or i["field"]["S"] == field]

    # --- batch helpers ------------------------------------------------------------------------------------
    def batch_write(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem in chunks of 25; unprocessed items are retried with backoff, and if some are still
        unprocessed after `max_attempts` calls, TransientError is raised: never silently dropped."""
        for start in range(0, len(requests), BATCH_WRITE_ITEMS):
            pending = requests[start:start + BATCH_WRITE_ITEMS]
            for attempt in range(self.max_attempts):
                answer = self.client.batch_write_item(RequestItems={self.table: pending})
                pending = answer.get("UnprocessedItems", {}).get(self.table, [])
                if not pending:
                    break
                if attempt + 1 < self.max_attempts:
                    self._backoff(attempt)
            if pending:
                raise TransientError(f"DynamoDB left {len(pending)} of the batch's items unprocessed after "
                                     f"{self.max_attempts} attempts")

    def _batch_get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(self.max_attempts):
            answer = self.client.batch_get_item(RequestItems=request)
            items += answer.get("Responses", {}).get(self.table, [])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return items
            if attempt + 1 < self.max_attempts:
                self._backoff(attempt)
        left = len(request.get(self.table, {}).get("Keys", []))
        raise TransientError(f"DynamoDB left {left} keys unread after {self.max_attempts} attempts")

    def _backoff(self, attempt: int) -> None:
        delay = min(self.max_delay, self.base_delay * 2 ** attempt)
        self._sleep(delay * (0.5 + random.random() / 2))

    # --- internals ----------------------------------------------------------------------------------------
    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        return self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")

    def _pages(self, *, consistent: bool = True, **query: Any) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self.table, **query}
        if consistent:
            kwargs["ConsistentRead"] = True
        while True:
            page = self.client.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _state(self, item: dict[str, Any]) -> RecordState:
        data = json.loads(item["data"]["S"])
        data["version"] = int(item["version"]["N"])
        state = RecordState.from_dict(data)
        self._remember(state.id, state.version, (index_entries(state), digests_of(state), is_listed(item)))
        return state

    def _remember(self, record_id: str, version: int, saved: _Saved) -> None:
        self._entries[record_id] = (version, saved)
        self._entries.move_to_end(record_id)
        while len(self._entries) > self._cache_size:
            self._entries.popitem(last=False)

    def _old_entries(self, state: RecordState) -> _Saved:
        if state.version == 0:  # new record: if one exists after all, the put's condition fails
            return (set(), set(), set()), {}, True
        cached = self._entries.get(state.id)
        if cached is not None and cached[0] == state.version:
            return cached[1]
        item = self._get(_rec_key(state.id))
        if item is None or int(item["version"]["N"]) != state.version:
            stored = int(item["version"]["N"]) if item else 0
            raise VersionConflict(f"record {state.id} is at version {stored}, not {state.version}")
        old = RecordState.from_dict(json.loads(item["data"]["S"]))
        return index_entries(old), digests_of(old), is_listed(item)

    def _record_item(self, state: RecordState) -> dict[str, Any]:
        data = state.to_dict()
        data.pop("version", None)
        return {**_rec_key(state.id), "data": _s(_dumps(data)), "version": {"N": str(state.version + 1)},
                "kind": _s(state.kind), "gpk": _s(record_gpk(state.kind)), "gsk": _s(state.id),
                "dg": {"N": "1"}}  # its link items carry their digests and their listing (dynamodb_index.py)

    def _transact(self, state: RecordState, head: list[dict[str, Any]],
                  ops: list[tuple[str, dict[str, Any]]]) -> None:
        for _ in range(len(ops) + 1):  # each round can only drop releases, so this terminates
            try:
                self.client.transact_write_items(TransactItems=head + [item for _, item in ops])
                return
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
            codes = [r.get("Code", "None") for r in reasons]
            if "TransactionConflict" in codes:
                raise VersionConflict(f"record {state.id}: another write to it is in progress") from None
            if codes and codes[0] == "ConditionalCheckFailed":
                raise VersionConflict(f"record {state.id} is no longer at version {state.version}") from None
            failed = [i - 1 for i, c in enumerate(codes) if c == "ConditionalCheckFailed" and i > 0]
            if not failed:
                raise TransientError(f"record {state.id}: transaction cancelled ({', '.join(codes) or 'no reason'})")
            for i in failed:
                if ops[i][0] == "link":
                    holder = reasons[i + 1].get("Item", {}).get("rid", {}).get("S", "another record")
                    key = ops[i][1]["Put"]["Item"]["pk"]["S"].split("#", 3)
                    raise VersionConflict(f"account {key[2]}:{key[3]} is already linked to {holder}")
            # only releases failed: those entries belong to another record now, so they are not ours to delete
            drop = set(failed)
            ops = [op for i, op in enumerate(ops) if i not in drop]
        raise TransientError(f"record {state.id}: transaction kept failing")
