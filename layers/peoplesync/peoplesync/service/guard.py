"""The accidental-change guard (SPEC 16), written once for every run, in AWS and locally.

Its one meaning: **the number of people who would get a write** from a poll's changes (what a human
approves), against `policies.max_changes_per_run` (a count, or a share of the people known before the run: in
AWS a run is one scheduled poll; locally one `peoplesync sync`, whose polls all count from the people known at
its start, so a first sync, which starts from nobody, is never held). It is applied in `poll`, before anything
is queued (`hold`, called there only).

A hold is a review item (`hold:<system>:<id>`) that names exactly what it holds: the accounts of that system
whose changes it keeps back, and for each person what would be written where. Then, at every later poll of
that system:
- an account of an open hold that still shows a change stays held (nothing of it is queued);
- an account of an open hold that no longer shows one (the file was restored) leaves the hold; a hold left
  with no account is lifted by itself;
- every other change is judged on its own against the limit, so ordinary changes below it still flow;
- an approved hold (`peoplesync reviews approve ID`, `peoplesync sync --approve` for all, or in AWS the poll
  invoked with `{"system": ..., "approve": "ID"}` or `true`) lets its accounts' changes through at the next
  poll of the system, which then reads everything (a delta read would not list them again), and is removed.
The poll's cursor moves as usual: the hold remembers its accounts, the cursor need not.

Counting the people (not the accounts, not the records re-evaluated): each change is previewed through the
engine on a copy of its record (nothing saved), and a person counts when the copy owes a target something it
did not owe before. A value the target was never read with (a field just mapped there) is first read from
the target itself, so a configuration change counts only the people whose value really differs there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import zlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from ..engine import decode, observation_digest
from ..model import PERSON, Observation, RecordState
from ..ports import Connector, PeoplesyncError, StateStore
from .describe import person_label, write_text
from .reconcile import Reconciler, owed_digest, owed_targets

log = logging.getLogger("peoplesync")

KIND = "run"  # a review item of this kind is a hold
PEOPLE_SHOWN = 200  # people described in a hold (the count and the accounts are always complete)
Approval = bool | Collection[str]  # True: every hold of the system (and this poll's changes); or hold ids


def change_limit(policy: str | int | None, population: int) -> int | None:
    """The most people one poll may change; None when the guard is off.

    A share applies to the people known before the poll, with a floor of one person so a tiny directory can
    still change someone. A first sync (nobody known yet) is not limited: there is nothing to protect.
    """
    if policy is None:
        return None
    if isinstance(policy, int):
        return policy
    if population == 0:
        return None
    share = float(policy.strip().rstrip("%")) / 100
    return max(1, math.floor(population * share))


def people_known(store: StateStore) -> int:
    return store.count(PERSON)


# --- holds as review items ------------------------------------------------------------------------------
def open_holds(store: StateStore, system: str | None = None) -> list[dict[str, Any]]:
    return [r for r in store.reviews() if r.get("kind") == KIND and (system is None or r.get("system") == system)]


def held_accounts(item: dict[str, Any]) -> set[str]:
    packed = item.get("accounts_z")
    if not isinstance(packed, str):
        return set()
    return set(json.loads(zlib.decompress(base64.b64decode(packed))))


def _pack(keys: Collection[str]) -> str:
    # a hold of thousands of accounts must still fit one DynamoDB item (400 KB): keys compress well
    return base64.b64encode(zlib.compress(json.dumps(sorted(keys)).encode(), 9)).decode()


def approve(store: StateStore, hold_id: str) -> dict[str, Any]:
    """Mark one hold approved: the next poll of its system lets its changes through. KeyError: no such hold."""
    item = next((h for h in open_holds(store) if h["id"] == hold_id), None)
    if item is None:
        raise KeyError(hold_id)
    item = dict(item, approved=True)
    store.add_review(hold_id, {k: v for k, v in item.items() if k != "id"})
    return item


def needs_full_read(store: StateStore, system: str) -> bool:
    """An approved hold's accounts are listed only by a full read (a delta would not name them again)."""
    return any(h.get("approved") for h in open_holds(store, system))


# --- the judgement of one poll --------------------------------------------------------------------------
@dataclass
class Judgement:
    flow: list[Observation] = field(default_factory=list)  # the changes that go on to reconcile
    held: str | None = None  # what stays held in this system after the poll, in one line (None: nothing)
    holds: list[str] = field(default_factory=list)  # ids of the system's holds still open
    released: list[str] = field(default_factory=list)  # holds lifted (changes gone) or approved and applied


@dataclass
class _Person:
    key: str
    person: str
    changes: str


def hold(reconciler: Reconciler, system: str, changed: list[Observation], known: dict[str, RecordState], *,
         read: set[str] | None, approve: Approval = False, population: int | None = None,
         connectors: Callable[[str], Connector] | None = None, already: int = 0, release: bool = True) -> Judgement:
    """Which of a poll's changes go on and which are held (see the module's docstring). `read`: the keys a
    delta read listed (None: the read was complete, so an account it did not list as changed is unchanged).
    `connectors`: other systems' connectors, to read a value a target was never read with. `already`: the
    changed accounts earlier pages of the same paged read let through (the limit is the run's, not a page's).
    `release`: remove the approved holds now (a paged read keeps them, for its later pages, until `release`)."""
    store = reconciler.store
    holds = open_holds(store, system)
    out = Judgement()
    if isinstance(approve, str):  # one id, not its characters
        approve = [approve]
    approved_keys: set[str] = set()
    keeping: dict[str, dict[str, Any]] = {}  # account key -> its open hold
    for item in holds:
        if "accounts_z" not in item:  # a hold of an older version (it kept the cursor instead): read again
            store.remove_review(item["id"])
            continue
        if _approved(item, approve):
            approved_keys |= held_accounts(item)
            if release:
                store.remove_review(item["id"])
                out.released.append(item["id"])
        else:
            keeping.update(dict.fromkeys(held_accounts(item), item))
    still: dict[str, set[str]] = {}
    candidates: list[Observation] = []
    for obs in changed:
        held_in = keeping.get(obs.key)
        if obs.key in approved_keys:
            out.flow.append(obs)
        elif held_in is not None and account_changed(known.get(obs.key), obs, reconciler):
            still.setdefault(held_in["id"], set()).add(obs.key)
        else:
            (out.flow if held_in is not None else candidates).append(obs)
    _settle_open(store, {i["id"]: i for i in keeping.values()}, still, read, out)
    _judge_new(reconciler, system, candidates, known, approve is True, population, connectors, out, already)
    out.holds = sorted(out.holds)
    return out


def _approved(item: dict[str, Any], approve: Approval) -> bool:
    return approve is True or bool(item.get("approved")) or (not isinstance(approve, bool) and item["id"] in approve)


def release(store: StateStore, system: str, approve: Approval) -> list[str]:
    """Remove the system's approved holds (after the last page of a paged read); their ids."""
    if isinstance(approve, str):
        approve = [approve]
    gone = [item["id"] for item in open_holds(store, system) if _approved(item, approve)]
    for hold_id in gone:
        store.remove_review(hold_id)
    return gone


def account_changed(state: RecordState | None, obs: Observation, reconciler: Reconciler) -> bool:
    """The account itself reads differently from what we hold (not merely: its record owes a write)."""
    if state is None or state.fingerprint != reconciler.plan.fingerprint or obs.system not in state.shadows:
        return True
    return state.shadows[obs.system].digest != observation_digest(decode(reconciler.plan, obs))


def _settle_open(store: StateStore, items: dict[str, dict[str, Any]], still: dict[str, set[str]],
                 read: set[str] | None, out: Judgement) -> None:
    """Each open hold keeps the accounts that still show their change (and, after a delta read, those the
    read did not list); one left with none is lifted."""
    for hold_id, item in items.items():
        accounts = held_accounts(item)
        kept = still.get(hold_id, set()) | (accounts - read if read is not None else set())
        if not kept:
            store.remove_review(hold_id)
            out.released.append(hold_id)
            log.warning("hold %s lifted: the changes it held are gone", hold_id)
            continue
        if kept != accounts:
            people = [p for p in item.get("people", []) if p.get("key") in kept]
            item = dict(item, accounts_z=_pack(kept), accounts=len(kept), people=people,
                        count=min(int(item.get("count", len(kept))), len(kept)))
            store.add_review(hold_id, {k: v for k, v in item.items() if k != "id"})
        out.holds.append(hold_id)
        out.held = _join(out.held, f"{hold_id}: {item.get('count', len(kept))} people, {len(kept)} accounts "
                                   f"still held ({item.get('reason', '')})")


def _judge_new(reconciler: Reconciler, system: str, candidates: list[Observation], known: dict[str, RecordState],
               approved: bool, population: int | None, connectors: Callable[[str], Connector] | None,
               out: Judgement, already: int = 0) -> None:
    """The changes no hold covers: they flow, unless they would make writes for more people than allowed."""
    policy = reconciler.plan.config.policies.max_changes_per_run
    store = reconciler.store
    changes = [o for o in candidates if account_changed(known.get(o.key), o, reconciler)]
    limit = None
    if policy is not None and not approved and changes:  # nothing changed: no need to count everyone known
        limit = change_limit(policy, people_known(store) if population is None else population)
        limit = None if limit is None else max(0, limit - already)
    # a changed person account changes at most one person; a group may remove many members at once
    if limit is None or (len(changes) <= limit and all(o.kind == PERSON for o in changes)):
        out.flow += candidates
        return
    people = count_people(reconciler, changes, known, connectors)
    if len(people) <= limit:
        out.flow += candidates
        return
    keys = {p.key for p in people.values()}  # exactly these: a change that writes nobody anything flows
    out.flow += [o for o in candidates if o.key not in keys]
    hold_id = f"hold:{system}:{hashlib.blake2b(repr(sorted(keys)).encode(), digest_size=3).hexdigest()}"
    reason = (f"{len(people)} people would change ({len(changes)} changed accounts in {system}), above "
              f"max_changes_per_run={policy} ({limit})")
    shown = sorted(people.values(), key=lambda p: p.person)[:PEOPLE_SHOWN]
    store.add_review(hold_id, {"kind": KIND, "system": system, "reason": reason, "count": len(people),
                               "accounts": len(keys), "accounts_z": _pack(keys), "at": reconciler.clock(),
                               "people": [p.__dict__ for p in shown]})
    log.warning("poll of %s: %s held: %s", system, hold_id, reason)
    out.holds.append(hold_id)
    out.held = _join(out.held, f"{hold_id}: {reason}")


def _join(text: str | None, more: str) -> str:
    return f"{text}; {more}" if text else more


# --- counting the people who would get a write ----------------------------------------------------------
def count_people(reconciler: Reconciler, changes: list[Observation], known: dict[str, RecordState],
                 connectors: Callable[[str], Connector] | None) -> dict[str, _Person]:
    """Record id -> who and what, for each person a change would give a new write (previewed, nothing
    saved). Writes of a value the target was never read with are checked against a read of that target."""
    people: dict[str, _Person] = {}
    unsure: list[tuple[Observation, RecordState, RecordState]] = []
    for obs in changes:
        before = known.get(obs.key)
        after = RecordState.from_dict(before.to_dict()) if before is not None else None
        rid = reconciler.preview(obs, after, in_place=True)
        if rid is None:
            continue
        if obs.kind != PERSON:  # a group: each member it would remove somewhere counts (SPEC 16 for groups)
            _removed_members(reconciler, people, obs, before, after)
            continue
        if after is None or after.id != rid:  # a new person, or the account joins another one
            other = reconciler.store.load(rid)
            people[rid] = _Person(obs.key, person_label(reconciler.plan, other) if other else
                                  f"{obs.system} account {obs.key}",
                                  f"{obs.system} account {obs.key} linked to them" if other else "a new person")
            continue
        if _unread(before, after):
            unsure.append((obs, before, after))  # type: ignore[arg-type]
            continue
        _add(reconciler, people, obs, before, after)
    reads = _target_reads(unsure, connectors)
    for obs, before, after in unsure:
        for target, shadow in list(after.shadows.items()):
            seen = reads.get(target, {}).get(shadow.key)
            if seen is not None:
                reconciler.engine.observe(after, decode(reconciler.plan, seen), reconciler.store)
        _add(reconciler, people, obs, before, after)
    return people


def new_writes(before: RecordState | None, after: RecordState) -> set[str]:
    """The targets `after` owes something that `before` did not owe (a new value, a state change, a create)."""
    return {t for t in owed_targets(after)
            if before is None or t not in owed_targets(before) or owed_digest(after, t) != owed_digest(before, t)}


def _add(reconciler: Reconciler, people: dict[str, _Person], obs: Observation, before: RecordState | None,
         after: RecordState) -> None:
    targets = new_writes(before, after)
    if targets:
        writes = [w for t in sorted(targets) for w in reconciler.engine.writes_for(after, t, reconciler.store)]
        people[after.id] = _Person(obs.key, person_label(reconciler.plan, after),
                                   "; ".join(write_text(w) for w in writes)[:500])


def _removed_members(reconciler: Reconciler, people: dict[str, _Person], obs: Observation,
                     before: RecordState | None, after: RecordState | None) -> None:
    """One entry per member a group's new writes would remove from a target's group."""
    if after is None:
        return
    for target in sorted(new_writes(before, after)):
        for write in reconciler.engine.writes_for(after, target, reconciler.store):
            for removed in (ref for change in write.delta.values() for ref in change.get("remove", [])):
                people[f"{target}|{removed}"] = _Person(obs.key, f"{removed} in {target}",
                                                        f"removed from group {after.golden.get('name', after.id)}")


def _unread(before: RecordState | None, after: RecordState) -> set[str]:
    """Targets given a value for an attribute never read there (a field just mapped to them)."""
    return {t for t in new_writes(before, after) if t in after.shadows and before is not None
            and t in before.shadows and any(a not in before.shadows[t].values for a in after.shadows[t].pending)}


def _target_reads(unsure: list[tuple[Observation, RecordState, RecordState]],
                  connectors: Callable[[str], Connector] | None) -> dict[str, dict[str, Observation]]:
    """One full read of each target whose values are needed; a target that cannot be read is counted as
    differing (the conservative answer)."""
    targets = {t for _, before, after in unsure for t in _unread(before, after)}
    reads: dict[str, dict[str, Observation]] = {}
    for target in sorted(targets):
        if connectors is None:
            continue
        try:
            result = connectors(target).read(None, full=True)
        except (PeoplesyncError, OSError, KeyError) as exc:
            log.warning("guard: %s not read (%s); its values are counted as differing", target, exc)
            continue
        reads[target] = {o.key: o for o in result.observations}
    return reads
