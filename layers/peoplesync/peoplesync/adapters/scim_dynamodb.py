"""`ScimRepository` on the project's DynamoDB table (generic string keys `pk` and `sk`).

Items, all under the `SCIM#` prefix so they never meet the state store's:
- the resource:      pk=`SCIM#User`, sk=<id>; `raw` (the JSON document), `version`, `seq`, `keys`;
- a lookup entry:    pk=`SCIM#User#ix#<attr>#<value>`, sk=<id>, for each indexed attribute it carries;
- a uniqueness lock: pk=`SCIM#User#uq#<attr>`, sk=<value>, `owner`=<id>, for each unique attribute.

Every change is one `TransactWriteItems` conditioned on the version read, so a lost race or a taken
unique value fails the whole write: nothing partial is ever stored. Values longer than 200 characters are
keyed by their SHA-256 (DynamoDB caps key sizes). Reads are strongly consistent: a GET right after a POST
shows it.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from ..ports import TransientError, VersionConflict
from ..scim.repository import (
    INDEXED,
    UNIQUE,
    ResourceNotFound,
    ScimRepository,
    Stored,
    UniquenessConflict,
    dumps,
    key_moves,
)

_PREFIX = "SCIM#"
_RETRIES = 3
_BUSY = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
         "InternalServerError", "ServiceUnavailable", "TransactionInProgressException"}


class _Client:
    """The boto3 client, with DynamoDB saying "busy" turned into `TransientError` (503 + Retry-After)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            try:
                return method(**kwargs)
            except Exception as exc:
                code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
                if code in _BUSY:
                    raise TransientError(f"DynamoDB is busy: {code}", retry_after=1) from None
                raise

        return call


def _key_value(value: str) -> str:
    return value if len(value) <= 200 else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


class DynamoScimRepository(ScimRepository):
    def __init__(self, table_name: str, client: Any = None) -> None:
        if client is None:
            import boto3  # only the deployed function needs it

            client = boto3.client("dynamodb")
        self.table = table_name
        self.client = _Client(client)

    # --- reads ------------------------------------------------------------------------------------------
    def get(self, type_: str, id_: str) -> Stored | None:
        item = self.client.get_item(TableName=self.table, Key=self._rkey(type_, id_), ConsistentRead=True)
        return self._stored(type_, item["Item"]) if "Item" in item else None

    def list(self, type_: str) -> Iterator[Stored]:
        for item in self._query(_PREFIX + type_):
            yield self._stored(type_, item)

    def find(self, type_: str, attr: str, value: str) -> builtins.list[Stored]:
        ids = [i["sk"]["S"] for i in self._query(f"{_PREFIX}{type_}#ix#{attr}#{_key_value(value)}")]
        found = [self.get(type_, i) for i in ids]
        return [s for s in found if s is not None]

    def count(self, type_: str) -> int:
        total, start = 0, None
        while True:
            kw: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            page = self.client.query(TableName=self.table, KeyConditionExpression="pk = :pk", Select="COUNT",
                                     ExpressionAttributeValues={":pk": {"S": _PREFIX + type_}}, **kw)
            total += page["Count"]
            start = page.get("LastEvaluatedKey")
            if not start:
                return total

    # --- writes -----------------------------------------------------------------------------------------
    def create(self, type_: str, id_: str, doc: Mapping[str, Any], keys: Mapping[str, str]) -> Stored:
        stored = Stored(type_, id_, dumps(doc), 1, 1)
        ops = [{"Put": {"TableName": self.table, "Item": self._item(stored, keys),
                        "ConditionExpression": "attribute_not_exists(pk)"}}]
        ops += self._index_ops(type_, id_, {}, self._indexed(type_, keys))
        self._transact(ops)
        return stored

    def replace(self, type_: str, id_: str, doc: Mapping[str, Any], keys: Mapping[str, str],
                expected_version: int | None = None) -> Stored:
        for attempt in range(_RETRIES):
            old, old_keys = self._current(type_, id_, expected_version)
            stored = Stored(type_, id_, dumps(doc), old.version + 1, old.seq + 1)
            ops = [{"Put": {"TableName": self.table, "Item": self._item(stored, keys),
                            **self._version_condition(old.version)}}]
            ops += self._index_ops(type_, id_, old_keys, self._indexed(type_, keys))
            try:
                self._transact(ops)
                return stored
            except VersionConflict:
                if expected_version is not None or attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def touch(self, type_: str, id_: str, expected_version: int | None = None) -> Stored:
        cond, values = "attribute_exists(pk)", {":one": {"N": "1"}}
        if expected_version is not None:
            cond += " AND version = :v"
            values[":v"] = {"N": str(expected_version)}
        try:
            out = self.client.update_item(TableName=self.table, Key=self._rkey(type_, id_),
                                          UpdateExpression="SET seq = seq + :one", ConditionExpression=cond,
                                          ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
        except self.client.exceptions.ConditionalCheckFailedException:
            self._current(type_, id_, expected_version)  # raises the precise error
            raise VersionConflict(f"{type_} {id_} changed meanwhile") from None
        return self._stored(type_, out["Attributes"])

    def delete(self, type_: str, id_: str, expected_version: int | None = None) -> Stored:
        for attempt in range(_RETRIES):
            old, old_keys = self._current(type_, id_, expected_version)
            ops = [{"Delete": {"TableName": self.table, "Key": self._rkey(type_, id_),
                               **self._version_condition(old.version)}}]
            ops += self._index_ops(type_, id_, old_keys, {})
            try:
                self._transact(ops)
                return Stored(type_, id_, old.raw, old.version, old.seq + 1)
            except VersionConflict:
                if expected_version is not None or attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # --- internals --------------------------------------------------------------------------------------
    @staticmethod
    def _rkey(type_: str, id_: str) -> dict[str, Any]:
        return {"pk": {"S": _PREFIX + type_}, "sk": {"S": id_}}

    @staticmethod
    def _indexed(type_: str, keys: Mapping[str, str]) -> dict[str, str]:
        return {a: _key_value(v) for a, v in keys.items() if a in INDEXED.get(type_, ()) and v is not None}

    @staticmethod
    def _item(stored: Stored, keys: Mapping[str, str]) -> dict[str, Any]:
        return {"pk": {"S": _PREFIX + stored.type}, "sk": {"S": stored.id}, "raw": {"S": stored.raw},
                "version": {"N": str(stored.version)}, "seq": {"N": str(stored.seq)},
                "keys": {"M": {a: {"S": _key_value(v)} for a, v in keys.items() if v is not None}}}

    @staticmethod
    def _version_condition(version: int) -> dict[str, Any]:
        return {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": {"N": str(version)}}}

    @staticmethod
    def _stored(type_: str, item: Mapping[str, Any]) -> Stored:
        return Stored(type_, item["sk"]["S"], item["raw"]["S"], int(item["version"]["N"]), int(item["seq"]["N"]))

    def _current(self, type_: str, id_: str, expected_version: int | None) -> tuple[Stored, dict[str, str]]:
        item = self.client.get_item(TableName=self.table, Key=self._rkey(type_, id_), ConsistentRead=True)
        if "Item" not in item:
            raise ResourceNotFound(f"{type_} {id_} not found")
        stored = self._stored(type_, item["Item"])
        if expected_version is not None and stored.version != expected_version:
            raise VersionConflict(f"{type_} {id_} is at version {stored.version}, not {expected_version}")
        keys = {a: v["S"] for a, v in item["Item"].get("keys", {}).get("M", {}).items()}
        return stored, keys

    def _index_ops(self, type_: str, id_: str, old: Mapping[str, str], new: Mapping[str, str]) -> builtins.list[dict]:
        ops: builtins.list[dict[str, Any]] = []
        unique = UNIQUE.get(type_, ())
        for attr, before, after in key_moves(old, new):
            if before is not None:
                ops.append({"Delete": {"TableName": self.table, "Key": {
                    "pk": {"S": f"{_PREFIX}{type_}#ix#{attr}#{before}"}, "sk": {"S": id_}}}})
                if attr in unique:
                    ops.append({"Delete": {"TableName": self.table, "Key": {
                        "pk": {"S": f"{_PREFIX}{type_}#uq#{attr}"}, "sk": {"S": before}}}})
            if after is not None:
                ops.append({"Put": {"TableName": self.table, "Item": {
                    "pk": {"S": f"{_PREFIX}{type_}#ix#{attr}#{after}"}, "sk": {"S": id_}}}})
                if attr in unique:
                    ops.append({"Put": {"TableName": self.table, "Item": {
                        "pk": {"S": f"{_PREFIX}{type_}#uq#{attr}"}, "sk": {"S": after}, "owner": {"S": id_}},
                        "ConditionExpression": "attribute_not_exists(pk) OR #o = :me",
                        "ExpressionAttributeNames": {"#o": "owner"},
                        "ExpressionAttributeValues": {":me": {"S": id_}},
                        "ReturnValuesOnConditionCheckFailure": "NONE", "_unique": attr}})
        return ops

    def _transact(self, ops: builtins.list[dict[str, Any]]) -> None:
        unique_of = [op.get("Put", {}).pop("_unique", None) for op in ops]
        try:
            self.client.transact_write_items(TransactItems=ops)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            for reason, attr in zip(reasons, unique_of, strict=False):
                if reason.get("Code") == "ConditionalCheckFailed" and attr:
                    raise UniquenessConflict(attr) from None
            if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                raise VersionConflict("the resource changed meanwhile") from None
            raise TransientError(f"DynamoDB refused the write: {[r.get('Code') for r in reasons]}") from None

    def _query(self, pk: str) -> Iterator[dict[str, Any]]:
        start = None
        while True:
            kw: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            page = self.client.query(TableName=self.table, KeyConditionExpression="pk = :pk",
                                     ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True, **kw)
            yield from page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                return
