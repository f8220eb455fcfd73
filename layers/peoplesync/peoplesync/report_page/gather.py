"""The report's data, gathered from what a run returns and what the store holds: plain JSON-able dicts, the
same for the page and for the JSON written beside it.

Three scopes: `sync` (what a run did: its polls, the writes it made, the decisions it recorded), `plan` (what a
sync would do, from a scratch run that delivers nothing) and `state` (no run: the mapping, what is still owed,
and why each value is what it is, from the decision trail)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from ..config import Plan
from ..model import GROUP, PERSON
from .mapping import mapping

Owed = list[tuple[str, str, list[Any]]]  # (record id, target, the writes it owes there)
# The page lists at most this many people: a page of a million people opens in no browser, and the report
# step in AWS must finish inside one Lambda. The rest are counted; `peoplesync explain` answers for anyone.
PEOPLE_SHOWN = 2000


def report_data(plan: Plan, *, title: str, run: dict[str, Any] | None = None,
                people: list[dict[str, Any]] | None = None, people_total: int | None = None) -> dict[str, Any]:
    """`people_total`: how many people the run touched (or the store holds), when more than the page lists."""
    people = people or []
    return {"title": title, "mapping": mapping(plan), "run": run, "people": people,
            "people_total": max(people_total or 0, len(people))}


def ops_by_system(writes: Owed) -> dict[str, Counter[str]]:
    """Creates, updates, deactivations, ... and membership changes (members added or removed) per target."""
    out: dict[str, Counter[str]] = {}
    for _, system, pending in writes:
        counter = out.setdefault(system, Counter())
        for w in pending:
            if w.kind == GROUP and w.delta:
                counter["membership"] += sum(len(d.get("add", [])) + len(d.get("remove", [])) for d in w.delta.values())
                if w.attrs or w.op != "update":
                    counter[w.op] += 1
            else:
                counter[w.op] += 1
    return out


def owed_rows(owed: Owed, rates: dict[str, float]) -> list[dict[str, Any]]:
    """Per target: writes owed, for how many people, and how long they take at its rate limit (one request a
    write, the least a write costs; a connector that reads before it writes takes longer)."""
    writes: Counter[str] = Counter()
    people: dict[str, set[str]] = {}
    for rid, system, pending in owed:
        writes[system] += len(pending)
        people.setdefault(system, set()).add(rid)
    rows = []
    for system in sorted(writes):
        rate = rates.get(system)
        rows.append({"system": system, "writes": writes[system], "people": len(people[system]), "per_minute": rate,
                     "seconds": round(writes[system] * 60 / rate, 1) if rate else None})
    return rows


def duration(seconds: float) -> str:
    """A time owed at a rate, as the page and `peoplesync plan` show it."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run_section(plan: Plan, result: Any, *, kind: str, made: Owed, owed: Owed, population: int,
                reviews: list[dict[str, Any]], dead_letters: list[dict[str, Any]], rates: dict[str, float]
                ) -> dict[str, Any]:
    """`result`: the run's report (`RunReport`: `polls`, `read_failures`, `held_by_guard`, `errors`, `full`)."""
    from ..service.guard import change_limit

    polls = getattr(result, "polls", None) or {}
    failures = dict(getattr(result, "read_failures", None) or {})
    ops = ops_by_system(made)
    systems = []
    for name, sp in plan.systems.items():
        poll = polls.get(name) or {}
        read = None if sp.push or not poll else poll.get("read", 0) + poll.get("vanished", 0)
        systems.append({"name": name, "read": read, "ops": dict(sorted(ops.get(name, Counter()).items())),
                        "failed": failures.get(name) or poll.get("failed")})
    policy = plan.config.policies.max_changes_per_run
    guard = {"policy": policy, "population": population, "held": getattr(result, "held_by_guard", None),
             "limit": change_limit(policy, population) if policy is not None else None}
    return {"kind": kind, "full": bool(getattr(result, "full", False)), "systems": systems, "guard": guard,
            "owed": owed_rows(owed, rates), "errors": list(getattr(result, "errors", None) or []),
            "reviews": [{"id": str(r.get("id")), "reason": str(r.get("reason", "")),
                         "candidates": [str(c) for c in r.get("candidates") or []]} for r in reviews],
            "dead_letters": [{"record": str(d.get("record_id", "")), "system": str(d.get("system", "")),
                              "reason": str(d.get("reason", ""))} for d in dead_letters]}


def people_section(plan: Plan, store: Any, record_ids: Iterable[str], *, since: float | None = None,
                   label: Callable[[str], str] = str, limit: int | None = None) -> list[dict[str, Any]]:
    """Per person, per field: the decisions recorded since `since` (a run), or, without it, the latest one of
    each field (why it holds what it holds); and where no decision moved a normalised field and every system
    carrying it shows the agreed value, that no write was needed. At most `limit` people (the first by record
    id, so the same ones from one page to the next), listed by name."""
    out = []
    shown = sorted(set(record_ids))[:limit or PEOPLE_SHOWN]
    for rid in sorted(shown, key=lambda r: (label(r), r)):
        state = store.load(rid)
        if state is None:
            continue
        trail = store.decisions(rid)
        if since is not None:
            trail = [d for d in trail if float(d.get("at", 0)) >= since]
        else:
            trail = list({d["field"]: d for d in trail}.values())  # the last decision of each field
        refs = {n for n, f in plan.fields.get(state.kind, {}).items() if f.reference}
        rows = [_decision_row(d, label if d["field"] in refs else None) for d in trail]
        decided = {d["field"] for d in trail}
        rows += _agreed_rows(plan, state, decided)
        if rows:
            out.append({"id": rid, "label": label(rid), "kind": state.kind, "fields": rows})
    return out


def _decision_row(d: dict[str, Any], label: Callable[[str], str] | None) -> dict[str, Any]:
    """One decision; a reference (a manager) shown as people know the record it names."""
    old, new = d.get("old"), d.get("new")
    if label is not None:
        old, new = (label(v) if isinstance(v, str) else v for v in (old, new))
    row = {"field": d["field"], "old": old, "new": new, "system": d.get("system"),
           "rule": d.get("rule"), "detail": d.get("detail", ""), "conflict": bool(d.get("conflict"))}
    if row["conflict"] and old != new:
        row["lost"] = old  # the challenger won: the value it replaced lost
    return row


def _agreed_rows(plan: Plan, state: Any, decided: set[str]) -> list[dict[str, Any]]:
    rows = []
    for name, f in plan.fields.get(state.kind, {}).items():
        value = state.golden.get(name)
        if name in decided or value is None or not _normalizers(plan, state.kind, name):
            continue
        held = [state.shadows[s].values.get(attr) for s, attr in f.map.items() if s in state.shadows]
        pending = any(f.map[s] in state.shadows[s].pending for s in f.map if s in state.shadows)
        if held and not pending and all(v == value for v in held):
            norms = ", ".join(_normalizers(plan, state.kind, name))
            rows.append({"field": name, "old": value, "new": value, "system": state.decided_by.get(name),
                         "rule": "agreed", "detail": "",
                         "note": f"no write: already equal after normalisation ({norms}) in "
                                 + ", ".join(s for s in f.map if s in state.shadows)})
    return rows


def _normalizers(plan: Plan, kind: str, name: str) -> list[str]:
    config = plan.config
    fields = config.fields if kind == PERSON else (config.groups.fields if config.groups else {})
    return fields[name].normalizers if name in fields else []


def record_ids(store: Any, plan: Plan) -> list[str]:
    return [rid for kind in (PERSON, GROUP) if kind in plan.fields for rid in store.all_ids(kind)]
