"""The local run's in-process queues (`service/queues.py`): messages are taken in the order SQS-like delays make
them ready (when each became ready, then when it was sent), whether they were sent ready or with a delay; a
delivery already waiting is queued once; depth, names, waiting and what is kept between runs count both."""

from __future__ import annotations

import heapq
import random

from peoplesync.adapters.memory import MemoryStore
from peoplesync.service.queues import LEFTOVERS, LocalQueues


def test_given_ready_and_delayed_messages_interleaved_then_they_are_taken_in_the_order_one_heap_gives() -> None:
    rng = random.Random(14)
    for _ in range(50):
        queues = LocalQueues(MemoryStore(), clock=lambda: 0.0)
        reference: list[tuple[float, int, int]] = []  # (ready at, sequence, n): what one heap of all would give
        for n in range(200):
            step = rng.random()
            if step < 0.55:
                delay = rng.choice([0, 0, 0, 1, 2, 5])
                queues.put("reconcile", {"type": "observation", "n": n}, delay)
                heapq.heappush(reference, (queues.now + delay, n, n))
            elif step < 0.85:
                limit = rng.randint(1, 4)
                expected = []
                while reference and len(expected) < limit and reference[0][0] <= queues.now:
                    expected.append(heapq.heappop(reference)[2])
                assert [m["n"] for m in queues.take("reconcile", limit)] == expected
            else:
                queues.now += rng.choice([0.5, 1, 3])
            assert queues.depth("reconcile") == len(reference)


def test_given_delayed_and_ready_messages_then_waiting_names_and_leftovers_count_both() -> None:
    store = MemoryStore()
    queues = LocalQueues(store, clock=lambda: 0.0)
    queues.put("deliver:ad", {"type": "deliver", "record_id": "p1", "system": "ad", "attempt": 2}, 30)
    assert queues.waiting() == 30 and queues.names() == ["deliver:ad"]
    queues.put("deliver:ad", {"type": "deliver", "record_id": "p2", "system": "ad"})
    queues.put("deliver:ad", {"type": "deliver", "record_id": "p2", "system": "ad"})  # waiting already: once
    assert queues.waiting() == 0 and queues.depth("deliver:ad") == 2
    assert [m["record_id"] for _, m in queues.messages("deliver:")] == ["p2", "p1"]
    queues.persist()
    assert [item["message"]["record_id"] for item in store.get_meta(LEFTOVERS)["items"]] == ["p2", "p1"]
    assert [m["record_id"] for m in queues.take("deliver:ad", 10)] == ["p2"]  # p1 not ready yet
    queues.now += 30
    assert [m["record_id"] for m in queues.take("deliver:ad", 10)] == ["p1"]
    assert queues.waiting() is None and queues.names() == []
