"""A request budget shared by everything that talks to one API client: a token bucket with a pluggable store.

Why a bucket and not "one delivery at a time": the cloud platform limits requests per OAuth client (300 a
minute by default), and the bridge's poll, its event re-reads and its deliveries all use the same client, in
several Lambda invocations at once. Each of them takes a token before every request (retries included), so
together they never exceed the budget and the platform never has to refuse them with a 429.

The bucket refills at `rate` tokens a second up to `capacity`. The default capacity is 1 (no burst): a
sliding 60 s window then holds at most `per_minute` requests, which is the strictest reading of the
platform's limit. A 429 that gets through anyway (another integration on the same client, a budget set too
high) calls `defer(retry_after)`, which empties the bucket for that long, for every caller sharing it.

Stores (the one thing that differs between in-process and shared use) are injected: a connector is given
one through `from_system(..., buckets=...)`.
- `MemoryBucketStore` (here): a lock and a dict; shared by the threads of one process (`process_store()`).
- `DynamoBucketStore` (`adapters/dynamodb_buckets.py`): one item per bucket, updated with a conditional write,
  shared by every Lambda invocation. Connectors never import it: the composition root passes it in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)
class BucketSpec:
    key: str
    rate: float  # tokens per second
    capacity: float


class BucketStore(Protocol):
    def take(self, spec: BucketSpec, now: float) -> float:
        """Take one token if there is one: return 0. Otherwise take nothing and return seconds to wait."""
        ...

    def defer(self, spec: BucketSpec, now: float, seconds: float) -> None:
        """Empty the bucket so that the next token is available only `seconds` from now."""
        ...


def refill(tokens: float, updated: float, spec: BucketSpec, now: float) -> float:
    return min(spec.capacity, tokens + max(0.0, now - updated) * spec.rate)


def decide(tokens: float, spec: BucketSpec) -> tuple[float, float]:
    """(tokens left, seconds to wait). A token is granted when at least one is (almost) there: the
    tolerance absorbs float rounding, so a caller that slept exactly the wait it was told is served."""
    if tokens >= 1.0 - 1e-9:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / spec.rate


class MemoryBucketStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)

    def take(self, spec: BucketSpec, now: float) -> float:
        with self._lock:
            tokens, updated = self._buckets.get(spec.key, (spec.capacity, now))
            tokens = refill(tokens, updated, spec, now)
            tokens, wait = decide(tokens, spec)
            self._buckets[spec.key] = (tokens, max(now, updated))
            return wait

    def defer(self, spec: BucketSpec, now: float, seconds: float) -> None:
        with self._lock:
            tokens, updated = self._buckets.get(spec.key, (spec.capacity, now))
            tokens = refill(tokens, updated, spec, now)
            # refilling from here to 1 token takes `seconds` + one interval: nobody sends before the server
            # said it would accept again
            self._buckets[spec.key] = (min(tokens, -seconds * spec.rate), max(now, updated))


class TokenBucket:
    """`acquire()` blocks until a token is granted. `clock` and `sleep` are injectable, so a benchmark can run
    hours of traffic on a simulated clock in seconds."""

    def __init__(self, key: str, per_minute: float, *, capacity: float = 1.0, store: BucketStore | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.spec = BucketSpec(key, per_minute / 60.0, max(1.0, capacity))
        self.store: BucketStore = store if store is not None else MemoryBucketStore()
        self.clock = clock
        self.sleep = sleep
        self.waited = 0.0  # seconds this bucket made its callers wait, for reports

    def acquire(self) -> float:
        """Take one token, waiting as long as needed. Returns the seconds waited."""
        waited = 0.0
        while True:
            wait = self.store.take(self.spec, self.clock())
            if wait <= 0:
                self.waited += waited
                return waited
            self.sleep(wait)
            waited += wait

    def defer(self, seconds: float) -> None:
        """The server asked everyone to wait `seconds` (a 429 with Retry-After)."""
        self.store.defer(self.spec, self.clock(), max(0.0, seconds))


_PROCESS_STORE = MemoryBucketStore()


def process_store() -> MemoryBucketStore:
    """The store shared by every bucket in this process (warm Lambda invocations included)."""
    return _PROCESS_STORE
