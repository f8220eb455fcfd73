"""The accidental-change guard (SPEC 16), written once for every run, in AWS and locally.

Its one meaning: **the number of people whose writes a poll's changes would make** (what a human approves),
against `policies.max_changes_per_run` (a count, or a share of the people known before the run: in AWS a run
is one scheduled poll; locally one `peoplesync sync`, whose polls all count from the people known at its start,
so a first sync, which starts from nobody, is never held). It is
applied in `poll`, before anything is queued: a held poll queues nothing and keeps its cursor, so the same
changes are read and judged again next time, and a change that was undone (a restored file) is no longer
counted. Approve with `peoplesync sync --approve`, or in AWS by invoking the poll function with
`{"system": ..., "approve": true}`.
"""

from __future__ import annotations

import logging
import math

from ..model import PERSON, Observation, RecordState
from ..ports import StateStore
from .reconcile import Reconciler

log = logging.getLogger("peoplesync")


def change_limit(policy: str | int | None, population: int) -> int | None:
    """The most people one poll may change; None when the guard is off.

    A share applies to the people known before the poll, with a floor of one person so a tiny directory can
    still change someone. A first sync (nobody known yet) is not limited: there is nothing to protect.
    """
    if policy is None:
        return None
    if isinstance(policy, int):
        return policy
    if population == 0:
        return None
    share = float(policy.strip().rstrip("%")) / 100
    return max(1, math.floor(population * share))


def people_known(store: StateStore) -> int:
    return sum(1 for _ in store.all_ids(PERSON))


def hold(reconciler: Reconciler, system: str, changed: list[Observation], known: dict[str, RecordState], *,
         approve: bool, population: int | None = None) -> str | None:
    """Why this poll is held (None: it may go on). Counts people by previewing each change through the
    engine, which saves nothing; only done when the number of changed accounts could exceed the limit."""
    policy = reconciler.plan.config.policies.max_changes_per_run
    if policy is None or approve or not changed:  # nothing changed: no need to count everyone known
        return None
    store = reconciler.store
    if population is None:
        population = people_known(store)
    limit = change_limit(policy, population)
    # a changed person account changes at most one person; a group may remove many members at once
    if limit is None or (len(changed) <= limit and all(obs.kind == PERSON for obs in changed)):
        return None
    people = {who for obs in changed for who in reconciler.preview_people(obs, known.get(obs.key))}
    if len(people) <= limit:
        return None
    reason = (f"{len(people)} people would change ({len(changed)} changed accounts in {system}), above "
              f"max_changes_per_run={policy} ({limit}); nothing queued, cursor kept")
    store.add_review(f"run|{system}", {"kind": "run", "system": system, "reason": reason,
                                       "at": reconciler.clock()})
    log.warning("poll of %s held: %s", system, reason)
    return reason
