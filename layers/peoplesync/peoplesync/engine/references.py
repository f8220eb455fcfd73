"""References between records (a manager, group members): a system's own form of naming an account (a DN,
an account key, or a field such as an employee id) turned into a record id, and back into the target's form.

A reference that cannot be resolved yet (the other person is not linked there) makes the record wait; the
index finds waiting records (`WAIT` entries), and they are re-evaluated when the account they wait for appears.
"""

from __future__ import annotations

from typing import Any

from ..config import FieldPlan, Plan
from ..model import GROUP, PERSON, RecordState, Rule, decision
from ..ports import RecordIndex
from .outcome import MISSING, Outcome, blank

WAIT = "@wait"  # index field under which records waiting for a reference are found
CREATING = "@creating"  # index field: the systems where a record's account is being created


class References:
    def __init__(self, plan: Plan, keyed: dict[str, list[FieldPlan]]) -> None:
        self.plan = plan
        self._keyed = keyed
        # kinds other records refer to: only their accounts need the "who was waiting" lookups; a group's
        # members may be groups (nesting: mirror), so groups are referenced too
        self.referenced = {f.reference for fields in plan.fields.values() for f in fields.values() if f.reference}
        # kind referred to -> kinds whose records may wait for it (a group waits for its member people)
        self._referrers: dict[str, set[str]] = {}
        for kind, fields in plan.fields.items():
            for f in fields.values():
                for other in self.named_kinds(f):
                    self.referenced.add(other)
                    self._referrers.setdefault(other, set()).add(kind)
        # fields by which references name records of a kind (ref_by): a waiter may wait for such a value
        self._ref_by: dict[str, list[FieldPlan]] = {}
        for fields in plan.fields.values():
            for f in fields.values():
                if f.reference is None:
                    continue
                for by in f.ref_by.values():
                    named = plan.fields[f.reference][by]
                    if named not in self._ref_by.setdefault(f.reference, []):
                        self._ref_by[f.reference].append(named)

    def named_kinds(self, f: FieldPlan) -> tuple[str, ...]:
        """The kinds a reference field's values may name: group members are people, or (nesting: mirror)
        groups nested in the group."""
        if f.reference is None:
            return ()
        if f.kind == GROUP and f.multi and f.reference == PERSON and self.plan.config.groups is not None:
            return (PERSON, GROUP)
        return (f.reference,)

    def to_golden(self, state: RecordState, f: FieldPlan, system: str, value: Any, index: RecordIndex,
                   out: Outcome) -> Any:
        if f.reference is None:
            return value
        if f.multi:
            resolved: list[Any] = []
            missing: list[Any] = []
            by, kinds = f.ref_by.get(system), self.named_kinds(f)
            for v in value:
                rid = self._resolve(state, f, system, v, index, by, kinds)
                (resolved if rid is not None else missing).append(rid if rid is not None else v)
            # a member not linked yet is owed: the record waits for it, and is decided again once it is
            self.wait(state, f, [(system, m) for m in missing], out, replace=system)
            return tuple(sorted(resolved))
        if value is None:
            state.waiting.pop(f.name, None)
            return None
        rid = self._resolve(state, f, system, value, index, f.ref_by.get(system), self.named_kinds(f))
        if rid is None:
            self.wait(state, f, [(system, value)], out)
            golden = state.golden.get(f.name)
            out.decisions.append(decision(
                record_id=state.id, field=f.name, old=golden, new=golden, rule=Rule.DEFERRED, system=system,
                detail=f"{system} names {value!r}, not linked yet; decided once it is"))
            return MISSING
        self.unwait(state, f, system, value, out)
        return rid

    @staticmethod
    def _resolve(state: RecordState, f: FieldPlan, system: str, v: Any, index: RecordIndex, by: str | None,
                 kinds: tuple[str, ...]) -> str | None:
        """The record a reference read in `system` names: by the value of its `ref_by` field `by`, else by the
        account's reference there, in one of `kinds` (a method, not a closure made per call: every first sight
        of a reference asks it)."""
        if by is not None:
            found = index.by_value(f.reference, by, v)  # type: ignore[arg-type]
            return next(iter(found)) if len(found) == 1 else None
        for kind in kinds:
            rid = index.by_ref(kind, system, v)
            if rid is not None and rid != state.id:  # (a group never contains itself)
                return rid
        return None

    def from_golden(self, state: RecordState, f: FieldPlan, target: str, index: RecordIndex,
                     out: Outcome) -> Any:
        value = state.golden[f.name]
        if f.reference is None:
            return value
        by = f.ref_by.get(target)

        def translate(rid: str) -> Any:
            return index.value_of(rid, by) if by is not None else index.ref_of(rid, target)

        if f.multi:
            refs: list[Any] = []
            missing: list[Any] = []
            for rid in value:
                ref = translate(rid)
                (refs if ref is not None else missing).append(ref if ref is not None else rid)
            self.wait(state, f, [(target, m) for m in missing], out, replace=target)
            return tuple(sorted(refs))
        if value is None:
            return None
        ref = translate(value)
        if ref is None:
            self.wait(state, f, [(target, value)], out)
            out.decisions.append(decision(
                record_id=state.id, field=f.name, old=value, new=value, rule=Rule.DEFERRED, system=target,
                detail=f"{value} has no {target} account yet; written once it has"))
            return MISSING
        self.unwait(state, f, target, value, out)
        return ref

    def interim(self, state: RecordState, f: FieldPlan, target: str, have: Any, index: RecordIndex) -> Any:
        """What `target` is given while the person the golden value names has no account there (MISSING:
        nothing, the record waits). A reference there to someone else (the old manager) is stale: it is cleared,
        or replaced by the field's placeholder for that system. A reference there that names no known account
        is left as it is: it may be the new person's own account, not linked yet (a first sync); so is one while
        the person named has an account being created there (it is written as soon as that lands)."""
        if f.multi or have is MISSING or blank(have):
            return MISSING
        by = f.ref_by.get(target)
        if by is not None:
            found = index.by_value(f.reference, by, have)  # type: ignore[arg-type]
            rid = next(iter(found)) if len(found) == 1 else None
        else:
            rid = index.by_ref(f.reference, target, str(have))  # type: ignore[arg-type]
        named = state.golden.get(f.name)
        if rid is None or rid == named or named in index.by_value(f.reference, CREATING, target):  # type: ignore
            return MISSING
        return f.placeholder.get(target)

    def wait(self, state: RecordState, f: FieldPlan, on: list[tuple[str, Any]], out: Outcome, *,
             replace: str | None = None) -> None:
        """Make the record wait for these (system, reference) pairs. `replace`: a set's members as now resolved
        in that system replace what it waited for there (a member no longer named stops being waited for)."""
        entries = [f"{s}|{str(r).lower()}" for s, r in on]
        old = state.waiting.get(f.name)
        if replace is not None:
            kept = [e for e in old or [] if not e.startswith(f"{replace}|")]
            new = sorted(set(kept) | set(entries))
            if new != sorted(old or []):
                if new:
                    state.waiting[f.name] = new
                else:
                    state.waiting.pop(f.name, None)
                out.changed = True
            return
        if entries:
            if old is None or set(old) != set(entries) | set(old):
                state.waiting[f.name] = sorted(set(entries) | set(old or []))
                out.changed = True

    def unwait(self, state: RecordState, f: FieldPlan, system: str, ref: Any, out: Outcome) -> None:
        """A reference resolved: the record no longer waits for it (nor is woken for it)."""
        old = state.waiting.get(f.name)
        entry = f"{system}|{str(ref).lower()}"
        if old and entry in old:
            rest = [e for e in old if e != entry]
            if rest:
                state.waiting[f.name] = rest
            else:
                del state.waiting[f.name]
            out.changed = True

    def waiters(self, state: RecordState, system: str, index: RecordIndex) -> set[str]:
        """Records waiting for this record's account in `system` (by record id, or by its reference)."""
        shadow = state.shadows[system]
        found: set[str] = set()
        by_id, by_ref = f"{system}|{state.id.lower()}", f"{system}|{(shadow.ref or shadow.key).lower()}"
        for kind in self._referrers.get(state.kind) or (state.kind,):  # (a group waits for people)
            found |= index.by_value(kind, WAIT, by_id)
            found |= index.by_value(kind, WAIT, by_ref)
        for f in self._ref_by.get(state.kind, []):  # waiting by a field value (ref_by)
            attr = f.map.get(system)
            value = shadow.values.get(attr) if attr else None
            if value is not None:
                found |= index.by_value(state.kind, WAIT, f"{system}|{str(value).lower()}")
        found.discard(state.id)
        return found


def owed_references(state: RecordState) -> list[tuple[str, str, str]]:
    """(field, system, what it names) for each reference the record still owes a system: the person named has
    no account there yet (or the system's own reference names no account linked yet). For `plan`/`explain`."""
    owed = []
    for name, entries in sorted(state.waiting.items()):
        for entry in entries:
            system, _, ref = entry.partition("|")
            owed.append((name, system, ref))
    return owed
