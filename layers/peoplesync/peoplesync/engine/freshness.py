"""Freshness: is a read news, and which of its values did the system itself change?

Each system has a *shadow*: what we last read from it or confirmed writing to it. A read whose marker is older
than the shadow's is stale; one whose digest equals the shadow's changed nothing. A value that differs from the
shadow, and from a write of ours still in flight, was changed by that system.
"""

from __future__ import annotations

import hashlib
import marshal
from operator import itemgetter
from typing import Any

from .. import transform
from ..config import FieldPlan, Plan
from ..model import Observation, RecordState, Shadow
from .membership import Members, is_members
from .norms import Norm
from .outcome import MISSING, Outcome

_blake2b = hashlib.blake2b
_dumps = marshal.dumps


def observation_digest(obs: Observation) -> str:
    """A 64-bit digest of what was read. Attribute order is the connector's; a connector that changes its
    order only costs one slow comparison, never a missed change.

    The bytes digested are marshal's version 0: C code, less than half the cost of `repr` (every re-poll pays
    this), and, unlike versions 1-4, the same bytes for equal values whatever their identity (no back-references
    to an object seen twice, no "interned" flag on strings). A value marshal cannot write (a `str` subclass, a
    datetime) falls back to `repr`: the same data always takes the same path. Changing how the digest is made
    costs one slow comparison per account, never a missed change."""
    what = (obs.attrs, obs.active, obs.removed)
    try:
        data = _dumps(what, 0)
    except ValueError:
        data = repr(what).encode()
    return _blake2b(data, digest_size=8).hexdigest()


def decode(plan: Plan, obs: Observation) -> Observation:
    """The observation with each transformed mapping (template, value map, date format) as its virtual
    attribute: what the engine compares, correlates and stores."""
    codecs = plan.systems[obs.system].codecs
    if not codecs:
        return obs
    return Observation(obs.system, obs.key, transform.decode(list(codecs.values()), obs.attrs), obs.active,
                       obs.removed, obs.marker, obs.ref, obs.kind)


def admit(state: RecordState, obs: Observation, out: Outcome, fingerprint: str, push: bool) -> Shadow | None:
    """The shadow to absorb `obs` into (created on first sight), or None when the read is no news: stale
    (`out.stale`), the same event again, or an unchanged re-read under the same mapping (a push source's
    sync is always news: it re-asserts its fields)."""
    system = obs.system
    shadow = state.shadows.get(system)
    digest = observation_digest(obs)
    if shadow is None:
        shadow = state.shadows[system] = Shadow(obs.key, obs.ref)
        if system in state.create_pending:
            state.create_pending.remove(system)
        out.changed = True
    else:
        marker, seen = obs.marker, shadow.marker
        if marker is not None and seen is not None:
            try:
                not_newer = bool(marker <= seen)  # type: ignore[operator]
            except TypeError:  # a system changed its marker's type: do not trust the comparison
                not_newer = False
            if not_newer:
                if marker != seen:
                    out.stale = True  # older than what we applied: it changes nothing
                    return None
                if shadow.digest == digest:
                    return None  # the same event again, or an unchanged re-read: nothing to do
                # same marker, different content: a re-read under a new mapping, which is news
        if shadow.digest == digest and state.fingerprint == fingerprint and not push:
            return None  # nothing changed there since we last looked: no decision, no save
        if obs.ref is not None and obs.ref != shadow.ref:
            shadow.ref = obs.ref  # renamed / moved (a new DN): references to it must follow
            out.changed = True
    if obs.marker is not None:
        shadow.marker = obs.marker
    if shadow.digest != digest:
        shadow.digest = digest
        out.changed = True
    return shadow


class Reads:
    """How a read of one system (one kind of account) is absorbed, worked out once: attribute -> (its field, how
    a value read there is normalised, whether a non-empty string is its own normal form), and for the "plain"
    attributes (those whose value is its own normal form) one C-level getter, so that a re-read showing what
    the shadow holds is recognised without a step per attribute."""

    __slots__ = ("by_attr", "others", "plain")

    def __init__(self, by_attr: dict[str, tuple[FieldPlan, Norm, bool]]) -> None:
        self.by_attr = by_attr
        plain = [attr for attr, (f, _, is_plain) in by_attr.items() if is_plain and not is_members(f)]
        self.plain = itemgetter(*plain) if len(plain) > 1 else None
        self.others = {attr: read for attr, read in by_attr.items() if attr not in plain} if self.plain else by_attr


def absorb_read(state: RecordState, shadow: Shadow, obs: Observation, reads: Reads, out: Outcome,
                members: Members | None = None) -> list[tuple[FieldPlan, Any]]:
    """Absorb every mapped attribute of `obs` into `shadow`; the fields the system itself changed, each with its
    normalised value. Unmapped attributes are never stored, never written, never decide anything.

    With no write in flight, the plain attributes are first compared all at once with what the shadow holds:
    equal (and none of them "", which is no normal form), none of them changed, and only the others are looked
    at one by one. (`absorb` is inlined for an attribute with no write in flight: every re-read pays this.)"""
    changed: list[tuple[FieldPlan, Any]] = []
    values, pending = shadow.values, shadow.pending
    by_attr, attrs = reads.by_attr, obs.attrs
    if not values and not pending and members is None:  # a first read: every value it shows is news
        for attr, raw in attrs.items():
            read = by_attr.get(attr)
            if read is not None:
                f, norm, plain = read
                values[attr] = value = raw if plain and raw.__class__ is str and raw else norm(raw)
                changed.append((f, value))
        if changed:
            out.changed = True
        return changed
    if not pending and reads.plain is not None:
        try:
            held = reads.plain(values)
            if reads.plain(attrs) == held and "" not in held:
                if members is None:
                    return _others(values, attrs, reads.others, out)
                by_attr = reads.others
        except KeyError:  # a partial read, or an attribute never read: one by one
            pass
    for attr, raw in attrs.items():
        read = by_attr.get(attr)
        if read is None:
            continue
        f, norm, plain = read
        value = raw if plain and raw.__class__ is str and raw else norm(raw)
        if members is not None and is_members(f):
            if members.absorb(state, shadow, f, attr, value, norm):
                changed.append((f, value))
            continue
        if pending and attr in pending:
            if absorb(state, shadow, f, attr, value, norm):
                changed.append((f, value))
            continue
        old = values.get(attr, MISSING)
        if old is not MISSING and old == value:
            continue
        values[attr] = value
        changed.append((f, value))
    if changed:
        out.changed = True
    return changed


def _others(values: dict[str, Any], attrs: dict[str, Any], others: dict[str, tuple[FieldPlan, Norm, bool]],
            out: Outcome) -> list[tuple[FieldPlan, Any]]:
    """`absorb_read` once the plain attributes are known unchanged (no write in flight, no member set): only
    the other mapped attributes are looked at, by name (a read's unmapped and plain attributes are not walked).
    What changed is stored and returned in the read's order, as the walk over the read would.

    A value read exactly as the shadow holds it is not normalised: what the shadow holds is a normal form, and a
    normal form normalises to itself (the no-echo rule rests on that already: a value we wrote is read back as
    it was written and must not look changed; tests/unit/test_normal_forms.py checks each normaliser). This is
    the echo's common case: a target showing what we wrote, a mail already lower-case, a phone already E.164."""
    found = []
    for attr, (f, norm, plain) in others.items():
        raw = attrs.get(attr, MISSING)
        if raw is MISSING:
            continue  # not read (a partial read)
        old = values.get(attr, MISSING)
        if raw == old:
            continue  # the normal form we hold, read as it is: unchanged, without normalising it (see above)
        value = raw if plain and raw.__class__ is str and raw else norm(raw)
        if old is not MISSING and old == value:  # (asked as the walk asks it)
            continue
        found.append((attr, f, value))
    if not found:
        return []
    if len(found) > 1:
        order = {attr: i for i, attr in enumerate(attrs)}
        found.sort(key=lambda c: order[c[0]])
    for attr, _, value in found:
        values[attr] = value
    out.changed = True
    return [(f, value) for _, f, value in found]


def absorb(state: RecordState, shadow: Shadow, f: FieldPlan, attr: str, value: Any, norm: Norm) -> bool:
    """Record a value read from a system; True if the system itself changed it."""
    pending = shadow.pending.get(attr, MISSING)
    if pending is not MISSING:
        if (norm(pending) if f.reference else pending) == value:
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
