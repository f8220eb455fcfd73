"""Poll: read one system and queue what changed there for reconcile. The first step of the one flow, run by
the poll Lambda on a schedule and by `peoplesync sync` for each system in turn.

- The cursor moves only after everything read is queued, so a crash re-reads rather than loses.
- A failed or empty read concludes nothing (SPEC 20): nobody is deactivated because of it.
- A complete read also says who is gone: an account we link that it no longer lists (the vanished rule).
- An account read exactly as last time costs no message (the digest pre-screen).
- Changes that would make writes for more people than `max_changes_per_run` allows are held, by account,
  until approved or undone; other changes still flow (SPEC 16; see `guard.py`).
- A read is taken in pages (`Connector.read_pages`; `page_size` None: the connector's whole read as one page,
  as `peoplesync sync` does). After each page is queued its position is checkpointed in store meta
  (`poll|<system>`: run id, position, accounts listed, changed accounts let through); a poll given a `budget`
  stops after the page that spends it and reports `more` (the handler hands the rest on), and the next poll of
  the system resumes at the checkpoint. The guard judges each page with the run's count so far (`already`)
  and the approval given to the run (kept in the checkpoint: a hand-over brings none); approved holds are
  removed once the run is over, so their accounts on every page flow.
  Who vanished: the keys each page listed are kept (`seen.py`), and once the read is known complete the
  system's links are swept in batches for those not listed. A read cut short or restarted concludes nobody gone.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from ..config import Plan
from ..engine import decode, observation_digest
from ..engine.norms import Norm, build_norms
from ..model import Observation, RecordState
from ..ports import Connector, LinkDigest, PeoplesyncError, ReadPage, StateStore, read_digest, settled_digest
from ..redact import scrub
from . import guard, messages, seen
from .batching import batches
from .messages import Queue
from .reconcile import Reconciler

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
    pages: int = 0  # pages this invocation took
    more: bool = False  # the budget was spent before the read ended: the rest is handed on (`continue`)
    run: str | None = None  # the paged read this invocation belongs to (a hand-over names it)

    def to_dict(self) -> dict[str, Any]:
        out = self.__dict__.copy()
        out["continue"] = out.pop("more")
        return out


@dataclass
class Options:
    """How one invocation pages: `page_size` (None: one page), `budget` seconds (None: unlimited), `resume`
    (the run a hand-over names: a hand-over of a run that is over does nothing)."""

    page_size: int | None = None
    budget: float | None = None
    resume: str | None = None
    clock: Callable[[], float] = time.monotonic


def poll(system: str, reconciler: Reconciler, connector: Connector, reconcile: Queue, *, full: bool = False,
         approve: guard.Approval = False, population: int | None = None,
         connectors: Callable[[str], Connector] | None = None, page_size: int | None = None,
         budget: float | None = None, resume: str | None = None) -> PollReport:
    """Read `system` (a delta since its cursor, or everything) and queue what changed for reconcile.
    `population`: the people known before the run this poll belongs to (the guard's base; default: now).
    `approve`: True, or the ids of holds to let through. `connectors`: the other systems' (for the guard).
    `page_size`, `budget`, `resume`: see `Options` and the module's docstring."""
    report = PollReport(system)
    try:
        judge = _Judge(approve, population, connectors)
        return _poll(reconciler, system, connector, reconcile, report, full, judge,
                     Options(page_size, budget, resume))
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


@dataclass
class _Run:
    """One read of a system, over as many pages and invocations as it takes: the checkpoint."""

    run: str
    start: str | None  # the cursor the read goes on from (None: a full read)
    mapping: str  # the plan's fingerprint: a run begun under another mapping starts again
    asked_full: bool = False
    population: int | None = None
    position: str | None = None  # where the next page begins (None: at the top)
    pages: int = 0
    seen: int = 0  # accounts listed so far
    changed: int = 0  # changed accounts let through so far (the guard's count for the run)
    chunks: int = 0  # chunks of listed keys stored (`seen.py`)
    approve: bool | list[str] = False  # the approval given to the run: every hand-over judges with it


def _checkpoint_key(system: str) -> str:
    return f"poll|{system}"


def _resumed(store: StateStore, system: str, mapping: str) -> _Run | None:
    item = store.get_meta(_checkpoint_key(system)) or {}
    if not item.get("active"):
        return None
    run = _Run(**{k: v for k, v in item.items() if k != "active"})
    return run if run.mapping == mapping else None


def _save(store: StateStore, system: str, run: _Run | None) -> None:
    store.put_meta(_checkpoint_key(system), {"active": True, **asdict(run)} if run else {"active": False})


def _begin(reconciler: Reconciler, system: str, full: bool, judge: _Judge, paged: bool) -> _Run:
    plan, store = reconciler.plan, reconciler.store
    remapped = (store.get_meta(_fingerprint_key(system)) or {}).get("value") != plan.fingerprint
    full = full or remapped or (judge.approve is not False and bool(guard.open_holds(store, system))) \
        or guard.needs_full_read(store, system)  # an approved hold's accounts: only a full read lists them
    population = judge.population
    if paged and population is None and plan.config.policies.max_changes_per_run is not None:
        population = guard.people_known(store)  # counted once for the run: every page is judged against it
    return _Run(uuid.uuid4().hex, None if full else store.get_cursor(system), plan.fingerprint,
                asked_full=judge.asked_full, population=population)


def _approval(run: _Run, given: guard.Approval) -> guard.Approval:
    """The run's approval with this invocation's added (kept in the checkpoint: a hand-over carries none)."""
    if run.approve is True or given is True:
        run.approve = True
    else:
        ids = [given] if isinstance(given, str) else list(given or ())
        run.approve = sorted(set(run.approve or ()) | set(ids)) or False
    return run.approve


def _poll(reconciler: Reconciler, system: str, connector: Connector, reconcile: Queue, report: PollReport,
          full: bool, judge: _Judge, opts: Options) -> PollReport:
    store = reconciler.store
    stop_at = None if opts.budget is None else opts.clock() + opts.budget
    run = _resumed(store, system, reconciler.plan.fingerprint)
    if opts.resume is not None and (run is None or run.run != opts.resume):
        log.info("poll of %s: hand-over of run %s, which is over: nothing to do", system, opts.resume)
        return report  # a duplicate hand-over
    judge.asked_full = full
    run = run or _begin(reconciler, system, full, judge, opts.page_size is not None)
    judge.asked_full, judge.approve = run.asked_full, _approval(run, judge.approve)
    report.full, report.run = run.start is None, run.run
    pages = _pages(connector, run, opts.page_size)
    while True:
        try:  # only the read's own failures conclude nothing here; the store's and the queue's cut the poll short
            page = next(pages, None)
        except (PeoplesyncError, OSError) as exc:
            report.failed = scrub(f"{type(exc).__name__}: {exc}")
            log.warning("poll of %s failed; nothing concluded: %s", system, report.failed)
            return report
        if page is None:
            return report
        if page.restarted:  # the source changed under the position: what was read before counts for nothing
            run = _Run(uuid.uuid4().hex, run.start, run.mapping, run.asked_full, run.population,
                       approve=run.approve)
            report.run = run.run
        report.pages += 1
        if _take(reconciler, system, page, run, reconcile, report, judge):
            return report
        _save(store, system, run)
        if stop_at is not None and opts.clock() >= stop_at:
            report.more = True
            return report


def _pages(connector: Connector, run: _Run, page_size: int | None) -> Iterator[ReadPage]:
    return pages_of(connector, run.start, full=run.start is None, page_size=page_size, start=run.position)


def pages_of(connector: Connector, cursor: str | None, *, full: bool, page_size: int | None,
             start: str | None) -> Iterator[ReadPage]:
    """`connector.read_pages(...)`; a connector not on the base has none: its whole read as one page."""
    paged = getattr(connector, "read_pages", None)
    if paged is None:
        result = connector.read(cursor, full=full)
        yield ReadPage.whole(result)
        return
    yield from paged(cursor, full=full, page_size=page_size, start=start)


def _take(reconciler: Reconciler, system: str, page: ReadPage, run: _Run, reconcile: Queue, report: PollReport,
          judge: _Judge) -> bool:
    """Queue one page's changes and move the run on; True when the run is over (ended, or nothing concluded)."""
    plan, store = reconciler.plan, reconciler.store
    observations = list(page.observations)
    report.read += len(observations)
    whole = run.pages == 0 and page.last  # the read was one page: judged and swept as one
    if page.last and page.complete and run.seen + len(observations) == 0:
        report.failed = "the read returned no accounts; nobody is deactivated because of it"
        if not whole or page.restarted:  # a checkpoint was written: the run is over
            _save(store, system, None)
        return True
    complete = whole and (page.complete or page.confirm)  # confirm: who it did not list is re-read first
    links = _links(store, plan, system, observations, complete=complete)
    changed = _screen(reconciler, system, observations, links)
    news = {o.key for o in changed}  # the rest: a full run (`sync --full`) decides them again
    unchanged = {link.record for (_, key), link in links.items() if key not in news}
    if complete:
        gone = vanished_links(links, system, {o.key for o in observations})
        if gone and not page.complete:
            gone = seen.recheck_in(judge.connectors, system).confirm(gone)
        report.vanished = sum(1 for o in gone if o.removed)
        observations += gone
        changed += gone
    known = _records(store, system, changed, links)
    _judge_and_send(reconciler, system, changed, known, reconcile, report, judge, run,
                    read=None if complete else {o.key for o in observations}, unchanged=unchanged, release=whole)
    run.pages, run.seen, run.position = run.pages + 1, run.seen + len(page.observations), page.position
    if not whole:
        run.chunks = seen.remember(store, system, run.run, run.chunks, (o.key for o in page.observations))
    if not page.last:
        return False
    if (page.complete or page.confirm) and not whole:  # confirm: each account not listed re-read first
        _sweep(reconciler, system, run, reconcile, report, judge, confirm=page.confirm)
    if not whole:  # approved holds are let go once the run is over: their accounts flowed on every page
        report.released += guard.release(store, system, judge.approve)
    store.put_cursor(system, page.cursor)
    if report.full:  # everything was read under this mapping: later polls may be deltas again
        store.put_meta(_fingerprint_key(system), {"value": plan.fingerprint})
    if not whole or page.restarted:  # a one-page read wrote no checkpoint (no store call spent on it)
        _save(store, system, None)
    return True


def _judge_and_send(reconciler: Reconciler, system: str, changed: list[Observation],
                    known: dict[str, RecordState], reconcile: Queue, report: PollReport, judge: _Judge, run: _Run,
                    *, read: set[str] | None, unchanged: set[str] | None = None, release: bool = False) -> None:
    """Queue the accounts the pre-screen found changed (`known`: their records), as the guard lets them;
    `unchanged`: the records of the accounts read but screened out (a full run decides them again);
    `release`: the guard may let go of approved holds (a whole read)."""
    verdict = guard.hold(reconciler, system, changed, known, read=read, approve=judge.approve,
                         population=run.population if run.population is not None else judge.population,
                         connectors=judge.connectors, already=run.changed, release=release)
    report.held, report.holds, report.released = verdict.held, verdict.holds, report.released + verdict.released
    reconcile.send(messages.observed(verdict.flow))
    report.queued += len(verdict.flow)
    run.changed += sum(1 for o in verdict.flow if guard.account_changed(known.get(o.key), o, reconciler))
    if judge.asked_full and unchanged is not None:  # a full run (`sync --full`) decides again for the
        reconcile.send(messages.reevaluate(unchanged))  # accounts read: what they owed may have become writable


def _sweep(reconciler: Reconciler, system: str, run: _Run, reconcile: Queue, report: PollReport,
           judge: _Judge, *, confirm: bool) -> None:
    """After a complete paged read: the system's links, in batches, for accounts the run did not list."""
    try:
        listed = seen.Seen.load(reconciler.store, system, run.run, run.chunks)
    except seen.Incomplete as exc:
        log.warning("poll of %s: who was listed is not known (%s); nobody is concluded gone", system, exc)
        return
    sweep_gone(reconciler, system, listed, reconcile, report, judge, run,
               recheck=seen.recheck_in(judge.connectors, system) if confirm else None)


def sweep_gone(reconciler: Reconciler, system: str, listed: Container[str], reconcile: Queue, report: PollReport,
               judge: _Judge, run: _Run, accounts: Iterable[tuple[str, str | None]] | None = None,
               recheck: seen.Recheck | None = None) -> None:
    """The system's links (`accounts`, default all: `StateStore.linked_accounts`), in batches: those a complete
    read did not list (`recheck`: a read that may have shifted; only those a re-read finds gone, the others as
    read now). Only their records are loaded (and those whose key the store could not tell)."""
    store = reconciler.store
    if accounts is None:
        accounts = (a for kind in sorted(reconciler.plan.fields) for a in store.linked_accounts(kind, system))
    for batch in batches(accounts, 500):
        ids = [rid for rid, key in batch if key is None or key not in listed]
        if not ids:
            continue
        known = {s.shadows[system].key: s for s in store.load_many(ids).values() if system in s.shadows}
        if (gone := vanished(known, system, listed)) and recheck is not None:
            gone = recheck.confirm(gone)
        if gone:
            report.vanished += sum(1 for o in gone if o.removed)
            _judge_and_send(reconciler, system, gone, known, reconcile, report, judge, run,
                            read={o.key for o in gone})


def vanished(known: dict[str, RecordState], system: str, seen: Container[str]) -> list[Observation]:
    """The vanished-account rule, written once: an account linked in `system` that a complete read no
    longer lists is gone. Only a complete read may conclude this (never a delta, never a failed read)."""
    return [Observation(system, key, {}, active=False, removed=True, kind=state.kind)
            for key, state in known.items() if key not in seen and not state.shadows[system].removed]


def _fingerprint_key(system: str) -> str:
    return f"fingerprint|{system}"


def _links(store: StateStore, plan: Plan, system: str, observations: list[Observation], *,
           complete: bool) -> dict[tuple[str, str], LinkDigest]:
    """What the index holds of this system's accounts ((kind, key) -> digests), no record loaded: for a
    complete read every account linked there (to find those that are gone), else those of the accounts read."""
    out: dict[tuple[str, str], LinkDigest] = {}
    if complete:  # the accounts linked there (a first read of a system finds nobody)
        for kind in plan.fields:
            out.update(((kind, key), d) for key, d in store.link_digests(kind, system).items())
        return out
    by_kind: dict[str, list[str]] = {}
    for o in observations:
        by_kind.setdefault(o.kind, []).append(o.key)
    for kind, keys in by_kind.items():
        out.update(((kind, key), d) for key, d in store.link_digests(kind, system, keys).items())
    return out


def _screen(reconciler: Reconciler, system: str, observations: list[Observation],
            links: dict[tuple[str, str], LinkDigest]) -> list[Observation]:
    """The pre-screen, from the digest index alone (no record loaded): the accounts that are news. No news:
    an account read exactly as last time under the same mapping, or (not a push source, no change marker)
    one whose normalised mapped values are exactly those its record holds and would keep (`LinkDigest.settled`:
    our own write read back). Either way only when the record owes nothing (reconcile then queues that
    delivery again: nothing stays stranded)."""
    plan = reconciler.plan
    fingerprint, push = plan.fingerprint, plan.systems[system].push
    reads = _reads(reconciler, system)
    changed: list[Observation] = []
    for o in observations:
        link = links.get((o.kind, o.key))
        if link is not None and (link.read is not None or link.settled is not None):
            decoded = decode(plan, o)
            if link.read is not None and link.read == read_digest(fingerprint, observation_digest(decoded)):
                continue
            if link.settled is not None and not push and o.marker is None and o.active and not o.removed and (
                    link.settled in _settled(fingerprint, decoded, reads.get(o.kind))):
                continue
        changed.append(o)
    return changed


def _settled(fingerprint: str, obs: Observation, reads: dict[str, Norm] | None) -> Iterator[str]:
    """`settled_digest` of a read: of its mapped attributes as read, then normalised as the engine absorbs
    them. The first (no normaliser run) decides our own write read back as written: a value equal to the one
    the record holds normalises to itself (normalisations are idempotent: were one not, every write of it
    would read back as an edit); the second, anything read in another form (a phone number reformatted)."""
    if reads is None:
        return
    raw = {attr: value for attr, value in obs.attrs.items() if attr in reads}
    yield settled_digest(fingerprint, obs.ref, raw)
    yield settled_digest(fingerprint, obs.ref, {attr: reads[attr](value) for attr, value in raw.items()})


_NORMS: WeakKeyDictionary[Reconciler, dict[tuple[str, str], Norm]] = WeakKeyDictionary()


def _reads(reconciler: Reconciler, system: str) -> dict[str, dict[str, Norm]]:
    """kind -> attribute of `system` -> how the engine normalises a value read there (`engine.norms`)."""
    norms = _NORMS.get(reconciler)
    if norms is None:
        norms = _NORMS[reconciler] = build_norms(reconciler.plan)
    return {kind: {attr: norms[(f.name, system)] for attr, f in attrs.items()}
            for kind, attrs in reconciler.plan.systems[system].attr_to_field.items()}


def _records(store: StateStore, system: str, changed: list[Observation],
             links: dict[tuple[str, str], LinkDigest]) -> dict[str, RecordState]:
    """The records of the accounts that are news (account key -> record), loaded in batches (DynamoDB:
    BatchGetItem of 100; SQLite: one query per 500): the guard judges them."""
    ids = [link.record for o in changed if (link := links.get((o.kind, o.key))) is not None]
    return {s.shadows[system].key: s for i in range(0, len(ids), 500)
            for s in store.load_many(ids[i:i + 500]).values() if system in s.shadows}


def vanished_links(links: dict[tuple[str, str], LinkDigest], system: str, seen: Container[str]) -> list[Observation]:
    """`vanished` read off the index: an account linked in `system` that a complete read no longer lists and
    that its record does not already hold as gone."""
    return [Observation(system, key, {}, active=False, removed=True, kind=kind)
            for (kind, key), link in links.items() if key not in seen and not link.removed]

