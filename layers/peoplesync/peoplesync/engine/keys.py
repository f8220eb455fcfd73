"""Index keys: the values a record can be found by (match rules, `ref_by` fields) and the references it waits
for. Correlation and reference resolution look records up by these keys through the store's index."""

from __future__ import annotations

from typing import Any

from ..config import FieldPlan, Plan
from ..model import RecordState
from .outcome import MISSING, Outcome
from .references import CREATING, WAIT


def keyed_fields(plan: Plan) -> dict[str, list[FieldPlan]]:
    """kind -> the fields the index must find records of that kind by: its match rules, and the fields
    references name records by (`ref_by`), also for references from another kind."""
    keyed: dict[str, list[FieldPlan]] = {}
    for kind, fields in plan.fields.items():
        names = set(plan.match.get(kind, []))
        for f in fields.values():
            names.update(f.ref_by.values() if f.reference == kind else ())
        keyed[kind] = [fields[n] for n in sorted(names) if n in fields]
    for kind, fields in plan.fields.items():  # ref_by fields of references into another kind
        for f in fields.values():
            if f.reference and f.reference != kind:
                target = plan.fields.get(f.reference, {})
                merged = {x.name: x for x in keyed.get(f.reference, [])}
                merged.update({n: target[n] for n in f.ref_by.values() if n in target})
                keyed[f.reference] = [merged[n] for n in sorted(merged)]
    return keyed


def refresh_keys(state: RecordState, keyed: list[FieldPlan], out: Outcome) -> None:
    """Recompute the record's index keys from its golden values, its shadows and what it waits for.

    A key's values are the field's golden value and what each linked system holds for it, blanks left out,
    sorted by their text when there are several. Nearly always they are one value (every system agrees), kept
    without building a set for it: this runs at every first sight and every change of a keyed field."""
    keys: dict[str, list[Any]] = {}
    golden, shadows = state.golden, state.shadows
    for f in keyed:
        g = golden.get(f.name)
        one = MISSING if g is None or g == "" or g == () else g  # (`blank`, inlined)
        many = None
        fmap = f.map
        for system, shadow in shadows.items():  # (the linked systems: at most the field's, usually fewer)
            attr = fmap.get(system)
            if attr is not None:
                v = shadow.values.get(attr)
                if v is not None and v != "" and v != ():
                    if one is MISSING:
                        one = v
                    elif v != one:
                        if many is None:
                            many = {one, v}
                        else:
                            many.add(v)
        if many is not None:
            keys[f.name] = sorted(many, key=str)
        elif one is not MISSING:
            keys[f.name] = [one]
    if state.waiting:
        waits = sorted({e for entries in state.waiting.values() for e in entries})
        if waits:
            keys[WAIT] = waits
    if state.create_pending:
        keys[CREATING] = sorted(state.create_pending)
    if keys != state.keys:
        state.keys = keys
        out.changed = True
