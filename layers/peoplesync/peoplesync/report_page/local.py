"""The page for the local run: `peoplesync report`, `sync --report FILE`, `plan --report FILE`.

A sync that writes a page runs in two steps, reconcile then deliver (the same flow `sync` runs in one): what
it owed each target is read in between, so the page can count creates, updates, deactivations and membership
changes per target. The page is written with its data beside it as JSON (`report.html` -> `report.json`)."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from pathlib import Path
from typing import Any

from . import gather, render, to_json


def rates(plan: Any) -> dict[str, float]:
    """Each system's request budget per minute (`requests_per_minute`, its connector's default if not set),
    for the systems whose connector has one."""
    from .. import connectors

    out: dict[str, float] = {}
    for name, system in plan.config.systems.items():
        try:
            settings = connectors.module(system.connector).Settings.model_validate(system.settings)
        except Exception:  # noqa: S112 - an unavailable connector has no rate to show; validate reports it
            continue
        rate = getattr(settings, "requests_per_minute", None)
        if rate:
            out[name] = float(rate)
    return out


def owed_now(bridge: Any) -> gather.Owed:
    return [(rid, system, bridge.reconciler.pending(rid, system)) for rid, system in bridge.owed()]


def page_data(bridge: Any, *, title: str, kind: str = "state", result: Any = None, made: gather.Owed | None = None,
              since: float | None = None, population: int | None = None) -> dict[str, Any]:
    """The report's data for a local bridge: `kind` "state" (no run), "sync" or "plan"."""
    from ..service.guard import people_known

    plan, store = bridge.plan, bridge.store
    owed = owed_now(bridge)
    ids: set[str] = set()
    if result is None:
        result = type("NoRun", (), {})()
        ids.update(gather.record_ids(store, plan))
    else:
        ids.update(getattr(result, "changed_ids", set()), (rid for rid, _, _ in (made or [])))
    run = gather.run_section(plan, result, kind=kind, made=made if made is not None else owed, owed=owed,
                             population=people_known(store) if population is None else population,
                             reviews=store.reviews(), dead_letters=bridge.dead_letters(), rates=rates(plan))
    people = gather.people_section(plan, store, ids, since=since, label=bridge.label)
    return gather.report_data(plan, title=title, run=run, people=people, people_total=len(ids))


def write(path: str | Path, data: dict[str, Any]) -> Path:
    """The page at `path` and its data beside it (`.json`). Returns the page's path."""
    page = Path(path)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(data), encoding="utf-8")
    page.with_suffix(".json").write_text(to_json(data), encoding="utf-8")
    return page


def sync_with_page(bridge: Any, path: str | Path, *, title: str, full: bool = False, approve: bool = False,
                   progress: Any = None) -> Any:
    """`peoplesync sync --report FILE`: the run, then its page. Returns the run's report."""
    from ..service.guard import people_known

    population, since = people_known(bridge.store), time.time()
    result = bridge.sync(full=full, approve=approve, deliver=False, progress=progress)
    made = owed_now(bridge)
    merge(result, bridge.deliver_owed())
    write(path, page_data(bridge, title=title, kind="sync", result=result, made=made, since=since,
                          population=population))
    return result


def merge(into: Any, other: Any) -> None:
    """Add a second report's counts (the delivery step) to the first (the reconcile step)."""
    for f in dataclasses.fields(into):
        mine, theirs = getattr(into, f.name), getattr(other, f.name)
        if isinstance(mine, bool) or theirs is None:
            continue
        if isinstance(mine, Counter | int):
            setattr(into, f.name, mine + theirs)
        elif isinstance(mine, set):
            mine |= theirs
        elif isinstance(mine, list):
            mine += theirs
        elif isinstance(mine, dict):
            mine.update(theirs)
