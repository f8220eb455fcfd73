"""Poll: read one system and queue what changed there for reconcile. The first step of the one flow, run by
the poll Lambda on a schedule and by `peoplesync sync` for each system in turn.

- The cursor moves only after everything read is queued, so a crash re-reads rather than loses.
- A failed or empty read concludes nothing (SPEC 20): nobody is deactivated because of it.
- A complete read also says who is gone: an account we link that it no longer lists (the vanished rule).
- An account read exactly as last time costs no message (the digest pre-screen).
- Changes that would make writes for more people than `max_changes_per_run` allows are held, by account,
  until approved or undone; other changes still flow (SPEC 16; see `guard.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import Plan
from ..engine import decode, observation_digest
from ..model import Observation, RecordState
from ..ports import Connector, PeoplesyncError, ReadResult, StateStore
from ..redact import scrub
from . import guard, messages
from .messages import Queue
from .reconcile import Reconciler, owed_targets

log = logging.getLogger("peoplesync")


@dataclass
class PollReport:
    system: str
    read: int = 0
    queued: int = 0
    vanished: int = 0
    full: bool = False
    failed: str | None = None
    held: str | None = None  # what the guard holds in this system after the poll, in one line
    holds: list[str] = field(default_factory=list)  # ids of its open holds (`peoplesync reviews`)
    released: list[str] = field(default_factory=list)  # holds lifted or approved by this poll

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def poll(system: str, reconciler: Reconciler, connector: Connector, reconcile: Queue, *, full: bool = False,
         approve: guard.Approval = False, population: int | None = None,
         connectors: Callable[[str], Connector] | None = None) -> PollReport:
    """Read `system` (a delta since its cursor, or everything) and queue what changed for reconcile.
    `population`: the people known before the run this poll belongs to (the guard's base; default: now).
    `approve`: True, or the ids of holds to let through. `connectors`: the other systems' (for the guard)."""
    report = PollReport(system)
    try:
        judge = _Judge(approve, population, connectors)
        return _poll(reconciler, system, connector, reconcile, report, full, judge)
    except Exception as exc:  # the store or the queue failed (throttled past its retries): cut short, cursor kept
        report.failed = scrub(f"cut short, cursor kept (read again next time): {type(exc).__name__}: {exc}")
        log.warning("poll of %s %s", system, report.failed)
        return report


@dataclass
class _Judge:
    """What the guard is told about this poll."""

    approve: guard.Approval
    population: int | None
    connectors: Callable[[str], Connector] | None
    asked_full: bool = False  # the run asked for a full read (not one the mapping or a hold forced)


def _poll(reconciler: Reconciler, system: str, connector: Connector, reconcile: Queue, report: PollReport,
          full: bool, judge: _Judge) -> PollReport:
    plan, store = reconciler.plan, reconciler.store
    judge.asked_full = full
    remapped = (store.get_meta(_fingerprint_key(system)) or {}).get("value") != plan.fingerprint
    full = full or remapped or (judge.approve is not False and bool(guard.open_holds(store, system))) \
        or guard.needs_full_read(store, system)  # an approved hold's accounts: only a full read lists them
    cursor = None if full else store.get_cursor(system)
    report.full = cursor is None
    try:
        result = connector.read(cursor, full=cursor is None)
    except (PeoplesyncError, OSError) as exc:
        report.failed = scrub(f"{type(exc).__name__}: {exc}")
        log.warning("poll of %s failed; nothing concluded: %s", system, report.failed)
        return report
    observations = list(result.observations)
    report.read = len(observations)
    if result.complete and not observations:
        report.failed = "the read returned no accounts; nobody is deactivated because of it"
        return report
    return _queue_changes(reconciler, system, result, observations, reconcile, report, judge)


def _queue_changes(reconciler: Reconciler, system: str, result: ReadResult, observations: list[Observation],
                   reconcile: Queue, report: PollReport, judge: _Judge) -> PollReport:
    plan, store = reconciler.plan, reconciler.store
    known = _known(store, plan, system, observations, complete=result.complete)
    if result.complete:
        gone = vanished(known, system, {o.key for o in observations})
        report.vanished = len(gone)
        observations += gone
    changed = [o for o in observations if _is_news(known.get(o.key), system, decode(plan, o), plan.fingerprint)]
    verdict = guard.hold(reconciler, system, changed, known, read=None if result.complete else
                         {o.key for o in observations}, approve=judge.approve, population=judge.population,
                         connectors=judge.connectors)
    report.held, report.holds, report.released = verdict.held, verdict.holds, verdict.released
    reconcile.send(messages.observed(verdict.flow))
    report.queued = len(verdict.flow)
    if judge.asked_full:  # a full run (`sync --full`) decides again for the accounts read unchanged: what they
        news = {o.key for o in changed}  # owed may have become writable since (a manager's account, SPEC 13)
        reconcile.send(messages.reevaluate({s.id for key, s in known.items() if key not in news}))
    store.put_cursor(system, result.cursor)
    if report.full:  # everything was read under this mapping: later polls may be deltas again
        store.put_meta(_fingerprint_key(system), {"value": plan.fingerprint})
    return report


def vanished(known: dict[str, RecordState], system: str, seen: set[str]) -> list[Observation]:
    """The vanished-account rule, written once: an account linked in `system` that a complete read no
    longer lists is gone. Only a complete read may conclude this (never a delta, never a failed read)."""
    return [Observation(system, key, {}, active=False, removed=True, kind=state.kind)
            for key, state in known.items() if key not in seen and not state.shadows[system].removed]


def _fingerprint_key(system: str) -> str:
    return f"fingerprint|{system}"


def _is_news(state: RecordState | None, system: str, obs: Observation, fingerprint: str) -> bool:
    """Cheap pre-screen: an account read exactly as last time, under the same mapping, needs no message, unless
    its record still owes a write somewhere (reconcile then queues that delivery again: nothing stays stranded)."""
    if state is None or state.fingerprint != fingerprint:
        return True
    return state.shadows[system].digest != observation_digest(obs) or bool(owed_targets(state))


def _known(store: StateStore, plan: Plan, system: str, observations: list[Observation], *,
           complete: bool) -> dict[str, RecordState]:
    """What we hold of this system's accounts (account key -> record), read in batches: for a complete read
    every record linked in the system (to find those that are gone), else only the records of the accounts
    read."""
    if complete:  # the records linked there (a first read of a system loads nobody)
        ids = [rid for kind in plan.fields for rid in store.linked_ids(kind, system)]
    else:
        ids = [rid for rid in (store.by_link(o.kind, system, o.key) for o in observations) if rid]
    return {s.shadows[system].key: s for s in load_all(store, ids) if system in s.shadows}


def load_all(store: StateStore, ids: list[str]) -> list[RecordState]:
    """Records by id, in batches (DynamoDB: BatchGetItem of 100; SQLite: one query per 500)."""
    out: list[RecordState] = []
    for i in range(0, len(ids), 500):
        out += list(store.load_many(ids[i:i + 500]).values())
    return out
