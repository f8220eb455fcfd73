"""The `Engine`: one observation, one re-evaluation, one delivery at a time, composed of the engine's parts
(freshness, golden/precedence, targets, lifecycle, references, keys, outbox). The model is taught in the
package's docstring (`peoplesync.engine`)."""

from __future__ import annotations

from typing import Any

from ..config import FieldPlan, Plan, SystemPlan
from ..model import CREATE, GROUP, Observation, RecordState, Write
from ..ports import RecordIndex, WriteResult
from . import freshness
from .first import FirstSight
from .golden import Golden
from .keys import keyed_fields, refresh_keys
from .lifecycle import Lifecycle
from .norms import build_norms
from .outbox import Outbox
from .outcome import Outcome, blank
from .precedence import FILLED, OVERWRITTEN, RE_ASSERTED, REALIGNED
from .references import References
from .targets import Targets

_NO_WAIT: dict[str, list[str]] = {}  # (never changed: a record that waits for nothing, before an observation)
_NO_READS = freshness.Reads({})
_admit = freshness.admit
_NO_CHANGES: list[tuple[FieldPlan, Any]] = []  # (never changed: a first sight refreshes the keys regardless)


class Engine:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        # per (field, system): how a value read there is normalised (references use the system's ref form)
        self._norms = build_norms(plan)
        self._keyed = keyed_fields(plan)  # kind -> fields the index must find records by
        self._keyed_names = {kind: {f.name for f in fields} for kind, fields in self._keyed.items()}
        # (system, kind) -> attribute -> (field, normaliser, a non-empty string is its own normal form): what a
        # read of that system is absorbed as
        self._reads = {(name, kind): freshness.Reads({attr: (f, self._norms[(f.name, name)],
                                                             f.plain and f.norm1 is not None)
                                                      for attr, f in attrs.items()})
                       for name, sp in plan.systems.items() for kind, attrs in sp.attr_to_field.items()}
        # (system, kind) where two fields map one attribute: only one of them is in `_reads`, so a first read
        # also goes field by field (below); elsewhere a first read's changes are already every field it shows
        self._shared = {(name, kind) for name, sp in plan.systems.items() for kind, fields in sp.fields.items()
                        if len({f.map[name] for f in fields}) < len(fields)}
        self.refs = References(plan, self._keyed)
        self.lifecycle = Lifecycle(plan)
        self.targets = Targets(plan, self._norms, self.refs)
        self.golden = Golden(plan, self.refs, self.targets)
        self._fingerprint: str | None = None
        # (system, kind) -> how its first read is absorbed and decided in one pass (`first`): where each field
        # maps an attribute of its own, the system is no push source and the kind no group (members)
        first = FirstSight(plan, self._norms, self.golden, self.targets)
        self._first = first.observe
        self._first_tables = {key: table for key, table in first.table.items()
                              if key not in self._shared and not plan.systems[key[0]].push and key[1] != GROUP}
        self.outbox = Outbox(plan, self._norms, self.refs, self._keyed, self.targets.members)

    def observe(self, state: RecordState, obs: Observation, index: RecordIndex) -> Outcome:
        """Apply one observation from one system to a record already correlated to it."""
        out = Outcome(state)
        sp = self.plan.systems[obs.system]
        first = obs.system not in state.shadows
        fingerprint = self._fingerprint or self._first_fingerprint()
        shadow = _admit(state, obs, out, fingerprint, sp.push)
        if shadow is None:
            return out
        remapped = state.fingerprint != fingerprint
        waiting_before = dict(state.waiting) if state.waiting else _NO_WAIT
        if first and not remapped:
            table = self._first_tables.get((obs.system, obs.kind))
            if table is not None:  # absorbed and decided in one pass (`first`: the same decisions)
                self._first(state, shadow, obs.system, obs.attrs, table, index, out)
                self.lifecycle.observe(state, shadow, obs, first, out)
                self._settle(state, obs, _NO_CHANGES, first, remapped, waiting_before, index, out)
                return out
        changed = freshness.absorb_read(state, shadow, obs, self._reads.get((obs.system, obs.kind), _NO_READS), out,
                                        self.targets.members if obs.kind == GROUP else None)
        # a system seen for the first time, or under a new mapping: field by field (a first read of a new
        # shadow found every field it shows changed already, unless two fields share an attribute)
        if remapped or (first and (obs.system, obs.kind) in self._shared):
            seen = {f.name for f, _ in changed}
            changed += [(f, shadow.values[f.map[obs.system]]) for f in sp.fields.get(obs.kind, [])
                        if f.name not in seen and f.map[obs.system] in shadow.values]
        if changed or sp.push:  # (a re-read that changed nothing has nothing to decide)
            self._decide(state, sp, obs.kind, changed, first, index, out)
        self.lifecycle.observe(state, shadow, obs, first, out)
        self._settle(state, obs, changed, first, remapped, waiting_before, index, out)
        return out

    def _first_fingerprint(self) -> str:
        """The plan's fingerprint, asked of the plan once (it asks the connectors what they can take)."""
        self._fingerprint = self.plan.fingerprint
        return self._fingerprint

    def _decide(self, state: RecordState, sp: SystemPlan, kind: str, changed: list[tuple[FieldPlan, Any]],
                first: bool, index: RecordIndex, out: Outcome) -> None:
        system = sp.name
        from_source, enforce = self.golden.from_source, self.targets.enforce
        golden = state.golden
        for f, value in changed:
            if system in f.sources:
                from_source(state, f, system, value, first, index, out)
            elif f.name not in golden:
                continue  # nothing agreed yet that this target could be given (`enforce` would stop there)
            elif not f.push or first:  # a target's own edit (a push source's field waits for that source)
                reason = OVERWRITTEN if not first else FILLED if value is None or value == "" or value == () \
                    else REALIGNED  # (`blank`, inlined: every field of every first sight asks it)
                enforce(state, f, system, index, out, reason)
        if sp.push:  # a push source syncing a record re-asserts every field it is the source of
            for f in sp.fields.get(kind, []):
                if system in f.sources and f.name in state.golden:
                    for target in f.map:
                        if target != system:
                            self.targets.enforce(state, f, target, index, out, RE_ASSERTED)

    def _settle(self, state: RecordState, obs: Observation, changed: list[tuple[FieldPlan, Any]], first: bool,
                remapped: bool, waiting_before: dict[str, list[str]], index: RecordIndex, out: Outcome) -> None:
        """After the fields: who waited for this account, a full pass under a new mapping, accounts to create,
        and the index keys (only when the values the record is found by can have moved)."""
        if first and state.kind in self.refs.referenced:
            out.wake |= self.refs.waiters(state, obs.system, index)
        if remapped:
            self.golden.full_pass(state, index, out)
        self.lifecycle.provision(state, out)
        if first or remapped or state.waiting != waiting_before or (changed and self._moves_keys(obs.kind, changed)):
            refresh_keys(state, self._keyed.get(state.kind, []), out)

    def _moves_keys(self, kind: str, changed: list[tuple[FieldPlan, Any]]) -> bool:
        keyed = self._keyed_names.get(kind, ())
        return any(f.name in keyed for f, _ in changed)

    def reevaluate(self, state: RecordState, index: RecordIndex) -> Outcome:
        """Re-decide everything from the shadows: after a mapping change, or when a reference it waited for
        became resolvable. Writes only what differs."""
        out = Outcome(state)
        self.golden.full_pass(state, index, out)
        self.lifecycle.provision(state, out)
        refresh_keys(state, self._keyed.get(state.kind, []), out)
        return out

    def reassert(self, state: RecordState, source: str, target: str, index: RecordIndex) -> Outcome:
        """A push source's sync re-asserted on one target after that target was read again (its shadow now
        fresh): every field `source` is a source of is made to hold its golden value there, as `observe`
        does against the shadow. Nothing when `source` no longer holds the record's account."""
        out = Outcome(state)
        held = state.shadows.get(source)
        if held is None or held.removed:
            return out
        for f in self.plan.systems[source].fields.get(state.kind, []):
            if source in f.sources and f.name in state.golden and target in f.map and target != source:
                self.targets.enforce(state, f, target, index, out, RE_ASSERTED)
        return out

    def writes_for(self, state: RecordState, system: str, index: RecordIndex) -> list[Write]:
        """The writes still owed to `system` for this record, as of now."""
        return self.outbox.writes_for(state, system, index)

    def confirm(self, state: RecordState, write: Write, result: WriteResult | None, index: RecordIndex) -> Outcome:
        """Record that `write` was applied by its system. An account we just created is then given what its
        create could not carry (SPEC 13): a reference to someone with no account there yet waits (recorded,
        so the record is woken when that account appears), one resolvable by now is owed at once (the record
        wakes itself, so the flow delivers it)."""
        out = self.outbox.confirm(state, write, result, index)
        if write.op == CREATE and write.system in state.shadows and state.shadows[write.system].key == (
                result.key if result is not None else None):
            self._fill_created(state, write.system, index, out)
        return out

    def _fill_created(self, state: RecordState, system: str, index: RecordIndex, out: Outcome) -> None:
        waiting_before = {k: list(v) for k, v in state.waiting.items()}
        for f in self.plan.systems[system].fields.get(state.kind, []):
            if f.reference is not None and f.name in state.golden and not blank(state.golden[f.name]):
                self.targets.enforce(state, f, system, index, out, FILLED)
        if out.writes:
            out.wake.add(state.id)  # re-evaluated by the flow, which then delivers what is owed
        if state.waiting != waiting_before:
            refresh_keys(state, self._keyed.get(state.kind, []), out)
