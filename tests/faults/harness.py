"""A fast stand-in for the deployed shape: the real Lambda handlers (functions/*/app.py) over a `MemoryStore`
and in-memory queues that behave like SQS standard queues, on a logical clock.

- A received message is invisible until deleted (success) or failed; a failed one (a batch item failure, or
  every message of an invocation that died) comes back after the visibility timeout with its receive count
  + 1, and after `MAX_RECEIVES` receives moves to the queue's dead-letter queue (the redrive policy: as in
  SQS, it keeps the attributes it was sent with and gains none).
- `delay_seconds` is honoured on the logical clock; `attributes` (a dead letter's `reason`) are kept.
- Every store method call and every queue `send` passes `Faults.tick`, which counts it (the positions of a
  sync) and may raise at one chosen position: a `Crash` (a `BaseException`: a Lambda timeout or kill, which
  the flow's `except Exception` cannot swallow) or an ordinary exception (a throttled store).
- `Chaos` (seeded) duplicates, delays, drops-then-redelivers and reorders messages.

Nothing here changes the flow: the handlers, the flow and the engine run as deployed.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "peoplesync-faults")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")

from peoplesync.adapters.memory import MemoryStore
from peoplesync.bootstrap import Runtime
from peoplesync.config import Plan, compile_config, load_config, system_attributes
from peoplesync_dev.memory import MemoryConnector
from tests.functions import load_function as shared_load_function

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY = 30.0  # seconds a received message stays invisible (the functions' timeout)
MAX_RECEIVES = 5  # the redrive policy's maxReceiveCount
BATCH = 10
SCHEDULE = 600.0  # seconds between two scheduled syncs
WINDOW = 540.0  # a sync's drain handles what becomes visible within this much of its start


class Crash(BaseException):
    """The invocation dies here (a Lambda timeout, an out-of-memory kill): nothing of the flow catches it."""


class Throttled(Exception):
    """An ordinary exception from the store or a queue (throttled past its own retries)."""


# --- the functions ------------------------------------------------------------------------------------
def load_function(name: str) -> Any:
    """functions/<name>/app.py, with module-level state of the drill's own (not the e2e suite's)."""
    return shared_load_function(name, prefix="peoplesync_faults_fn_")


@dataclass
class Context:
    function_name: str = "peoplesync-faults"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:peoplesync-faults"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


# --- fault injection ------------------------------------------------------------------------------------
class Faults:
    """Counts the store and queue calls made while armed; raises at position `at` (1-based)."""

    def __init__(self, at: int | None = None, make: Callable[[str], BaseException] | None = None) -> None:
        self.at = at
        self.make = make or (lambda what: Crash(f"crash at {what}"))
        self.armed = False
        self.calls = 0
        self.log: list[str] = []
        self.fired: str | None = None

    def tick(self, what: str) -> None:
        if not self.armed:
            return
        self.calls += 1
        self.log.append(what)
        if self.calls == self.at:
            self.fired = what
            raise self.make(what)


class CountingStore:
    """A MemoryStore whose every method call is a position (`Faults.tick`) before it runs."""

    def __init__(self, inner: MemoryStore, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr
        faults = self._faults

        def call(*args: Any, **kwargs: Any) -> Any:
            faults.tick(f"store.{name}")
            return attr(*args, **kwargs)

        return call


@dataclass
class Chaos:
    """What the network does to messages (SQS standard: at least once, best-effort order). Seeded."""

    rng: random.Random
    duplicate: float = 0.0  # a send delivered twice
    delay: float = 0.0  # a send visible only some seconds later
    drop: float = 0.0  # a send "lost" and redelivered after the next sync has started
    reorder: bool = False  # receive in random order rather than oldest first
    budget: int = 40  # at most this many messages disturbed

    def disturb(self, now: float) -> tuple[int, float]:
        """(copies, visible_at offset) for one message sent now."""
        if self.budget <= 0:
            return 1, 0.0
        roll = self.rng.random()
        if roll < self.duplicate:
            self.budget -= 1
            return 2, 0.0
        roll -= self.duplicate
        if roll < self.delay:
            self.budget -= 1
            return 1, float(self.rng.randint(1, 120))
        roll -= self.delay
        if roll < self.drop:
            self.budget -= 1
            return 1, SCHEDULE + float(self.rng.randint(1, 60))
        return 1, 0.0


# --- queues ---------------------------------------------------------------------------------------------
@dataclass
class Message:
    id: str
    body: str
    visible_at: float
    attributes: dict[str, str] = field(default_factory=dict)
    receives: int = 0


class Net:
    """Every queue of the stack, their dead-letter queues and the logical clock."""

    def __init__(self, faults: Faults, chaos: Chaos | None = None) -> None:
        self.faults = faults
        self.chaos = chaos
        self.now = 0.0
        self.queues: dict[str, SimQueue] = {}
        self.dlqs: dict[str, SimQueue] = {}
        self._ids = 0

    def queue(self, name: str) -> SimQueue:
        if name not in self.queues:
            self.queues[name] = SimQueue(self, name, dlq=self.dlq(name))
        return self.queues[name]

    def dlq(self, name: str) -> SimQueue:
        if name not in self.dlqs:
            self.dlqs[name] = SimQueue(self, f"dlq:{name}", dlq=None)
        return self.dlqs[name]

    def next_id(self) -> str:
        self._ids += 1
        return f"m{self._ids}"

    def dead_letters(self) -> list[Message]:
        return [m for q in self.dlqs.values() for m in q.messages]

    def pending(self) -> int:
        return sum(len(q.messages) for q in self.queues.values())


class SimQueue:
    def __init__(self, net: Net, name: str, dlq: SimQueue | None) -> None:
        self.net, self.name, self.dlq = net, name, dlq
        self.messages: list[Message] = []

    def send(self, messages: list[dict[str, Any]], *, delay_seconds: int = 0,
             attributes: dict[str, str] | None = None) -> None:
        self.net.faults.tick(f"send {self.name}")
        for message in messages:
            copies, later = (1, 0.0)
            if self.net.chaos is not None and self.dlq is not None:
                copies, later = self.net.chaos.disturb(self.net.now)
            for _ in range(copies):
                self.put(json.dumps(message), self.net.now + delay_seconds + later, dict(attributes or {}))

    def put(self, body: str, visible_at: float, attributes: dict[str, str], receives: int = 0) -> None:
        self.messages.append(Message(self.net.next_id(), body, visible_at, attributes, receives))

    def receive(self, limit: int = BATCH) -> list[Message]:
        ready = [m for m in self.messages if m.visible_at <= self.net.now]
        chaos = self.net.chaos
        if chaos is not None and chaos.reorder:
            chaos.rng.shuffle(ready)
        else:
            ready.sort(key=lambda m: m.visible_at)
        batch = ready[:limit]
        for m in batch:
            m.receives += 1
            m.visible_at = self.net.now + VISIBILITY
        return batch

    def delete(self, message: Message) -> None:
        self.messages.remove(message)

    def fail(self, message: Message) -> None:
        """A failed receive: visible again after the visibility timeout, or redriven to the DLQ."""
        if message.receives >= MAX_RECEIVES and self.dlq is not None:
            self.messages.remove(message)
            self.dlq.put(message.body, self.net.now, dict(message.attributes), message.receives)

    def next_visible(self) -> float | None:
        return min((m.visible_at for m in self.messages), default=None)


# --- the world ------------------------------------------------------------------------------------------
BASE: dict[str, Any] = {
    "systems": {
        "hr": {"connector": "memory", "writable": False},
        "ad": {"connector": "memory"},
        "cloud": {"connector": "memory", "provision": True},
    },
    "fields": {
        "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID",
                                                 "cloud": "employerInfo.employeeId"}},
        "email.work": {"source": "hr", "normalize": ["trim", "lower"],
                       "map": {"hr": "Work_Email", "ad": "mail", "cloud": "email"}},
        "title": {"source": "ad", "map": {"ad": "title", "cloud": "title"}},
        "phone.work": {"source": ["ad", "cloud"], "winner": "ad", "normalize": "e164",
                       "map": {"ad": "telephoneNumber", "cloud": "addresses[mediaType=PHONE,type=WORK]"}},
        "manager": {"source": "ad", "reference": "person", "map": {"ad": "manager", "cloud": "manager"}},
    },
    "match": ["employee_id", "email.work"],
    "lifecycle": {"source": "hr"},
    "policies": {"max_changes_per_run": None},
}
PHONE = "addresses[mediaType=PHONE,type=WORK]"
POPULATION = 6
EDITED_PHONE = "+13175550303"  # the cloud-side edit of the two-way phone (person 3)
LEAVER = "E6"
NEW_HIRE = "E7"

_PLAN: list[Plan] = []


def plan() -> Plan:
    if not _PLAN:
        _PLAN.append(compile_config(load_config(BASE)))
    return _PLAN[0]


def dn(n: int) -> str:
    return f"CN=Person {n},OU=Staff,DC=corp"


class World:
    """hr (read-only, lifecycle source), ad and cloud (writable; cloud provisions), the stack in between."""

    def __init__(self, faults: Faults | None = None, chaos: Chaos | None = None) -> None:
        self.plan = plan()
        self.faults = faults or Faults()
        self.net = Net(self.faults, chaos)
        self.memory = MemoryStore()
        self.store = CountingStore(self.memory, self.faults)
        self.systems = {name: MemoryConnector(name, system_attributes(self.plan, name),
                                              writable=self.plan.systems[name].writable)
                        for name in ("hr", "ad", "cloud")}
        self.runtime = Runtime(self.plan, self.store, self.net.queue, self.net.dlq,  # type: ignore[arg-type]
                               connectors=self.systems, clock=lambda: self.net.now,
                               max_receives=MAX_RECEIVES)  # as bootstrap.aws() reads it from the template
        self.poll_fn, self.reconcile_fn, self.deliver_fn = (load_function(n) for n in ("poll", "reconcile",
                                                                                        "deliver"))
        self.crashed_polls: list[str] = []
        self.poll_reports: list[dict[str, Any]] = []

    def __getitem__(self, system: str) -> MemoryConnector:
        return self.systems[system]

    # --- the people ---------------------------------------------------------------------------------------
    def hire(self, n: int, *, in_cloud: bool = True) -> None:
        manager = {} if n == 1 else {"manager": dn(1)}
        self["hr"].put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@corp.example")
        self["ad"].put(f"guid-{n}", ref=dn(n), employeeID=f"E{n}", mail=f"p{n}@corp.example", title=f"Title {n}",
                       telephoneNumber=f"+1317555010{n}", **manager)
        if in_cloud:
            self["cloud"].put(f"u{n}", **{"employerInfo.employeeId": f"E{n}", "email": f"p{n}@corp.example",
                                          "title": f"Title {n}", PHONE: f"+1317555010{n}",
                                          **({} if n == 1 else {"manager": "u1"})})

    def populate(self) -> None:
        for n in range(1, POPULATION + 1):
            self.hire(n)

    def initial(self) -> None:
        """The population, synced once by an operator's `peoplesync sync` (the local run: every system read and
        reconciled before anything is delivered, so existing cloud accounts are linked, not provisioned again)."""
        from peoplesync import bootstrap

        self.populate()
        bootstrap.local(self.plan, store=self.memory, connectors=self.systems, sleep=lambda s: None).sync()
        for c in self.systems.values():
            c.writes.clear()

    def change(self) -> None:
        """The changes the change sync must carry: a title in AD, a phone edit in the cloud, a new hire (HR
        and AD; the cloud account is provisioned), a leaver (disabled in HR)."""
        self["ad"].set("guid-2", title="Principal 2")
        self["cloud"].set("u3", **{PHONE: EDITED_PHONE})
        self.hire(7, in_cloud=False)
        self["hr"].disable("W6")

    # --- what EventBridge and the event source mappings do -------------------------------------------------
    def poll(self, system: str) -> None:
        try:
            report = self.poll_fn.handler({"system": system}, Context(), rt=self.runtime)
            self.poll_reports.append(dict(report))
        except Crash:
            self.crashed_polls.append(system)  # runs again at its next schedule
        except Exception as exc:  # the poll Lambda failed; EventBridge runs it again next time
            self.poll_reports.append({"system": system, "raised": f"{type(exc).__name__}: {exc}"})
        finally:
            self.poll_fn.metrics.clear_metrics()  # an invocation's metrics are flushed, not kept

    def order(self) -> list[str]:
        return self.runtime.polled_systems()

    def feed(self, name: str) -> bool:
        queue = self.net.queue(name)
        batch = queue.receive()
        if not batch:
            return False
        fn = self.reconcile_fn if name == "reconcile" else self.deliver_fn
        arn = f"arn:aws:sqs:us-east-1:123456789012:stack-{name.replace(':', '-')}"
        records = [{"messageId": m.id, "receiptHandle": m.id, "body": m.body,
                    "attributes": {"ApproximateReceiveCount": str(m.receives)}, "messageAttributes": {},
                    "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1", "eventSourceARN": arn}
                   for m in batch]
        try:
            result = fn.handler({"Records": records}, Context(), rt=self.runtime)
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except (Crash, Exception):  # the invocation died or raised: the whole batch comes back
            failed = {m.id for m in batch}
        finally:
            fn.metrics.clear_metrics()
        for m in batch:
            if m.id in failed:
                queue.fail(m)
            else:
                queue.delete(m)
        return True

    def drain(self, until: float, rounds: int = 400) -> None:
        """Feed the functions until nothing is visible before `until` (logical time)."""
        for _ in range(rounds):
            busy = False
            for name in sorted(self.net.queues):
                busy |= self.feed(name)
            if busy:
                continue
            due = [t for q in self.net.queues.values() if (t := q.next_visible()) is not None]
            nxt = min(due, default=None)
            if nxt is None or nxt > until:
                return
            self.net.now = max(self.net.now, nxt)
        raise AssertionError("queues did not drain")

    def sync(self, *, interleave: bool = False) -> None:
        """One scheduled run: every system polled, then the queues drained. `interleave`: every system is polled
        before anything is drained (independent schedules firing together)."""
        start = self.net.now
        for system in self.order():
            self.poll(system)
            if not interleave:
                self.drain(start + WINDOW)
        self.drain(start + WINDOW)
        self.net.now = start + SCHEDULE

    def writes(self) -> dict[str, int]:
        return {name: len(c.writes) for name, c in self.systems.items()}
