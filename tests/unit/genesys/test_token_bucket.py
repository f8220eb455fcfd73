"""The shared request budget: a token bucket on an injectable clock, with a pluggable store."""

from __future__ import annotations

import threading

from peoplesync.connectors.ratelimit import MemoryBucketStore, TokenBucket
from peoplesync.connectors.rest import retry_after_seconds


class SimClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_given_300_per_minute_when_900_tokens_are_taken_then_any_60_s_window_holds_at_most_300() -> None:
    clock = SimClock()
    bucket = TokenBucket("k", 300, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(900):
        bucket.acquire()
        times.append(clock.now)
    assert abs(times[-1] - times[0] - 179.8) < 1e-6  # 899 intervals of 0.2 s
    for i, t in enumerate(times):
        in_window = sum(1 for u in times[i:] if u < t + 60 - 1e-6)
        assert in_window <= 300


def test_given_two_buckets_on_one_store_then_they_share_the_budget() -> None:
    clock = SimClock()
    store = MemoryBucketStore()
    a = TokenBucket("client", 60, clock=clock, sleep=clock.sleep, store=store)
    b = TokenBucket("client", 60, clock=clock, sleep=clock.sleep, store=store)
    for _ in range(5):
        a.acquire()
        b.acquire()
    assert abs(clock.now - 1000.0 - 9.0) < 1e-6  # 10 tokens at 1/s: 9 s after the first


def test_given_a_429_when_the_bucket_is_deferred_then_the_next_token_waits_at_least_retry_after() -> None:
    clock = SimClock()
    bucket = TokenBucket("k", 300, clock=clock, sleep=clock.sleep)
    bucket.acquire()
    bucket.defer(30)
    start = clock.now
    bucket.acquire()
    assert clock.now - start >= 30


def test_given_threads_sharing_a_bucket_then_no_two_take_the_same_token() -> None:
    clock = SimClock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.now += seconds / 8  # time runs slower than the waits: callers contend hard

    bucket = TokenBucket("k", 6000, clock=clock, sleep=sleep)
    granted: list[float] = []

    def worker() -> None:
        for _ in range(50):
            bucket.acquire()
            with lock:
                granted.append(clock.now)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(granted) == 200
    # 100 tokens/s, capacity 1: 200 grants need at least ~1.99 s of clock
    assert clock.now - 1000.0 >= 1.98


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    assert retry_after_seconds("17") == 17
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30
