"""The golden record: a source's change, or a re-evaluation from the shadows, applied as precedence decides.

Each field's golden value carries a generation (`state.gen`); a shadow remembers the generation it last
agreed to (`seen_gen`). A source that reports a change while the golden value has moved on since it last
agreed changed it concurrently with the field's decider: `precedence.decide` settles it.
"""

from __future__ import annotations

from typing import Any

from ..config import FieldPlan, Plan
from ..model import RecordState, decision
from ..ports import RecordIndex
from .outcome import MISSING, Outcome, orig
from .precedence import (
    AGREED,
    CONFLICT,
    FILLED,
    PROPAGATED,
    REALIGNED,
    from_change,
    from_shadows,
    repick,
    stands,
)
from .references import References
from .targets import Targets


class Golden:
    def __init__(self, plan: Plan, refs: References, targets: Targets) -> None:
        self.plan = plan
        self.refs = refs
        self.targets = targets

    def from_source(self, state: RecordState, f: FieldPlan, system: str, value: Any, first: bool,
                    index: RecordIndex, out: Outcome) -> None:
        """`system`, a source of `f`, now shows `value` (normalised as read there)."""
        name = f.name
        if f.reference is not None:
            golden_value = self.refs.to_golden(state, f, system, value, index, out)
            if golden_value is MISSING:
                return  # waiting for a reference to become resolvable
        else:
            golden_value = value
        golden = state.golden
        current = golden.get(name, MISSING)
        shadow = state.shadows[system]
        gens = state.gen
        gen = gens.get(name, 0)
        if current is not MISSING and current == golden_value:  # rule 1 (`agrees`) asked first: nothing moves
            shadow.seen_gen[name] = gen
            return
        _, decider, rule, conflict, reason, moves, recorded = from_change(
            f, current, state.decided_by.get(name), system, golden_value, gen > shadow.seen_gen.get(name, 0), first,
            value)
        if not moves:
            if rule is AGREED:
                shadow.seen_gen[name] = gen
            elif rule is FILLED:  # a newly linked blank source is filled, not obeyed
                self.targets.enforce(state, f, system, index, out, FILLED)
            elif rule is CONFLICT:  # the decider prevails: this source is overwritten
                out.decisions.append(decision(
                    record_id=state.id, field=name, old=current, new=current, rule=rule, system=decider,
                    conflict=True, detail=reason))
                self.targets.enforce(state, f, system, index, out, CONFLICT)
            return
        # set_golden, inlined (every field of every first sight comes here)
        golden[name] = golden_value
        gens[name] = gen = gen + 1
        state.decided_by[name] = system
        shadow.seen_gen[name] = gen
        if not f.multi:  # a set keeps waiting for its members not linked yet (each system's, see references)
            state.waiting.pop(name, None)
        shadow.pending.pop(f.map[system], None)  # a write of an older decision to this source is void now
        if recorded:
            out.decisions.append(decision(
                record_id=state.id, field=name, old=None if current is MISSING else current, new=golden_value,
                rule=rule, system=system, conflict=conflict, detail=reason))
        out.changed = True
        shadows = state.shadows
        enforce = self.targets.enforce
        for target in f.map:
            if target != system and target in shadows:  # (a target not linked yet is not given anything)
                enforce(state, f, target, index, out, PROPAGATED)

    def set_golden(self, state: RecordState, f: FieldPlan, value: Any, system: str) -> None:
        state.golden[f.name] = value
        state.gen[f.name] = gen = state.gen.get(f.name, 0) + 1
        state.decided_by[f.name] = system
        state.shadows[system].seen_gen[f.name] = gen
        if not f.multi:  # a set keeps waiting for its members not linked yet (each system's, see references)
            state.waiting.pop(f.name, None)

    def full_pass(self, state: RecordState, index: RecordIndex, out: Outcome) -> None:
        """Re-decide every field of the record from the shadows, and bring every target in line."""
        golden, decided_by, waiting, shadows = state.golden, state.decided_by, state.waiting, state.shadows
        enforce = self.targets.enforce
        for f in self.plan.fields.get(state.kind, {}).values():
            name = f.name
            if not stands(f, golden.get(name, MISSING), decided_by.get(name), name in waiting):  # rule 8 first
                self._reevaluate(state, f, index, out)
            decider = decided_by.get(name)
            for target in f.map:
                if target in shadows and (decider != target or target not in f.sources):
                    enforce(state, f, target, index, out, REALIGNED)
        if state.fingerprint != self.plan.fingerprint:
            state.fingerprint = self.plan.fingerprint
            out.changed = True

    def _reevaluate(self, state: RecordState, f: FieldPlan, index: RecordIndex, out: Outcome) -> None:
        name = f.name
        golden, decider = state.golden.get(name, MISSING), state.decided_by.get(name)
        waiting = name in state.waiting
        shadows = state.shadows
        shown = {s: shadows[s].values[f.map[s]] for s in f.sources if s in shadows and f.map[s] in shadows[s].values}
        pick, source, _, _, _, moves, _ = from_shadows(f, golden, decider, shown, waiting)
        if not moves or source is None:
            return
        value = self.refs.to_golden(state, f, source, pick, index, out)
        if value is MISSING:
            return  # the pick names an account not linked yet: decided once it is
        _, _, rule, _, reason, moves, _ = repick(f, golden, decider, source, value)
        if not moves:
            return
        self.set_golden(state, f, value, source)
        out.decisions.append(decision(
            record_id=state.id, field=name, old=orig(golden), new=value, rule=rule, system=source, detail=reason))
        out.changed = True
