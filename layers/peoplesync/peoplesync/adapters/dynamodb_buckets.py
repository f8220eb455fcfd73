"""The request budget (`connectors.ratelimit.TokenBucket`) kept in DynamoDB, shared by every Lambda invocation.

Connectors never build this themselves: the composition root passes it in through
`from_system(..., buckets=DynamoBucketStore(table))`. Its clock is the wall clock, the same on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..connectors.ratelimit import BucketSpec, BucketStore, decide, refill


class DynamoBucketStore:
    """The bucket as one DynamoDB item `{pk: "bucket#<key>", tokens, updated}`, changed only by a conditional
    put on the `updated` it was read at. A lost race (another invocation took a token meanwhile) re-reads and
    tries again, so two callers can never spend the same token."""

    def __init__(self, table: Any, *, key_attr: str = "pk", max_races: int = 20) -> None:
        self.table = table  # a boto3 Table resource
        self.key_attr = key_attr
        self.max_races = max_races

    def _pk(self, spec: BucketSpec) -> str:
        return f"bucket#{spec.key}"

    def _update(self, spec: BucketSpec, now: float, step: Callable[[float], tuple[float, float]]) -> float:
        from botocore.exceptions import ClientError

        for _ in range(self.max_races):
            item = self.table.get_item(Key={self.key_attr: self._pk(spec)}, ConsistentRead=True).get("Item")
            if item is None:
                tokens, updated, condition = spec.capacity, now, f"attribute_not_exists({self.key_attr})"
                values: dict[str, Any] = {}
            else:
                tokens, updated = float(item["tokens"]), float(item["updated"])
                condition, values = "updated = :seen", {":seen": item["updated"]}
            tokens, wait = step(refill(tokens, updated, spec, now))
            if wait > 0:
                return wait  # nothing taken, nothing to record: the refill is a function of the stored item
            new_updated = max(now, updated)
            kwargs: dict[str, Any] = {"ConditionExpression": condition}
            if values:
                kwargs["ExpressionAttributeValues"] = values
            try:
                self.table.put_item(Item={self.key_attr: self._pk(spec), "tokens": _dec(tokens),
                                          "updated": _dec(new_updated)}, **kwargs)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    continue  # another caller moved the bucket: read again
                raise
            return wait
        # heavy contention: tell the caller to come back a little later rather than spin
        return 1.0 / spec.rate

    def take(self, spec: BucketSpec, now: float) -> float:
        return self._update(spec, now, lambda tokens: decide(tokens, spec))

    def defer(self, spec: BucketSpec, now: float, seconds: float) -> None:
        self._update(spec, now, lambda tokens: (min(tokens, -seconds * spec.rate), 0.0))


def _dec(x: float) -> Any:
    from decimal import Decimal

    return Decimal(repr(round(x, 9)))


def for_system(system_config: Any) -> BucketStore | None:
    """The store a system's settings ask for (`budget_store: dynamodb`, `budget_table`), None for the default
    (the in-process store). Called by the runtime until the composition root decides this itself."""
    settings = system_config.settings if hasattr(system_config, "settings") else dict(system_config)
    if settings.get("budget_store") != "dynamodb" or not settings.get("budget_table"):
        return None
    import boto3

    return DynamoBucketStore(boto3.resource("dynamodb").Table(settings["budget_table"]))
