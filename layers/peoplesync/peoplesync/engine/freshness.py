"""Freshness: is a read news, and which of its values did the system itself change?

Each system has a *shadow*: what we last read from it or confirmed writing to it. A read whose marker is older
than the shadow's is stale; one whose digest equals the shadow's changed nothing. A value that differs from the
shadow, and from a write of ours still in flight, was changed by that system.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .. import transform
from ..config import FieldPlan, Plan
from ..model import Observation, RecordState, Shadow
from .membership import Members, is_members
from .norms import Norm
from .outcome import MISSING, Outcome


def not_newer(marker: Any, seen: Any) -> bool:
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


def admit(state: RecordState, obs: Observation, out: Outcome, *, fingerprint: str, push: bool) -> Shadow | None:
    """The shadow to absorb `obs` into (created on first sight), or None when the read is no news: stale
    (`out.stale`), the same event again, or an unchanged re-read under the same mapping (a push source's
    sync is always news: it re-asserts its fields)."""
    system = obs.system
    shadow = state.shadows.get(system)
    digest = observation_digest(obs)
    if shadow is None:
        shadow = state.shadows[system] = Shadow(key=obs.key, ref=obs.ref)
        if system in state.create_pending:
            state.create_pending.remove(system)
        out.changed = True
    else:
        if obs.marker is not None and shadow.marker is not None and not_newer(obs.marker, shadow.marker):
            if obs.marker != shadow.marker:
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


def absorb_read(state: RecordState, shadow: Shadow, obs: Observation, reads: dict[str, tuple[FieldPlan, Norm]],
                out: Outcome, members: Members | None = None) -> list[tuple[FieldPlan, Any]]:
    """Absorb every mapped attribute of `obs` into `shadow` (`reads`: attribute -> its field and how a value
    read there is normalised); the fields the system itself changed, each with its normalised value. Unmapped
    attributes are never stored, never written, never decide anything."""
    changed: list[tuple[FieldPlan, Any]] = []
    for attr, raw in obs.attrs.items():
        read = reads.get(attr)
        if read is None:
            continue
        f, norm = read
        value = norm(raw)
        if members is not None and is_members(f):
            if members.absorb(state, shadow, f, attr, value, norm):
                changed.append((f, value))
                out.changed = True
            continue
        if absorb(state, shadow, f, attr, value, norm):
            changed.append((f, value))
            out.changed = True
    return changed


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
