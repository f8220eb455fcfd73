"""How a value read from a system is normalised before it is compared or stored, per (field, system).

A plain field uses its own normalisation (trim, lower, E.164, ...). A reference (`reference: person`) is kept
in the form the system names the other account by: a DN (compared lower-cased), a key, or the value of the
field named in `ref_by` (normalised as that field).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import FieldPlan, Plan
from .outcome import blank

Norm = Callable[[Any], Any]


def build_norms(plan: Plan) -> dict[tuple[str, str], Norm]:
    """(field name, system) -> normaliser, for every field of every kind and every system that maps it."""
    return {(f.name, system): make_norm(plan, f, system)
            for fields in plan.fields.values() for f in fields.values() for system in f.map}


def make_norm(plan: Plan, f: FieldPlan, system: str) -> Norm:
    multi = f.multi
    if f.reference is None:
        return _own(f, multi)
    by = f.ref_by.get(system)
    if by is not None:
        return _own(plan.fields[f.reference][by], multi)
    lower = plan.systems[system].reference == "dn"

    def ref_one(v: Any) -> Any:
        if blank(v):
            return None
        s = str(v).strip()
        return (s.lower() if lower else s) or None

    if multi:
        return lambda v: tuple(sorted({r for r in map(ref_one, as_list(v)) if r is not None}))
    return lambda v: ref_one(v[0] if isinstance(v, list | tuple) and v else v)


def _own(f: FieldPlan, multi: bool) -> Norm:
    """`f`'s own normalisation (as a single value unless `multi`), without a second call where it has one."""
    if not multi and f.norm1 is not None:
        return f.norm1
    norm = f.norm
    return lambda v: norm(v, multi)


def as_list(v: Any) -> list[Any]:
    if v is None or v == "":
        return []
    return list(v) if isinstance(v, list | tuple | set | frozenset) else [v]
