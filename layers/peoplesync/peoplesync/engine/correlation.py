"""Correlation: which record does an account we have never linked belong to?

Ordered match rules, each a field: the first rule whose value finds exactly one record links the account. A
rule that finds several records makes the account ambiguous: it is held for a human, never guessed. A rule
that finds nothing passes to the next. Values are compared after the field's normalisation, and a record is
found by any value it is known by (its golden value, and what each linked system holds), so two accounts that
exist before the first sync are linked to one person even when neither system is the field's source.

One person has one account per system: a rule that finds only records already linked to another account of
the same system has found a duplicate (a second badge row, a second cloud user carrying a linked employee id).
It is held for a human with both accounts named (SPEC 12), never linked and never made a new person.
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import NamedTuple

from ..config import Plan
from ..model import Observation
from ..ports import RecordIndex

LINKED, MATCHED, AMBIGUOUS, UNMATCHED, DUPLICATE = "linked", "matched", "ambiguous", "unmatched", "duplicate"


class Match(NamedTuple):
    """Immutable (a NamedTuple: built at a fraction of a frozen dataclass's cost, once per observation)."""

    outcome: str  # linked | matched | ambiguous | unmatched | duplicate
    record_id: str | None = None
    candidates: tuple[str, ...] = ()
    rule: str | None = None
    reason: str = ""


_linked = partial(tuple.__new__, Match)  # _linked((...)): a Match without the generated __new__ (every re-read)
_UNMATCHED = Match(UNMATCHED, reason="no match rule found a record")  # (immutable: one for every new account)


def correlate(plan: Plan, obs: Observation, index: RecordIndex) -> Match:
    rid = index.by_link(obs.kind, obs.system, obs.key)
    if rid is not None:
        return _linked((LINKED, rid, (), None, ""))
    fields = plan.fields.get(obs.kind, {})
    for rule in plan.match.get(obs.kind, []):
        f = fields[rule]
        attr = f.map.get(obs.system)
        if attr is None or attr not in obs.attrs:
            continue
        value = f.norm(obs.attrs[attr], True) if f.multi or f.norm1 is None else f.norm1(obs.attrs[attr])
        if value is None or value == ():
            continue
        # a record already linked to another account of this system is no candidate: one person has one
        # account per system; when that is all a rule finds, this account is a duplicate of theirs
        candidates = index.by_value(obs.kind, rule, value)
        if not candidates:
            continue
        if len(candidates) == 1:  # (most accounts: the one record, found without a set of one)
            rid = next(iter(candidates))
            if index.ref_of(rid, obs.system) is None:
                return _linked((MATCHED, rid, (rid,), rule, f"{rule}={value!r}"))
            found: set[str] = set()
        else:
            found = {rid for rid in candidates if index.ref_of(rid, obs.system) is None}
        if not found:
            same = sorted(rid for rid in candidates if not _contradicted(plan, obs, rid, rule, index))
            if same:
                return Match(DUPLICATE, None, tuple(same), rule,
                             f"{rule}={value!r} is already linked to another {obs.system} account")
            continue  # someone else who shares this value (their other keys differ): not this account's person
        if len(found) > 1:
            return Match(AMBIGUOUS, None, tuple(sorted(found)), rule,
                         f"{rule}={value!r} matches {len(found)} records")
        if len(found) == 1:
            rid = next(iter(found))
            return Match(MATCHED, rid, (rid,), rule, f"{rule}={value!r}")
    return _UNMATCHED


def _contradicted(plan: Plan, obs: Observation, rid: str, found_by: str, index: RecordIndex) -> bool:
    """A match key ranked above `found_by` names someone other than record `rid` in the account (two workers
    sharing an e-mail, with different employee ids, are two people; a second account carrying a linked employee
    id is a duplicate whatever its e-mail says)."""
    fields = plan.fields.get(obs.kind, {})
    for rule in plan.match.get(obs.kind, []):
        if rule == found_by:
            return False
        f = fields[rule]
        attr = f.map.get(obs.system)
        if attr is None or attr not in obs.attrs:
            continue
        value = f.norm(obs.attrs[attr], f.multi)
        if value is None or value == () or index.value_of(rid, rule) in (None, "", ()):
            continue
        if rid not in index.by_value(obs.kind, rule, value):
            return True
    return False


def new_record_id(kind: str, system: str, key: str) -> str:
    """Deterministic: the same first account always yields the same id, so a redelivered create is a no-op."""
    digest = hashlib.sha256(f"{kind}|{system}|{key}".encode()).hexdigest()[:20]
    return f"{kind[0]}-{digest}"
