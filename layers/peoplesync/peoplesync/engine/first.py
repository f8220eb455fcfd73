"""First sight of an account: its read absorbed and every field it shows decided in one pass over a table
worked out once per (system, kind) when the engine is made.

The long way (`freshness.absorb_read`, then `Engine._decide`) absorbs the whole read, then walks it again
field by field, each a call into `Golden.from_source` (and `precedence.from_change`) or `Targets.enforce`.
Here each attribute is absorbed and decided in the same step, and the two cases that make up nearly every first
sight are settled without those calls:
- a field with one source, no reference, no golden value yet, read in that source: precedence's verdict for it
  does not depend on the value (rule 5, SOURCE: the value becomes the golden value), so it is asked of
  `precedence.from_change` once, here, when the table is made, and applied as `Golden.from_source` applies it;
- a target (no reference, `apply: always`) already holding the golden value: `Targets.enforce` would only
  record that the target agreed (its `seen_gen`).
Everything else goes the long way, through the same calls. The order of the decisions is the read's, as the
long way's; a decision never reads another attribute of the account being absorbed, so absorbing them one by
one as they are decided changes nothing (tests/unit/test_engine_differential.py compares with the long way's
output, byte for byte).
"""

from __future__ import annotations

from typing import Any

from ..config import FieldPlan, Plan
from ..model import RecordState, Shadow, decision
from ..ports import RecordIndex
from .golden import Golden
from .norms import Norm
from .outcome import MISSING, Outcome
from .precedence import ALWAYS, FILLED, PROPAGATED, REALIGNED, from_change
from .targets import Targets

# how the table says an attribute is decided at first sight
_NEW, _SOURCE, _PLAIN_TARGET, _TARGET = 0, 1, 2, 3

Entry = tuple[FieldPlan, str, Norm, bool, int, tuple[str, ...], Any]


class FirstSight:
    def __init__(self, plan: Plan, norms: dict[tuple[str, str], Norm], golden: Golden, targets: Targets) -> None:
        self._golden = golden
        self._targets = targets
        self.table: dict[tuple[str, str], dict[str, Entry]] = {
            (name, kind): {attr: _entry(f, name, norms[(f.name, name)]) for attr, f in attrs.items()}
            for name, sp in plan.systems.items() for kind, attrs in sp.attr_to_field.items()}

    def observe(self, state: RecordState, shadow: Shadow, system: str, attrs: dict[str, Any], table: dict[str, Entry],
                index: RecordIndex, out: Outcome) -> None:
        """Absorb and decide the first read of `system` into its new `shadow` (what `absorb_read` and `_decide`
        do for a first read of a system whose fields each map an attribute of their own)."""
        values, golden = shadow.values, state.golden
        for attr, raw in attrs.items():
            entry = table.get(attr)
            if entry is None:
                continue  # unmapped: never stored, never decides anything
            f, name, norm, plain, how, others, verdict = entry
            values[attr] = value = raw if plain and raw.__class__ is str and raw else norm(raw)
            if how == _NEW:
                if name in golden:
                    self._golden.from_source(state, f, system, value, True, index, out)
                else:
                    self._new(state, shadow, f, system, value, others, verdict, index, out)
            elif how == _SOURCE:
                self._golden.from_source(state, f, system, value, True, index, out)
            elif name not in golden:
                continue  # nothing agreed yet that this target could be given
            elif how == _PLAIN_TARGET and value == golden[name] and self._targets.writable(system) and not (
                    f.keep_blank and (value is None or value == "" or value == ())):
                shadow.seen_gen[name] = state.gen.get(name, 0)  # holds the golden value: it agrees
            else:
                self._targets.enforce(state, f, system, index, out, FILLED if value is None or value == ""
                                      or value == () else REALIGNED)

    def _new(self, state: RecordState, shadow: Shadow, f: FieldPlan, system: str, value: Any, others: tuple[str, ...],
             verdict: tuple[Any, ...], index: RecordIndex, out: Outcome) -> None:
        """The one source's first value of a field with no golden value: `Golden.from_source` under precedence's
        verdict, asked when the table was made (`_entry`)."""
        name = f.name
        rule, conflict, reason = verdict
        state.golden[name] = value
        gens = state.gen
        gens[name] = gen = gens.get(name, 0) + 1
        state.decided_by[name] = system
        shadow.seen_gen[name] = gen
        if not f.multi:
            state.waiting.pop(name, None)
        # (nothing in flight to this source to void: its shadow is new, and no other field maps this attribute)
        if not (value is None or value == "" or value == ()):  # a first blank is not recorded (rule 5)
            out.decisions.append(decision(record_id=state.id, field=name, old=None, new=value, rule=rule,
                                          system=system, conflict=conflict, detail=reason))
        out.changed = True
        shadows = state.shadows
        for target in others:
            if target in shadows:
                self._targets.enforce(state, f, target, index, out, PROPAGATED)


def _entry(f: FieldPlan, system: str, norm: Norm) -> Entry:
    plain = bool(f.plain and f.norm1 is not None)
    others = tuple(t for t in f.map if t != system)
    if system in f.sources:
        if f.reference is not None or len(f.sources) > 1:
            return f, f.name, norm, plain, _SOURCE, others, None
        # precedence's verdict on a one-source field's first value, the same for any value but a blank (which
        # is not recorded: `_new` asks): rule 5, the value becomes the golden value
        _, decider, rule, conflict, reason, moves, recorded = from_change(f, MISSING, None, system, "x", False, True)
        blank = from_change(f, MISSING, None, system, None, False, True)
        assert moves and recorded and decider == system and blank[2:6] == (rule, conflict, reason, moves) \
            and not blank[6], "precedence no longer decides a one-source field's first value as the table says"
        return f, f.name, norm, plain, _NEW, others, (rule, conflict, reason)
    how = _PLAIN_TARGET if f.reference is None and not f.multi and f.apply is ALWAYS else _TARGET
    return f, f.name, norm, plain, how, others, None
