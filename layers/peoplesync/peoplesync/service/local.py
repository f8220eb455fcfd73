"""The local run: the one flow (poll -> reconcile -> deliver) driven in one process over in-process queues.

`peoplesync sync`, `plan`, `serve`, `dlq replay` and the scenario tests all come here, and here calls exactly
what the Lambda functions call (`poll.poll`, `flow.reconcile_message`, `flow.deliver_messages`): what differs
is only who moves the messages. Built by `peoplesync.bootstrap.local(...)`.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from ..model import Decision, Observation
from ..ports import Connector, StateStore
from . import flow, guard, messages, queues, sweep
from .describe import person_label
from .guard import Approval, open_holds, people_known
from .messages import RECONCILE, Poison
from .poll import poll
from .reconcile import CREATED, HELD, LINKED, MATCHED, STALE, Result
from .runtime import Runtime

log = logging.getLogger("peoplesync")
BATCH = 2000  # messages per chunk: one store transaction; for deliveries one connector call (one file rewrite)
MAX_REEVALUATIONS = 10  # per record and run: references that keep waking each other stop here

Progress = Callable[[str, int, int], None]

# how a run went, worst first, and the exit code `peoplesync sync` / `plan` give it (docs/operations.md)
class Status:
    READ_FAILED, DEAD_LETTERED, HELD, DONE, AGREEMENT = "read failed", "dead-lettered", "held", "done", "in agreement"


EXIT_CODES = {Status.AGREEMENT: 0, Status.DONE: 0, Status.HELD: 2, Status.READ_FAILED: 3, Status.DEAD_LETTERED: 4}


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
    holds: list[dict[str, Any]] = field(default_factory=list)  # the guard's holds open after the run
    released: list[str] = field(default_factory=list)  # holds lifted (their changes gone) or approved
    open_reviews: int = 0  # accounts held for a human (this run's and earlier ones), after the run
    full: bool = False
    decided: list[tuple[str | None, Decision]] = field(default_factory=list, repr=False)  # (record, decision)
    polls: dict[str, dict[str, Any]] = field(default_factory=dict)  # system -> its PollReport (the report page)

    @property
    def status(self) -> str:
        """How the run went, the worst first: a read failed (nothing may be concluded from it), writes were
        dead-lettered, something is held (by the guard, or an account for review), writes done, agreement."""
        if self.read_failures:
            return Status.READ_FAILED
        if self.dead_letters:
            return Status.DEAD_LETTERED
        if self.holds or self.held_by_guard or self.open_reviews or self.held_for_review:
            return Status.HELD
        return Status.DONE if self.total_writes else Status.AGREEMENT

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        """For `--json`: what a script needs to know about the run."""
        return {"status": self.status, "exit_code": self.exit_code, "full": self.full,
                "accounts_read": self.seen, "accounts_linked": self.linked, "people_created": self.created,
                "people_changed": self.changed, "conflicts": self.conflicts, "writes": dict(self.writes),
                "writes_total": self.total_writes, "dead_lettered": self.dead_letters,
                "read_failures": dict(self.read_failures), "errors": list(self.errors),
                "held_for_review": self.held_for_review, "open_reviews": self.open_reviews,
                "holds": list(self.holds), "holds_released": list(self.released)}

    @property
    def decisions(self) -> list[str]:
        """One line per decision, for `plan` and the summary (made when asked: a first sync of 20,000 people
        makes 60,000 decisions, which nobody may read)."""
        return [f"{rid}: {d}" for rid, d in self.decided]

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
        self.decided += [(result.record_id, d) for d in result.decisions]


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
    def sync(self, *, full: bool = False, approve: Approval = False, deliver: bool = True,
             progress: Progress | None = None) -> RunReport:
        """Poll every system (lifecycle sources first), reconcile what changed, deliver what is owed.
        `approve`: True lets everything held through; hold ids let those through."""
        report = RunReport(full=full)
        self._reevaluated.clear()
        self.queues.restore()
        population = people_known(self.store)  # the guard's base: the people known before this run
        swept = sweep.LocalSweep(self, report, approve=approve, population=population, progress=progress) \
            if full else None  # --full: the full sweep's steps in-process (service/sweep.py)
        try:
            # the cyclic collector paused for the run, as for a poll or a chunk (`_collector_paused`): a run
            # makes next to no cyclic garbage, and each collection rescanned all it keeps (records, queues)
            with _collector_paused(promote=True):
                for index, system in enumerate(self.runtime.polled_systems()):
                    polled = swept.system(index) if swept else poll(
                        system, self.reconciler, self.runtime.connector(system), self.runtime.queue(RECONCILE),
                        full=full, approve=approve, population=population, connectors=self.runtime.connector)
                    report.seen += polled.read + polled.vanished
                    report.polls[system] = polled.to_dict()
                    report.full |= polled.full
                    report.released += polled.released
                    if polled.failed:
                        report.read_failures[system] = polled.failed
                    if polled.held:
                        report.held_by_guard = f"{report.held_by_guard}; {polled.held}" if report.held_by_guard \
                            else polled.held
                    self._reconcile(report, progress)
                if deliver:
                    self._deliver(report, progress)
                    queues.settle_dead_letters(self.store, self.queues.clock)  # letters this run made moot
                self._held(report)
        finally:
            self.queues.persist()
            self.runtime.close()  # one connection per run, as a Lambda invocation would
        return report

    def _held(self, report: RunReport) -> None:
        """What stays held after the run: the guard's holds of the systems read, accounts for review."""
        polled = set(self.runtime.polled_systems())
        items = self.store.reviews()
        report.holds = [{"id": h["id"], "system": h.get("system"), "people": h.get("count"),
                         "accounts": h.get("accounts"), "reason": h.get("reason"), "approved": bool(h.get("approved"))}
                        for h in open_holds(self.store) if h.get("system") in polled]
        report.open_reviews = sum(1 for r in items if r.get("kind") != "run")

    # --- for the command line: people by name, the guard's holds ------------------------------------------
    def label(self, record_id: str) -> str:
        return person_label(self.plan, self.store.load(record_id), record_id)

    def holds(self) -> list[dict[str, Any]]:
        return open_holds(self.store)

    def reviews(self) -> list[dict[str, Any]]:
        """Every item held for a human; a held run with the keys of the accounts it holds (`account_keys`)."""
        return [{k: v for k, v in dict(item, account_keys=sorted(guard.held_accounts(item))).items()
                 if k != "accounts_z"} if item.get("kind") == guard.KIND else item for item in self.store.reviews()]

    def approve(self, hold_id: str) -> dict[str, Any]:
        """Approve one held run (KeyError: no such hold): the next sync lets its changes through."""
        return guard.approve(self.store, hold_id)

    def find_record(self, person: str) -> str | None:
        """A record by its id, `system:key`, or a match value (an employee id, an e-mail) held by one person;
        a group the same way (its link, or its name)."""
        if self.store.load(person) is not None:
            return person
        system, _, key = person.partition(":")
        for kind in self.plan.fields:  # people first, then groups
            rid = self.store.by_link(kind, system, key) if key and system in self.plan.systems else None
            if rid:
                return str(rid)
            for rule in self.plan.match.get(kind, []):
                found = self.store.by_value(kind, rule, self.plan.fields[kind][rule].norm(person, False))
                if len(found) == 1:
                    return str(next(iter(found)))
        return None

    def copy_state(self, src: StateStore) -> None:
        """Copy records, cursors, holds and the flow's meta from `src` into this run's store, so a plan can run
        on a scratch copy and write nothing."""
        for kind in ("person", "group"):
            for rid in src.all_ids(kind):
                state = src.load(rid)
                if state is not None:
                    state.version = 0
                    self.store.save(state)
        for name in ["queued", "outbox", *(f"fingerprint|{system}" for system in self.plan.systems)]:
            meta = src.get_meta(name)
            if meta is not None:
                self.store.put_meta(name, meta)
        for system in self.plan.systems:
            self.store.put_cursor(system, src.get_cursor(system))
        for item in src.reviews():
            self.store.add_review(item["id"], {k: v for k, v in item.items() if k != "id"})

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
                if self.chunked:  # inside the chunk's store batch: its accounts' links read in one go
                    flow.expect(batch, self.reconciler)
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
            report.dead_letters += 1
        except Exception as exc:  # as the reconcile function does: again later, then parked with why
            outcome = flow.retry_later(message, self.runtime.queue(RECONCILE), self.runtime.dlq(RECONCILE), exc)
            if outcome.dead_letter:
                report.errors.append(f"reconcile: {outcome.dead_letter}")
                report.dead_letters += 1

    @contextmanager
    def _chunk(self, name: str, batch: list[dict[str, Any]]) -> Iterator[None]:
        """One chunk of messages in one store batch (SQLite: one transaction, one commit). If anything escapes
        it (the store failing to commit, an interrupt, a crash the flow does not catch), the chunk's saves are
        undone and its messages go back to their queue, which the run keeps in the state on the way out:
        nothing taken is lost. A delivery handed back may have reached its target: it re-reads first.
        The cyclic collector is paused for the chunk (and for a whole `sync`), as for a poll: a chunk builds
        thousands of acyclic objects (records, messages), and the collections they set off rescanned everything
        alive again and again (about 8% of a first sync at 5,000 people); what is left is looked at once after."""
        try:
            with _collector_paused(), self.store.batch() if self.chunked else nullcontext():
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
        done: Counter[str] = Counter()
        while True:
            for name in self.queues.names("deliver:"):
                while batch := self.queues.take(name, BATCH):
                    with self._chunk(name, batch):
                        self._deliver_batch(batch, report)
                    done[name] += len(batch)
                    if progress:  # per target, with what is still queued for it (the bar's time left)
                        progress(name, done[name], done[name] + self.queues.depth(name))
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
        """The dead-lettered deliveries still owed (those a later run made moot are marked resolved)."""
        queues.settle_dead_letters(self.store, self.queues.clock)
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


@contextmanager
def _collector_paused(*, promote: bool = False) -> Iterator[None]:
    """A poll or a chunk with the cyclic collector paused (as the LDAP and CSV reads): its pre-screen builds a
    few acyclic objects per account read, and each collection would rescan all that is alive (the index, the
    read), a cost growing faster than the read. Whatever cycle it makes is collected after it.
    `promote` (a whole run): what the run leaves alive is handed to the oldest generation as the collector is
    switched back on (`gc.freeze` then `gc.unfreeze`: two list moves, nothing traversed), not traversed by the
    first young collection after it: that one otherwise walked everything the run made and kept (the records
    kept decoded, the report's decisions: 0.13 s of a first sync at 5,000 people), which mostly dies with the
    run. It is left to the next full collection, as anything promoted is, cycles included (a first sync makes
    about 5 cyclic objects). Not when something else froze objects (`adapters.aws.collector_paused`): those
    would be unfrozen with them."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            if promote and not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()
