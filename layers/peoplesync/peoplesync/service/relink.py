"""Repairing a wrong match (`peoplesync link` / `unlink`): an administrator detaches an account from the person
it was linked to, and may attach it to another. Each is a decision recorded in the record's trail (shown by
`explain`), and what it makes owed goes through the one flow like any change: deliveries are queued, `plan`
shows them, `sync` makes them.

- `unlink(S, K)`: the account S:K leaves its person. It is not matched again by itself (the match keys that
  linked it wrongly would link it again): until it is linked by hand, reading it holds it for review.
- `link(S, K, P)`: the account S:K, read afresh from S, becomes person P's account in S (detached first from
  whoever held it), as if P had just been linked there: P's values are then owed to it, and it to P for the
  fields S is the source of. P must have no other account in S (one person, one account per system).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..engine import decode
from ..model import Observation, RecordState, Rule, decision
from ..ports import PeoplesyncError, VersionConflict
from .flow import Ports, follow_up
from .reconcile import IGNORED, UPDATED, Reconciler, Result, detached_key

if TYPE_CHECKING:
    from .local import LocalBridge


class RelinkError(PeoplesyncError):
    """A link or unlink that cannot be made as asked (no such account, the person has one there already)."""


@dataclass
class Relinked:
    account: str  # system:key
    detached_from: str | None = None  # the record the account left
    attached_to: str | None = None  # the record it joined
    owed: set[str] = field(default_factory=set)  # systems owed a write now, for either record


def command(bridge: LocalBridge, account: str, person: str | None) -> str:
    """`peoplesync link CONFIG SYSTEM:KEY PERSON` (person given) / `unlink CONFIG SYSTEM:KEY` on the local run:
    the move made and recorded, what it makes owed queued for the next `sync`; the line to print. A request
    that cannot be made raises `RelinkError` saying why."""
    system, _, key = account.partition(":")
    if not key or system not in bridge.plan.systems:
        raise RelinkError(f"{account!r}: give the account as SYSTEM:KEY with one of {', '.join(bridge.plan.systems)}")
    rid = None if person is None else bridge.find_record(person)
    if person is not None and rid is None:
        raise RelinkError(f"no person found for {person!r} (give system:key, an employee id, an e-mail)")
    bridge.queues.restore()
    try:
        ports = bridge.runtime.ports
        done = unlink(bridge.reconciler, ports, system, key) if rid is None else \
            link(bridge.reconciler, ports, system, key, rid)
    finally:
        bridge.queues.persist()
        bridge.runtime.close()
    moved = [f"detached from {bridge.label(done.detached_from)}" if done.detached_from else "",
             f"linked to {bridge.label(done.attached_to)}" if done.attached_to else ""]
    return (f"{done.account}: {'; '.join(m for m in moved if m)}; writes owed to "
            f"{', '.join(sorted(done.owed)) or 'none'} (see peoplesync plan; peoplesync sync makes them)")


def unlink(reconciler: Reconciler, ports: Ports, system: str, key: str, *, kind: str = "person") -> Relinked:
    """Detach S:K from its person; it waits for review until linked by hand."""
    store = reconciler.store
    rid = store.by_link(kind, system, key)
    if rid is None:
        raise RelinkError(f"{system}:{key} is linked to nobody")
    done = Relinked(f"{system}:{key}", detached_from=rid)
    done.owed |= _detach(reconciler, ports, rid, system, key, "detached by an administrator (unlink)")
    store.put_meta(detached_key(kind, system, key), {"from": rid, "at": reconciler.clock()})
    store.add_review(_review_id(kind, system, key), {
        "kind": kind, "system": system, "key": key, "candidates": [rid], "rule": None, "at": reconciler.clock(),
        "reason": f"{system}:{key} was detached from {rid} by an administrator; link it with peoplesync link"})
    return done


def link(reconciler: Reconciler, ports: Ports, system: str, key: str, record_id: str, *,
         kind: str = "person") -> Relinked:
    """Attach S:K to record `record_id` (detaching it from whoever held it)."""
    store = reconciler.store
    target = store.load(record_id)
    if target is None or target.kind != kind:
        raise RelinkError(f"no {kind} {record_id!r}")
    held = target.shadows.get(system)
    if held is not None and held.key != key:
        raise RelinkError(f"{record_id} already has {system} account {held.key}: unlink it first")
    current = store.by_link(kind, system, key)
    if current == record_id:
        return Relinked(f"{system}:{key}", attached_to=record_id)
    fresh = ports.connector(system).read_keys([key])
    found = [o for o in (fresh.observations if fresh else []) if o.key == key and not o.removed]
    if not found:
        raise RelinkError(f"{system} has no account {key!r} (read just now)")
    done = Relinked(f"{system}:{key}", detached_from=current, attached_to=record_id)
    if current is not None:
        done.owed |= _detach(reconciler, ports, current, system, key, f"detached by an administrator, to be "
                             f"linked to {record_id} (link)")
    done.owed |= _attach(reconciler, ports, record_id, found[0])
    store.put_meta(detached_key(kind, system, key), {})  # no longer held back from reconcile
    remove = getattr(store, "remove_review", None)
    if remove is not None:
        remove(_review_id(kind, system, key))
    return done


def _detach(reconciler: Reconciler, ports: Ports, rid: str, system: str, key: str, why: str) -> set[str]:
    def change(state: RecordState) -> bool:
        if system not in state.shadows:
            return False
        del state.shadows[system]
        if system in state.create_pending:
            state.create_pending.remove(system)
        return True

    return _decide(reconciler, ports, rid, change, system, key, None, why)


def _attach(reconciler: Reconciler, ports: Ports, rid: str, obs: Observation) -> set[str]:
    return _decide(reconciler, ports, rid, None, obs.system, obs.key, obs,
                   f"{obs.system} account {obs.key} attached by an administrator (link)")


def _decide(reconciler: Reconciler, ports: Ports, rid: str, change: Callable[[RecordState], bool] | None,
            system: str, key: str, obs: Observation | None, why: str) -> set[str]:
    """Change one record, decide it again through the engine, save it with the decision recorded, and queue
    what it now owes (a detached record may be owed a new account where it has none; an attached account
    its person's values)."""
    store, engine = reconciler.store, reconciler.engine
    for _ in range(8):
        state = store.load(rid)
        if state is None:
            raise RelinkError(f"no record {rid!r}")
        if obs is not None:
            if system in state.create_pending:  # the account to be created is this one
                state.create_pending.remove(system)
            out = engine.observe(state, decode(reconciler.plan, obs), store)
        else:
            if change is None or not change(state):
                return set()
            out = engine.reevaluate(state, store)
        out.changed = True
        out.decisions.insert(0, decision(record_id=rid, field="(account)", old=None if obs else key,
                                         new=key if obs else None, rule=Rule.RELINKED, system=system, detail=why))
        try:
            store.save(out.state)
        except VersionConflict:  # a lost race: load and decide again
            continue
        store.record_decisions(rid, [d.to_dict() for d in out.decisions], reconciler.clock())
        result = Result(UPDATED if out.writes else IGNORED, rid, out.writes, out.decisions, out.wake,
                        owed=reconciler.owed_after(out.state, out.writes))
        follow_up(result, ports)
        return result.writes | result.owed
    raise RelinkError(f"record {rid} kept changing under us")


def _review_id(kind: str, system: str, key: str) -> str:
    return f"{kind}|{system}|{key}"
