"""A push source's sync re-asserts what it maps against what each target holds *now* (SPEC 7 and 8, seeds/002).

A target's shadow is what the bridge last read there or wrote there. An agent's edit in the cloud made since
the last poll is not in it, so a push compared against the shadow alone finds nothing to write, and the edit
survives the identity provider's sync. The choice made here: the push is treated as "assert these values",
and delivery compares them with a fresh read of the target:

1. reconcile: the IdP's observation is decided as any other (golden values from the IdP, writes owed against
   the shadows); then every target linked to the person that maps a field the IdP is a source of gets a
   delivery message marked `"reassert": "<push system>"`, even when the shadow says nothing is owed there.
2. deliver (the target's own queue, concurrency and rate-limit budget): the accounts of the marked messages are
   read again first (`Connector.read_keys`, one call for the batch), the fresh reads reconciled (an edit of an
   IdP-sourced field made in the target is absorbed into the shadow and waits for the IdP, SPEC 8), then
   `Reconciler.reassert` makes the target hold the IdP's values, and only what differs is written.

Cost per push of one person: one delivery message per linked target mapping an IdP-sourced field, and one
read of the account there (Genesys Cloud: one `GET /api/v2/users?id=...` for up to 100 people of a batch,
paced by the client's request budget; LDAP: one base search per account). A repeat that changes nothing
writes nothing. A target whose connector cannot read accounts by key (`read_keys` returns None) is compared
against its shadow, as before. Only people are re-asserted (group membership is written as adds and removes).
"""

from __future__ import annotations

from typing import Any

from ..config import Plan
from ..model import PERSON, Observation, RecordState
from .reconcile import HELD, IGNORED, STALE, Reconciler, Result


def reassert_targets(plan: Plan, state: RecordState, source: str) -> list[str]:
    """The targets linked to this record that map a field `source` is a source of (and are writable)."""
    found: set[str] = set()
    for f in plan.systems[source].fields.get(state.kind, []):
        if source not in f.sources:
            continue
        for target in f.map:
            shadow = state.shadows.get(target)
            if target != source and plan.systems[target].writable and shadow is not None and not shadow.removed:
                found.add(target)
    return sorted(found)


def targets_to_reassert(obs: Observation, result: Result, reconciler: Reconciler) -> list[str]:
    """After a push source's observation was reconciled: the targets whose delivery must re-read and
    re-assert (none for another system, a removal, a group, a stale or held observation)."""
    plan = reconciler.plan
    if not plan.systems[obs.system].push or obs.removed or obs.kind != PERSON or not result.record_id \
            or result.status in (STALE, HELD, IGNORED):
        return []
    state = reconciler.store.load(result.record_id)
    return reassert_targets(plan, state, obs.system) if state is not None else []


def reassert_all(messages: list[dict[str, Any]], system: str, reconciler: Reconciler) -> None:
    """Re-assert each marked message's push source on `system`, its account having just been read again."""
    for message in messages:
        source = message.get("reassert")
        if isinstance(source, str) and source in reconciler.plan.systems:
            reconciler.reassert(message["record_id"], source, system)
