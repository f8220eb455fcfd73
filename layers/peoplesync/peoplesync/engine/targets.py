"""Targets: make a system hold a field's golden value, when precedence (its apply mode) lets us.

The value wanted there is the golden value in the target's form (a reference translated to the target's own
name for the other account). A write is put in the outbox (`shadow.pending`) only when the target neither holds
it already nor has it in flight; a write in flight that is no longer wanted is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import FieldPlan, Plan
from ..model import RecordState, Rule, decision
from ..ports import RecordIndex
from .membership import Members, is_members
from .norms import Norm
from .outcome import MISSING, Outcome, orig
from .precedence import ALWAYS, IF_EMPTY, for_target, holds
from .references import References


class Targets:
    def __init__(self, plan: Plan, norms: dict[tuple[str, str], Norm], refs: References) -> None:
        self.plan = plan
        self._norms = norms
        self.refs = refs
        # asked of each system's plan on first use (its connector's class)
        self._writable = _OnFirstUse(lambda system: plan.systems[system].writable)
        self.members = Members(norms, refs)

    def writable(self, system: str) -> bool:
        """Whether `system` takes writes (asked of its plan once)."""
        return self._writable[system]

    def enforce(self, state: RecordState, f: FieldPlan, target: str, index: RecordIndex, out: Outcome,
                reason: Rule) -> None:
        """Make `target` hold the golden value of `f`, if the field's apply mode lets us."""
        shadow = state.shadows.get(target)
        name = f.name
        golden = state.golden.get(name, MISSING)
        if shadow is None or shadow.removed or golden is MISSING or not self._writable[target]:
            return
        if f.multi and f.reference is not None and is_members(f):  # a group's members: adds and removes
            return self.members.enforce(state, f, target, index, out, reason)
        attr = f.map[target]
        have = shadow.values.get(attr, MISSING)
        # decide()'s rules 10-12, asked first (only apply modes other than `always`, or a blank golden value
        # under `on_blank: keep`, ever hold a target; `blank` inlined: every target of every field asks this)
        held = None if f.apply is ALWAYS and not (f.keep_blank and (golden is None or golden == "" or golden == ())) \
            else holds(f, have, golden)
        if held is not None:
            if held is IF_EMPTY and shadow.pending.pop(attr, MISSING) is not MISSING:
                out.changed = True  # filled meanwhile: no longer ours to fill
            return
        if f.reference is None:  # (what `refs.from_golden` gives for a field that is no reference)
            want = want_norm = golden
            pending = shadow.pending.get(attr, MISSING)
            if want is MISSING or (pending is not MISSING and pending == want):
                return
        else:
            want = self.refs.from_golden(state, f, target, index, out)
            interim = want is MISSING
            if interim:  # the person named has no account there yet: a stale reference is not left standing
                want = self.refs.interim(state, f, target, have, index)
                if want is MISSING:
                    return
            norm = self._norms[(name, target)]
            want_norm = norm(want)
            pending = shadow.pending.get(attr, MISSING)
            if pending is not MISSING and norm(pending) == want_norm:
                return
        if have is not MISSING and have == want_norm:
            shadow.seen_gen[name] = state.gen.get(name, 0)
            if pending is not MISSING:
                del shadow.pending[attr]  # a write still in flight is no longer wanted
                out.changed = True
            return
        shadow.pending[attr] = want
        out.writes.add(target)
        out.changed = True
        if f.reference is not None and interim:
            out.decisions.append(_deferred(state, name, target, have, want))
            return
        value, decider, rule, conflict, why, _, recorded = for_target(
            f, state.golden[name], state.decided_by.get(name), target, have, reason)
        if recorded:
            out.decisions.append(decision(
                record_id=state.id, field=name, old=orig(have), new=value, rule=rule, system=decider,
                conflict=conflict, detail=why))


def _deferred(state: RecordState, name: str, target: str, have: Any, want: Any) -> Any:
    """The decision to clear (or replace by the placeholder) a stale reference while the person now named has
    no account in `target` yet."""
    instead = "replaced by the placeholder" if want else "cleared"
    return decision(record_id=state.id, field=name, old=orig(have), new=want, rule=Rule.DEFERRED,
                    system=state.decided_by.get(name), detail=f"{state.golden[name]} has no {target} account yet: "
                    f"the reference to someone else {instead} until it has")


class _OnFirstUse(dict[str, bool]):
    """A dict whose missing key is computed once (no method call on the hot path once it is known)."""

    def __init__(self, compute: Callable[[str], bool]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> bool:
        value = self[key] = self._compute(key)
        return value
