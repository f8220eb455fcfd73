"""The accidental-change guard (SPEC 16): how many people a run may change before it is held."""

from __future__ import annotations

import math


def change_limit(policy: str | int | None, population: int) -> int | None:
    """The most people one run may change; None when the guard is off.

    A share applies to the people known before the run, with a floor of one person so a tiny directory can
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
