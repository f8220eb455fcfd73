"""Group membership: a set of people (and nested groups) written to each target as adds and removes.

A group's member field (`multi: true`, `reference: person`) holds record ids in the golden record; in each
system it is that system's own references (DNs, user ids). A target is never given the whole set: what it owes
is the difference between the golden set (translated to its references) and what it was last read holding:
members to add, members to remove (`Write.delta`). So a member another process added to the target stays
unless the bridge decides otherwise, and with `apply: add_only` it stays always: only a member the bridge
added itself (`Shadow.added`) is ever removed.

Safe by construction:
- a member with no account in the target yet is owed, not dropped: the record waits for it (references.py)
  and the add is written once the account is linked;
- a target whose members were never read gets adds only, never removes;
- a member read that failed or was cut short never reaches the engine (the connector fails the read), so it
  removes nobody.
"""

from __future__ import annotations

from typing import Any

from ..config import FieldPlan
from ..model import GROUP, ApplyMode, RecordState, Rule, Shadow, decision
from ..ports import RecordIndex
from .norms import Norm
from .outcome import MISSING, Outcome, orig

ADD_ONLY = ApplyMode.ADD_ONLY


def is_members(f: FieldPlan) -> bool:
    """A group's set of references: written as adds and removes, never replaced."""
    return f.multi and f.reference is not None and f.kind == GROUP


def difference(want: tuple[Any, ...], have: Any, added: Any, add_only: bool) -> tuple[list[Any], list[Any]]:
    """(members to add, members to remove), all normalised. `have` MISSING: never read, so nothing removed."""
    have_set = set() if have is MISSING or have is None else set(have)
    adds = [w for w in want if w not in have_set]
    if have is MISSING:
        return adds, []
    extra = have_set.difference(want)
    if add_only:
        extra &= set(added or ())
    return adds, sorted(extra)


def as_delta(want: Any, norm: Norm, shadow: Shadow, attr: str, f: FieldPlan) -> dict[str, list[Any]]:
    """What a target owes for a wanted set (in its own form): {"add": [...], "remove": [...]}; adds keep the
    form the index gives (a DN as the directory spells it), removes the form last read."""
    adds_n, removes = difference(norm(want), shadow.values.get(attr, MISSING), shadow.added.get(attr),
                                 f.apply is ADD_ONLY)
    wanted = set(adds_n)
    adds = [raw for raw in (want or ()) if next(iter(norm((raw,))), None) in wanted]
    return {"add": adds, "remove": removes}


class Members:
    """Targets' part for member fields: what a target owes, what a read or a confirmed write tells us."""

    def __init__(self, norms: dict[tuple[str, str], Norm], refs: Any) -> None:
        self._norms = norms
        self.refs = refs

    def enforce(self, state: RecordState, f: FieldPlan, target: str, index: RecordIndex, out: Outcome,
                reason: Rule) -> None:
        """Make `target` hold the golden members (less those it cannot name yet, which are owed)."""
        shadow = state.shadows[target]
        name, attr = f.name, f.map[target]
        want = self.refs.from_golden(state, f, target, index, out)
        norm = self._norms[(name, target)]
        want_n = norm(want)
        adds, removes = difference(want_n, shadow.values.get(attr, MISSING), shadow.added.get(attr),
                                   f.apply is ADD_ONLY)
        pending = shadow.pending.get(attr, MISSING)
        if not adds and not removes:
            shadow.seen_gen[name] = state.gen.get(name, 0)
            if pending is not MISSING:
                del shadow.pending[attr]  # a write still in flight is no longer wanted
                out.changed = True
            return
        if pending is not MISSING and norm(pending) == want_n:
            return  # already owed
        shadow.pending[attr] = want
        out.writes.add(target)
        out.changed = True
        raw = {next(iter(norm((r,))), r): r for r in want}
        out.decisions.append(decision(
            record_id=state.id, field=name, old=tuple(removes), new=tuple(raw.get(a, a) for a in adds),
            rule=Rule.MEMBERS, system=state.decided_by.get(name),
            detail=self._why(state, f, target, reason)))

    def _why(self, state: RecordState, f: FieldPlan, target: str, reason: Rule) -> str:
        decider = state.decided_by.get(f.name)
        why = {Rule.OVERWRITTEN: f"{decider} is the source; {target}'s own change put back",
               Rule.CONFLICT: f"{decider} prevails"}.get(reason, f"{decider} is the source")
        owed = sum(1 for e in state.waiting.get(f.name, ()) if e.startswith(f"{target}|"))
        if owed:
            why += f"; {owed} owed, written once they have a {target} account"
        if f.apply is ADD_ONLY:
            why += "; add_only: members the bridge did not add stay"
        return f"in {target}: {why}"

    def absorb(self, state: RecordState, shadow: Shadow, f: FieldPlan, attr: str, value: Any, norm: Norm) -> bool:
        """A member set read from a system; True if the system itself changed it (not our write landing)."""
        added = shadow.added.get(attr)
        if added:
            now = set(value or ())
            still = tuple(a for a in added if a in now)  # removed there: no longer ours
            if still != tuple(added):
                if still:
                    shadow.added[attr] = still
                else:
                    del shadow.added[attr]
        pending = shadow.pending.get(attr, MISSING)
        if pending is not MISSING:
            adds, removes = difference(norm(pending), value, shadow.added.get(attr), f.apply is ADD_ONLY)
            if not adds and not removes:  # our write landed
                shadow.values[attr] = value
                del shadow.pending[attr]
                shadow.seen_gen[f.name] = state.gen.get(f.name, 0)
                return False
            if shadow.values.get(attr, MISSING) == value:
                return False  # not landed yet; the old set is no news
        old = shadow.values.get(attr, MISSING)
        if old is not MISSING and old == value:
            return False
        shadow.values[attr] = value
        return True

    def confirm(self, state: RecordState, system: str, f: FieldPlan, delta: dict[str, list[Any]]) -> None:
        """A delta the target applied: the shadow holds the set as it now is, and remembers what we added."""
        shadow, attr = state.shadows[system], f.map[system]
        norm = self._norms[(f.name, system)]
        adds, removes = set(norm(tuple(delta.get("add", ())))), set(norm(tuple(delta.get("remove", ()))))
        have = orig(shadow.values.get(attr, MISSING)) or ()
        shadow.values[attr] = tuple(sorted((set(have) | adds) - removes))
        added = (set(shadow.added.get(attr) or ()) | adds) - removes
        if added:
            shadow.added[attr] = tuple(sorted(added))
        else:
            shadow.added.pop(attr, None)
        pending = shadow.pending.get(attr, MISSING)
        if pending is not MISSING:
            left = difference(norm(pending), shadow.values[attr], shadow.added.get(attr), f.apply is ADD_ONLY)
            if not left[0] and not left[1]:
                del shadow.pending[attr]
                shadow.seen_gen[f.name] = state.gen.get(f.name, 0)

    @staticmethod
    def created(shadow: Shadow, attr: str, value: Any) -> None:
        """A group the bridge created: every member it holds was added by the bridge."""
        if value:
            shadow.added[attr] = tuple(value)
