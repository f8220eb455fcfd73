"""While a full sweep runs in AWS, a create looks for the account first.

The sweep reconciles one system after another (lifecycle sources first) while the delivery queues keep being
drained. On a first load into targets that already hold accounts, HR's chunks can queue a create in the
directory for a person whose directory account is only read, and linked, by the directory's own snapshot later
in the same sweep: created blindly, that person would have two accounts. So from the sweep's first snapshot to
its report step, the delivery of a create first asks the target for an account holding the record's match keys
(`Connector.find_account`, as a create whose answer was lost does) and links it when there is one
(`flow.deliver_messages`). A sweep that never reached its report step (stopped, failed past its tolerance)
leaves the window open for at most `WINDOW_HOURS`; creates only cost one lookup more meanwhile.

The local run needs none of this: `sweep.run_local` and `sync` deliver only after every system is reconciled.
"""

from __future__ import annotations

import time
from typing import Any

from ..ports import StateStore

META = "sweep|running"
WINDOW_HOURS = 24.0


def begin(store: StateStore, run: str, now: float | None = None) -> None:
    store.put_meta(META, {"run": run, "since": time.time() if now is None else now})


def end(store: StateStore, run: str) -> None:
    """Close the window this run opened (a later run's window stays open)."""
    current = store.get_meta(META) or {}
    if current.get("run") in (run, None):
        store.put_meta(META, {"run": None, "ended": run})


def running(store: StateStore, now: float | None = None) -> str | None:
    """The sweep whose window is open, or None."""
    current: dict[str, Any] = store.get_meta(META) or {}
    run, since = current.get("run"), current.get("since")
    if not run or not isinstance(since, int | float):
        return None
    age = (time.time() if now is None else now) - since
    return str(run) if age < WINDOW_HOURS * 3600 else None
