"""The outbox: writes owed to each system, kept in the record and turned into `Write`s at delivery time.

`shadow.pending` (attributes), `shadow.pending_state` (deactivate, activate, delete) and `create_pending` hold
what is owed. `writes_for` reads them when a delivery runs, so it always sends the current decision and never a
superseded one; `confirm` records a delivered write in the shadow.
"""

from __future__ import annotations

from typing import Any

from .. import transform
from ..config import FieldPlan, Plan
from ..model import (
    ACTIVATE,
    CREATE,
    DEACTIVATE,
    DELETE,
    GROUP,
    UPDATE,
    RecordState,
    Rule,
    Shadow,
    Write,
    decision,
)
from ..ports import RecordIndex, WriteResult
from .keys import refresh_keys
from .membership import Members, as_delta, is_members
from .norms import Norm
from .outcome import MISSING, Outcome, blank
from .references import References


class Outbox:
    def __init__(self, plan: Plan, norms: dict[tuple[str, str], Norm], refs: References,
                 keyed: dict[str, list[FieldPlan]], members: Members | None = None) -> None:
        self.plan = plan
        self.members = members or Members(norms, refs)
        self._norms = norms
        self.refs = refs
        self._keyed = keyed

    def writes_for(self, state: RecordState, system: str, index: RecordIndex) -> list[Write]:
        """The writes still owed to `system` for this record, as of now."""
        kind = state.kind
        if system in state.create_pending and system not in state.shadows:
            return [Write(system, CREATE, state.id, None, self._encode(system, self._create_attrs(state, system,
                                                                                                   index)), kind)]
        shadow = state.shadows.get(system)
        if shadow is None:
            return []
        writes = []
        if shadow.pending_state == ACTIVATE:
            writes.append(Write(system, ACTIVATE, state.id, shadow.key, {}, kind))
        if shadow.pending and shadow.pending_state != DELETE:
            attrs, delta = self._split(state, system, shadow)
            if attrs or delta:
                writes.append(Write(system, UPDATE, state.id, shadow.key, self._encode(system, attrs), kind, delta))
        if shadow.pending_state in (DEACTIVATE, DELETE):
            writes.append(Write(system, shadow.pending_state, state.id, shadow.key, {}, kind))
        return writes

    def _split(self, state: RecordState, system: str, shadow: Shadow
               ) -> tuple[dict[str, Any], dict[str, dict[str, list[Any]]]]:
        """What is owed as (attributes to set, member sets as adds and removes). A member set owes only its
        difference from what the target holds: never the whole set."""
        if state.kind != GROUP:
            return shadow.pending, {}
        attr_map = self.plan.systems[system].attr_to_field.get(state.kind, {})
        attrs: dict[str, Any] = {}
        delta: dict[str, dict[str, list[Any]]] = {}
        for attr, value in shadow.pending.items():
            f = attr_map.get(attr)
            if f is not None and is_members(f):
                change = as_delta(value, self._norms[(f.name, system)], shadow, attr, f)
                if change["add"] or change["remove"]:
                    delta[attr] = change
            else:
                attrs[attr] = value
        return attrs, delta

    def _create_attrs(self, state: RecordState, system: str, index: RecordIndex) -> dict[str, Any]:
        """The attributes of an account the bridge creates: every golden value it maps (on_create fields
        included: this is their one write), and a field's default where it has no value."""
        out = Outcome(state)
        attrs: dict[str, Any] = {}
        for f in self.plan.systems[system].fields.get(state.kind, []):
            if f.name in state.golden and not blank(state.golden[f.name]):
                value = self.refs.from_golden(state, f, system, index, out)
                if value is not MISSING and not blank(value):
                    attrs[f.map[system]] = value
            elif f.default is not None:
                attrs[f.map[system]] = f.default  # a default fills only an account we create
        return attrs

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
                          transform.decode(list(codecs.values()), write.attrs), write.kind, write.delta)
        if write.op == CREATE:
            self._confirm_create(state, write, result, index, out)
            return out
        shadow = state.shadows.get(system)
        if shadow is None:
            return out
        shadow.digest = None  # we changed the account: its next read is news even if it looks like an old one
        if result is not None and result.marker is not None:
            shadow.marker = result.marker  # a read taken before this write is older: stale, never an edit
        if write.op == UPDATE:
            attr_map = self.plan.systems[system].attr_to_field.get(state.kind, {})
            for attr, value in write.attrs.items():
                f = attr_map.get(attr)
                if f is None:
                    continue
                norm = self._norms[(f.name, system)]
                shadow.values[attr] = norm(value) if f.reference else value
                if attr in shadow.pending and shadow.pending[attr] == value:
                    del shadow.pending[attr]
                    shadow.seen_gen[f.name] = state.gen.get(f.name, 0)
            for attr, change in write.delta.items():
                f = attr_map.get(attr)
                if f is not None and is_members(f):
                    self.members.confirm(state, system, f, change)
        else:
            if shadow.pending_state == write.op:
                shadow.pending_state = None
            shadow.active = write.op == ACTIVATE
            shadow.removed = write.op == DELETE
        refresh_keys(state, self._keyed.get(state.kind, []), out)
        return out

    def _confirm_create(self, state: RecordState, write: Write, result: WriteResult | None, index: RecordIndex,
                        out: Outcome) -> None:
        system = write.system
        if system in state.create_pending:
            state.create_pending.remove(system)
        if system in state.shadows or result is None or result.key is None:
            return
        created = state.shadows[system] = Shadow(key=result.key, ref=result.ref, active=True, marker=result.marker)
        attr_map = self.plan.systems[system].attr_to_field.get(state.kind, {})
        for attr, value in write.attrs.items():
            f = attr_map.get(attr)
            if f is None:
                continue  # a real attribute behind a transform: its virtual attribute carries it
            created.values[attr] = self._norms[(f.name, system)](value)
            created.seen_gen[f.name] = state.gen.get(f.name, 0)
            if is_members(f):
                Members.created(created, attr, created.values[attr])
        for f in self.plan.systems[system].fields.get(state.kind, []):
            created.values.setdefault(f.map[system], () if f.multi else None)
        if state.kind in self.refs.referenced:
            out.wake |= self.refs.waiters(state, system, index)
        out.decisions.append(decision(
            record_id=state.id, field="(account)", old=None, new=result.key, rule=Rule.CREATED, system=system,
            detail=f"{system} account {result.key} created"))
        refresh_keys(state, self._keyed.get(state.kind, []), out)
