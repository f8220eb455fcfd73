"""The local run: the one flow (poll -> reconcile -> deliver) driven in one process over in-process queues.

`peoplesync sync`, `plan`, `serve`, `dlq replay` and the scenario tests all come here, and here calls exactly
what the Lambda functions call (`poll.poll`, `flow.reconcile_message`, `flow.deliver_messages`): what differs
is only who moves the messages. Built by `peoplesync.bootstrap.local(...)`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from ..model import Observation
from ..ports import Connector
from . import flow, messages, queues
from .guard import people_known
from .messages import RECONCILE, Poison
from .poll import poll
from .reconcile import CREATED, HELD, LINKED, MATCHED, STALE, Result
from .runtime import Runtime

log = logging.getLogger("peoplesync")
BATCH = 2000  # messages per chunk: one store transaction; for deliveries one connector call (one file rewrite)
MAX_REEVALUATIONS = 10  # per record and run: references that keep waking each other stop here

Progress = Callable[[str, int, int], None]


@dataclass
class RunReport:
    seen: int = 0
    created: int = 0
    linked: int = 0
    changed_ids: set[str] = field(default_factory=set)  # people with a decision this run
    conflicts: int = 0
    held_for_review: int = 0
    stale: int = 0
    writes: Counter[str] = field(default_factory=Counter)
    read_failures: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    dead_letters: int = 0
    held_by_guard: str | None = None
    full: bool = False
    decisions: list[str] = field(default_factory=list)  # one line each, for `plan` and the summary

    @property
    def changed(self) -> int:
        return len(self.changed_ids)

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())

    def tally(self, outcome: flow.Outcome) -> None:
        for system, n in outcome.writes.items():
            if outcome.status == "delivered":
                self.writes[system] += n
        if outcome.dead_letter:
            self.dead_letters += 1
        result = outcome.result
        if result is None:
            return
        self.created += result.status == CREATED
        self.linked += result.status in (LINKED, MATCHED)
        self.held_for_review += result.status == HELD
        self.stale += result.status == STALE
        self.conflicts += result.conflicts
        if result.record_id and any(d.rule != "deferred" for d in result.decisions):
            self.changed_ids.add(result.record_id)
        self.decisions += [f"{result.record_id}: {d}" for d in result.decisions]


class LocalBridge:
    def __init__(self, runtime: Runtime, local_queues: queues.LocalQueues, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.runtime = runtime
        self.queues = local_queues
        self.sleep = sleep
        self.plan, self.store, self.reconciler = runtime.plan, runtime.store, runtime.reconciler
        self._reevaluated: Counter[str] = Counter()
        self.chunked = True  # each chunk of messages in one store batch (`peoplesync serve` turns it off)

    @property
    def connectors(self) -> dict[str, Connector]:
        return {name: self.runtime.connector(name) for name in self.runtime.polled_systems()}

    # --- the run -------------------------------------------------------------------------------------------
    def sync(self, *, full: bool = False, approve: bool = False, deliver: bool = True,
             progress: Progress | None = None) -> RunReport:
        """Poll every system (lifecycle sources first), reconcile what changed, deliver what is owed."""
        report = RunReport(full=full)
        self._reevaluated.clear()
        self.queues.restore()
        population = people_known(self.store)  # the guard's base: the people known before this run
        try:
            for system in self.runtime.polled_systems():
                polled = poll(system, self.reconciler, self.runtime.connector(system),
                              self.runtime.queue(RECONCILE), full=full, approve=approve, population=population)
                report.seen += polled.read + polled.vanished
                report.full |= polled.full
                if polled.failed:
                    report.read_failures[system] = polled.failed
                if polled.held:
                    held = f"{polled.held}. Review with `peoplesync plan`, then `peoplesync sync --approve`."
                    report.held_by_guard = f"{report.held_by_guard}; {held}" if report.held_by_guard else held
                self._reconcile(report, progress)
            if deliver:
                self._deliver(report, progress)
        finally:
            self.queues.persist()
            self.runtime.close()  # one connection per run, as a Lambda invocation would
        return report

    def receive(self, obs: Observation) -> Result | None:
        """An event pushed to us (the SCIM webhook): reconciled now; its writes are queued and go out with
        `deliver_owed()` or the next `sync`."""
        self.queues.restore()
        try:
            outcomes = flow.reconcile_message(messages.observed([obs])[0], self.reconciler, self.runtime.ports)
            report = RunReport()
            self._reconcile(report, None)
            return outcomes[0].result if outcomes else None
        finally:
            self.queues.persist()

    def reconcile_messages(self, batch: list[dict[str, Any]]) -> RunReport:
        """Reconcile-queue messages handed in (the webhook's inbox): reconciled now, their deliveries queued and
        kept in the state when this returns (they go out with `deliver_owed()` or the next `sync`)."""
        report = RunReport()
        self.queues.restore()
        try:
            for message in batch:
                self.queues.put(RECONCILE, message)
            self._reconcile(report, None)
        finally:
            self.queues.persist()
        return report

    def deliver_owed(self) -> RunReport:
        report = RunReport()
        self.queues.restore()
        try:
            self._deliver(report, None)
        finally:
            self.queues.persist()
        return report

    def owed(self) -> list[tuple[str, str]]:
        """(record, target) of every delivery still queued: what a `plan` would write."""
        self.queues.restore()
        return sorted({(str(m.get("record_id")), str(m.get("system"))) for _, m in self.queues.messages("deliver:")})

    # --- moving the messages ------------------------------------------------------------------------------
    def _reconcile(self, report: RunReport, progress: Progress | None) -> None:
        """Handle the reconcile queue until it is empty (wakes and re-reads included)."""
        while batch := self.queues.take(RECONCILE, BATCH):
            with self._chunk(RECONCILE, batch):
                for message in batch:
                    self._reconcile_one(message, report)
            if progress:
                progress("reconcile", report.seen, 0)

    def _reconcile_one(self, message: dict[str, Any], report: RunReport) -> None:
        if self._looping(message):
            return
        try:
            for outcome in flow.reconcile_message(message, self.reconciler, self.runtime.ports):
                report.tally(outcome)
        except Poison as exc:
            self.runtime.dlq(RECONCILE).send([message], attributes=messages.reason(str(exc)))
            report.errors.append(f"reconcile: {exc}")
        except Exception as exc:  # as the reconcile function does: again later, then parked with why
            outcome = flow.retry_later(message, self.runtime.queue(RECONCILE), self.runtime.dlq(RECONCILE), exc)
            if outcome.dead_letter:
                report.errors.append(f"reconcile: {outcome.dead_letter}")

    @contextmanager
    def _chunk(self, name: str, batch: list[dict[str, Any]]) -> Iterator[None]:
        """One chunk of messages in one store batch (SQLite: one transaction, one commit). If anything escapes
        it (the store failing to commit, an interrupt, a crash the flow does not catch), the chunk's saves are
        undone and its messages go back to their queue, which the run keeps in the state on the way out:
        nothing taken is lost. A delivery handed back may have reached its target: it re-reads first."""
        try:
            with self.store.batch() if self.chunked else nullcontext():
                yield
        except BaseException:
            again = [dict(m, redelivered=True) if name.startswith("deliver:") else m for m in batch]
            for message in again:
                self.queues.put(name, message)
            raise

    def _looping(self, message: dict[str, Any]) -> bool:
        if message.get("type") != "reevaluate":
            return False
        rid = str(message.get("record_id"))
        self._reevaluated[rid] += 1
        if self._reevaluated[rid] > MAX_REEVALUATIONS:
            log.warning("record %s re-evaluated %d times in one run; left for the next run", rid, MAX_REEVALUATIONS)
            return True
        return False

    def _deliver(self, report: RunReport, progress: Progress | None) -> None:
        """Hand every delivery queue to its target in batches, waiting out retry delays, until all is done."""
        done = 0
        while True:
            for name in self.queues.names("deliver:"):
                while batch := self.queues.take(name, BATCH):
                    with self._chunk(name, batch):
                        self._deliver_batch(batch, report)
                    done += len(batch)
                    if progress:
                        progress("deliver", done, 0)
            self._reconcile(report, progress)  # records woken by a create, re-reads after a version conflict
            if not self.queues.wait(self.sleep):  # retries wait out their delay, as on SQS
                return

    def _deliver_batch(self, batch: list[dict[str, Any]], report: RunReport) -> None:
        for message, outcome in zip(batch, flow.deliver_messages(batch, self.reconciler, self.runtime.ports),
                                    strict=True):
            if isinstance(outcome, Poison):
                system = str(message.get("system"))
                self.runtime.dead_letter(system).send([message], attributes=messages.reason(str(outcome)))
                report.errors.append(f"{system}: {outcome}")
                report.dead_letters += 1
                continue
            report.tally(outcome)
            if outcome.dead_letter:
                report.errors.append(f"{message.get('system')} {message.get('record_id')}: {outcome.dead_letter}")

    # --- dead letters ---------------------------------------------------------------------------------------
    def dead_letters(self) -> list[dict[str, Any]]:
        return queues.dead_letters(self.store)

    def replay(self) -> RunReport:
        """Send every dead letter back to its queue and run it again; what fails again is parked again."""
        for letter in queues.take_dead_letters(self.store):
            message = letter.get("message") or messages.deliver(letter["record_id"], letter["system"])
            name = letter.get("queue") or messages.delivery_queue(letter["system"])
            self.queues.put(name, dict(message, attempt=1) if name.startswith("deliver:") else message)
        report = RunReport()
        try:
            self._reconcile(report, None)
            self._deliver(report, None)
        finally:
            self.queues.persist()
        return report
