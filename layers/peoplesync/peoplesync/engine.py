"""The mapping engine: from what one system showed us, decide every field's agreed value, what to write
where, and why. Pure: no I/O, no clock; the only outside knowledge comes through `RecordIndex` lookups.

How a change is recognised without comparing clocks across systems: each system has a *shadow*, what we last
read from it or confirmed writing to it. A value that differs from the shadow (and from a write of ours still
in flight) was changed by that system. Each field's golden value carries a generation; a shadow remembers the
generation it last agreed to. When a source reports a change while the golden value has moved on since that
source last agreed, both sides changed concurrently: a conflict, settled by source priority (winner first).

Writes are an outbox kept in the record: `shadow.pending` (attributes), `shadow.pending_state` (deactivate,
activate, delete) and `create_pending`. `writes_for` turns them into `Write`s at delivery time, so a delivery
always sends the current decision, and a superseded one is never sent. `confirm` records a delivered write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from . import transform
from .config import FieldPlan, Plan
from .lifecycle import Lifecycle
from .model import (
    ACTIVATE,
    CREATE,
    DEACTIVATE,
    DELETE,
    UPDATE,
    Decision,
    Observation,
    RecordState,
    Shadow,
    Write,
)
from .outcome import MISSING, Outcome, blank, orig
from .ports import RecordIndex, WriteResult
from .references import WAIT, References


def _not_newer(marker: Any, seen: Any) -> bool:
    try:
        return bool(marker <= seen)
    except TypeError:  # a system changed its marker's type: do not trust the comparison
        return False


def observation_digest(obs: Observation) -> str:
    """A 64-bit digest of what was read. Attribute order is the connector's; a connector that changes its
    order only costs one slow comparison, never a missed change."""
    return hashlib.blake2b(repr((obs.attrs, obs.active, obs.removed)).encode(), digest_size=8).hexdigest()


def decode(plan: Plan, obs: Observation) -> Observation:
    """The observation with each transformed mapping (template, value map, date format) as its virtual
    attribute: what the engine compares, correlates and stores."""
    codecs = plan.systems[obs.system].codecs
    if not codecs:
        return obs
    return Observation(obs.system, obs.key, transform.decode(list(codecs.values()), obs.attrs), obs.active,
                       obs.removed, obs.marker, obs.ref, obs.kind)


class Engine:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        # per (field, system): how a value read there is normalised (references use the system's ref form)
        self._norm: dict[tuple[str, str], Callable[[Any], Any]] = {}
        self._keyed: dict[str, list[FieldPlan]] = {}  # kind -> fields the index must find records by
        for kind, fields in plan.fields.items():
            keyed = {n for n in plan.match.get(kind, [])}
            for f in fields.values():
                for system in f.map:
                    self._norm[(f.name, system)] = self._make_norm(f, system)
                keyed.update(f.ref_by.values() if f.reference == kind else ())
            self._keyed[kind] = [fields[n] for n in sorted(keyed) if n in fields]
        for kind, fields in plan.fields.items():  # ref_by fields of references into another kind
            for f in fields.values():
                if f.reference and f.reference != kind:
                    target = plan.fields.get(f.reference, {})
                    merged = {x.name: x for x in self._keyed.get(f.reference, [])}
                    merged.update({n: target[n] for n in f.ref_by.values() if n in target})
                    self._keyed[f.reference] = [merged[n] for n in sorted(merged)]

        self._keyed_names = {kind: {f.name for f in fields} for kind, fields in self._keyed.items()}
        self.refs = References(plan, self._keyed)
        self.lifecycle = Lifecycle(plan)

    def _make_norm(self, f: FieldPlan, system: str) -> Callable[[Any], Any]:
        multi = f.multi
        if f.reference is None:
            return lambda v: f.norm(v, multi)
        by = f.ref_by.get(system)
        if by is not None:
            target = self.plan.fields[f.reference][by]
            return lambda v: target.norm(v, multi)
        lower = self.plan.systems[system].reference == "dn"

        def ref_one(v: Any) -> Any:
            if blank(v):
                return None
            s = str(v).strip()
            return (s.lower() if lower else s) or None

        if multi:
            return lambda v: tuple(sorted({r for r in map(ref_one, _as_list(v)) if r is not None}))
        return lambda v: ref_one(v[0] if isinstance(v, list | tuple) and v else v)

    # ------------------------------------------------------------------------------------------------------
    def observe(self, state: RecordState, obs: Observation, index: RecordIndex) -> Outcome:
        """Apply one observation from one system to a record already correlated to it."""
        out = Outcome(state)
        system = obs.system
        sp = self.plan.systems[system]
        shadow = state.shadows.get(system)
        first = shadow is None
        digest = observation_digest(obs)
        if shadow is None:
            shadow = state.shadows[system] = Shadow(key=obs.key, ref=obs.ref)
            if system in state.create_pending:
                state.create_pending.remove(system)
            out.changed = True
        else:
            if obs.marker is not None and shadow.marker is not None and _not_newer(obs.marker, shadow.marker):
                if obs.marker != shadow.marker:
                    out.stale = True  # older than what we applied: it changes nothing
                    return out
                if shadow.digest == digest:
                    return out  # the same event again, or an unchanged re-read: nothing to do
                # same marker, different content: a re-read under a new mapping, which is news
            if shadow.digest == digest and state.fingerprint == self.plan.fingerprint and not sp.push:
                return out  # nothing changed there since we last looked: no decision, no save
            if obs.ref is not None and obs.ref != shadow.ref:
                shadow.ref = obs.ref  # renamed / moved (a new DN): references to it must follow
                out.changed = True
        if obs.marker is not None:
            shadow.marker = obs.marker
        if shadow.digest != digest:
            shadow.digest = digest
            out.changed = True

        kind = obs.kind
        attr_map = sp.attr_to_field.get(kind, {})
        waiting_before = dict(state.waiting)
        remapped = state.fingerprint != self.plan.fingerprint
        changed: list[tuple[FieldPlan, Any]] = []
        for attr, raw in obs.attrs.items():
            f = attr_map.get(attr)
            if f is None:
                continue  # unmapped: never stored, never written, never decides anything
            value = self._norm[(f.name, system)](raw)
            if self._absorb(state, shadow, system, f, attr, value):
                changed.append((f, value))
                out.changed = True

        # a system seen for the first time, or under a new mapping, is compared field by field
        if first or state.fingerprint != self.plan.fingerprint:
            seen = {f.name for f, _ in changed}
            changed += [(f, shadow.values[f.map[system]]) for f in sp.fields.get(kind, [])
                        if f.name not in seen and f.map[system] in shadow.values]

        for f, value in changed:
            if system in f.sources:
                self._decide_from_source(state, f, system, value, first, index, out)
            elif not f.push or first:
                self._enforce(state, f, system, index, out, reason=("filled" if blank(value) else "realigned")
                              if first else "overwritten")
        if sp.push:  # a push source syncing a record re-asserts every field it is the source of
            for f in sp.fields.get(kind, []):
                if system in f.sources and f.name in state.golden:
                    for target in f.map:
                        if target != system:
                            self._enforce(state, f, target, index, out, reason="re-asserted")

        self.lifecycle.observe(state, shadow, obs, first, out)
        if first and state.kind in self.refs.referenced:
            out.wake |= self.refs.waiters(state, system, index)
        if remapped:
            self._full_pass(state, index, out)
        self.lifecycle.provision(state, out)
        keyed = self._keyed_names.get(kind, ())
        if first or remapped or state.waiting != waiting_before or any(f.name in keyed for f, _ in changed):
            self._refresh_keys(state, out)  # only then can the values this record is found by have moved
        return out

    def reevaluate(self, state: RecordState, index: RecordIndex) -> Outcome:
        """Re-decide everything from the shadows: after a mapping change, or when a reference it waited for
        became resolvable. Writes only what differs."""
        out = Outcome(state)
        self._full_pass(state, index, out)
        self.lifecycle.provision(state, out)
        self._refresh_keys(state, out)
        return out

    # --- shadows ----------------------------------------------------------------------------------------
    def _absorb(self, state: RecordState, shadow: Shadow, system: str, f: FieldPlan, attr: str,
                value: Any) -> bool:
        """Record a value read from a system; True if the system itself changed it."""
        pending = shadow.pending.get(attr, MISSING)
        if pending is not MISSING:
            if (self._norm[(f.name, system)](pending) if f.reference else pending) == value:
                shadow.values[attr] = value  # our write landed
                del shadow.pending[attr]
                shadow.seen_gen[f.name] = state.gen.get(f.name, 0)
                return False
            if shadow.values.get(attr, MISSING) == value:
                return False  # our write has not landed yet; the old value is no news
        old = shadow.values.get(attr, MISSING)
        if old is not MISSING and old == value:
            return False
        shadow.values[attr] = value
        return True

    # --- decisions --------------------------------------------------------------------------------------
    def _decide_from_source(self, state: RecordState, f: FieldPlan, system: str, value: Any, first: bool,
                            index: RecordIndex, out: Outcome) -> None:
        name = f.name
        golden_value = self.refs.to_golden(state, f, system, value, index, out)
        if golden_value is MISSING:
            return  # waiting for a reference to become resolvable
        current = state.golden.get(name, MISSING)
        shadow = state.shadows[system]
        if current is not MISSING and current == golden_value:
            shadow.seen_gen[name] = state.gen.get(name, 0)
            return
        if first and len(f.sources) > 1 and blank(value):
            # a newly linked source with nothing to say does not erase what another source said
            if current is not MISSING and not blank(current):
                self._enforce(state, f, system, index, out, reason="filled")
            return
        decider = state.decided_by.get(name)
        concurrent = (current is not MISSING and len(f.sources) > 1 and decider is not None
                      and decider != system and decider in f.sources
                      and state.gen.get(name, 0) > shadow.seen_gen.get(name, 0))
        if concurrent and decider is not None and f.sources.index(decider) < f.sources.index(system):
            out.decisions.append(Decision(
                state.id, name, current, current, "conflict", decider, True,
                f"{decider} and {system} both changed it; {decider} prevails over {system}'s {value!r}"))
            self._enforce(state, f, system, index, out, reason="conflict", record=False)
            return
        self._set_golden(state, f, golden_value, system)
        shadow.pending.pop(f.map[system], None)  # a write of an older decision to this source is void now
        if concurrent:
            detail = f"{system} and {decider} both changed it; {system} prevails (winner)"
        elif len(f.sources) > 1:
            detail = f"changed in {system}, one of its sources"
        else:
            detail = f"{system} is the source"
        if not (current is MISSING and blank(golden_value)):  # a first blank is not news
            out.decisions.append(Decision(state.id, name, orig(current), golden_value,
                                          "conflict" if concurrent else "source", system, concurrent, detail))
        out.changed = True
        for target in f.map:
            if target != system:
                self._enforce(state, f, target, index, out, reason="propagated", record=False)

    def _set_golden(self, state: RecordState, f: FieldPlan, value: Any, system: str) -> None:
        state.golden[f.name] = value
        state.gen[f.name] = gen = state.gen.get(f.name, 0) + 1
        state.decided_by[f.name] = system
        state.shadows[system].seen_gen[f.name] = gen
        state.waiting.pop(f.name, None)

    def _enforce(self, state: RecordState, f: FieldPlan, target: str, index: RecordIndex, out: Outcome,
                 *, reason: str, record: bool = True) -> None:
        """Make `target` hold the golden value of `f`, if its apply mode lets us."""
        tp = self.plan.systems[target]
        shadow = state.shadows.get(target)
        if shadow is None or shadow.removed or not tp.writable or f.name not in state.golden:
            return
        if f.apply == "on_create":
            return  # set when the account was created, then left to its owner
        attr = f.map[target]
        have = shadow.values.get(attr, MISSING)
        if f.apply == "if_empty" and not (have is not MISSING and blank(have)):
            if shadow.pending.pop(attr, MISSING) is not MISSING:  # filled meanwhile: no longer ours to fill
                out.changed = True
            return  # fill a blank, never overwrite (and never guess about a value we have not read)
        want = self.refs.from_golden(state, f, target, index, out)
        if want is MISSING:
            return
        norm = self._norm[(f.name, target)]
        want_norm = norm(want) if f.reference else want
        pending = shadow.pending.get(attr, MISSING)
        if pending is not MISSING and (norm(pending) if f.reference else pending) == want_norm:
            return
        if have is not MISSING and have == want_norm:
            shadow.seen_gen[f.name] = state.gen.get(f.name, 0)
            if pending is not MISSING:
                del shadow.pending[attr]  # a write still in flight is no longer wanted
                out.changed = True
            return
        shadow.pending[attr] = want
        out.writes.add(target)
        out.changed = True
        if record:
            decider = state.decided_by.get(f.name)
            what = {"overwritten": f"{decider} is the source; {target}'s edit overwritten",
                    "re-asserted": f"{decider} synced this record; {target} brought back in line",
                    "filled": f"{target} was blank; filled from {decider}",
                    "realigned": f"{target} realigned with {decider}"}.get(reason, reason)
            out.decisions.append(Decision(state.id, f.name, orig(have), state.golden[f.name], reason, decider,
                                          False, what))

    # --- full pass ----------------------------------------------------------------------------------------
    def _full_pass(self, state: RecordState, index: RecordIndex, out: Outcome) -> None:
        for f in self.plan.fields.get(state.kind, {}).values():
            decider = state.decided_by.get(f.name)
            if f.name not in state.golden or decider not in f.sources or f.name in state.waiting:
                candidates = [s for s in f.sources if s in state.shadows and f.map[s] in state.shadows[s].values]
                # in priority order, the first source that has a value; all blank: the first one's blank
                filled = [s for s in candidates if not blank(state.shadows[s].values[f.map[s]])]
                for source in (filled or candidates)[:1]:
                    shadow = state.shadows[source]
                    value = self.refs.to_golden(state, f, source, shadow.values[f.map[source]], index, out)
                    if value is MISSING:
                        break
                    old = state.golden.get(f.name, MISSING)
                    if old is MISSING or old != value or decider not in f.sources:
                        self._set_golden(state, f, value, source)
                        out.decisions.append(Decision(state.id, f.name, orig(old), value, "re-evaluated",
                                                      source, False, f"{source} is the source (re-evaluated)"))
                        out.changed = True
                    break
            for target in f.map:
                if target not in f.sources or state.decided_by.get(f.name) != target:
                    self._enforce(state, f, target, index, out, reason="realigned")
        if state.fingerprint != self.plan.fingerprint:
            state.fingerprint = self.plan.fingerprint
            out.changed = True

    def _refresh_keys(self, state: RecordState, out: Outcome) -> None:
        keys: dict[str, list[Any]] = {}
        for f in self._keyed.get(state.kind, []):
            values = set()
            g = state.golden.get(f.name)
            if not blank(g):
                values.add(g)
            for system, attr in f.map.items():
                shadow = state.shadows.get(system)
                v = shadow.values.get(attr) if shadow else None
                if not blank(v):
                    values.add(v)
            if values:
                keys[f.name] = sorted(values, key=str)
        waits = sorted({e for entries in state.waiting.values() for e in entries})
        if waits:
            keys[WAIT] = waits
        if keys != state.keys:
            state.keys = keys
            out.changed = True

    # --- delivery -----------------------------------------------------------------------------------------
    def writes_for(self, state: RecordState, system: str, index: RecordIndex) -> list[Write]:
        """The writes still owed to `system` for this record, as of now."""
        out = Outcome(state)
        kind = state.kind
        if system in state.create_pending and system not in state.shadows:
            attrs: dict[str, Any] = {}
            for f in self.plan.systems[system].fields.get(kind, []):
                if f.name in state.golden and not blank(state.golden[f.name]):
                    value = self.refs.from_golden(state, f, system, index, out)
                    if value is not MISSING and not blank(value):
                        attrs[f.map[system]] = value
                elif f.default is not None:
                    attrs[f.map[system]] = f.default  # a default fills only an account we create
            return [Write(system, CREATE, state.id, None, self._encode(system, attrs), kind)]
        shadow = state.shadows.get(system)
        if shadow is None:
            return []
        writes = []
        if shadow.pending_state == ACTIVATE:
            writes.append(Write(system, ACTIVATE, state.id, shadow.key, {}, kind))
        if shadow.pending and shadow.pending_state != DELETE:
            writes.append(Write(system, UPDATE, state.id, shadow.key, self._encode(system, shadow.pending), kind))
        if shadow.pending_state in (DEACTIVATE, DELETE):
            writes.append(Write(system, shadow.pending_state, state.id, shadow.key, {}, kind))
        return writes

    def _encode(self, system: str, attrs: dict[str, Any]) -> dict[str, Any]:
        codecs = self.plan.systems[system].codecs
        return transform.encode(codecs, attrs) if codecs else dict(attrs)

    def confirm(self, state: RecordState, write: Write, result: WriteResult | None, index: RecordIndex) -> Outcome:
        """Record that `write` was applied by its system."""
        out = Outcome(state, changed=True)
        system = write.system
        codecs = self.plan.systems[system].codecs
        if codecs:  # back to the engine's (virtual) attributes
            write = Write(write.system, write.op, write.record_id, write.key,
                          transform.decode(list(codecs.values()), write.attrs), write.kind)
        if write.op == CREATE:
            if system in state.create_pending:
                state.create_pending.remove(system)
            if system in state.shadows or result is None or result.key is None:
                return out
            created = state.shadows[system] = Shadow(key=result.key, ref=result.ref, active=True)
            attr_map = self.plan.systems[system].attr_to_field.get(state.kind, {})
            for attr, value in write.attrs.items():
                f = attr_map.get(attr)
                if f is None:
                    continue  # a real attribute behind a transform: its virtual attribute carries it
                created.values[attr] = self._norm[(f.name, system)](value)
                created.seen_gen[f.name] = state.gen.get(f.name, 0)
            for f in self.plan.systems[system].fields.get(state.kind, []):
                created.values.setdefault(f.map[system], () if f.multi else None)
            if state.kind in self.refs.referenced:
                out.wake |= self.refs.waiters(state, system, index)
            out.decisions.append(Decision(state.id, "(account)", None, result.key, "created", system, False,
                                          f"{system} account {result.key} created"))
            self._refresh_keys(state, out)
            return out
        shadow = state.shadows.get(system)
        if shadow is None:
            return out
        shadow.digest = None  # we changed the account: its next read is news even if it looks like an old one
        if write.op == UPDATE:
            attr_map = self.plan.systems[system].attr_to_field.get(state.kind, {})
            for attr, value in write.attrs.items():
                f = attr_map.get(attr)
                if f is None:
                    continue
                norm = self._norm[(f.name, system)]
                shadow.values[attr] = norm(value) if f.reference else value
                if attr in shadow.pending and shadow.pending[attr] == value:
                    del shadow.pending[attr]
                    shadow.seen_gen[f.name] = state.gen.get(f.name, 0)
        else:
            if shadow.pending_state == write.op:
                shadow.pending_state = None
            shadow.active = write.op == ACTIVATE
            shadow.removed = write.op == DELETE
        self._refresh_keys(state, out)
        return out


def _as_list(v: Any) -> list[Any]:
    if v is None or v == "":
        return []
    return list(v) if isinstance(v, list | tuple | set | frozenset) else [v]
