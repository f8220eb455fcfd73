"""What the command line shows: a progress bar, the run's summary and verdict, a plan, an explanation, the
review items. People by name and match keys, values as each system stores them, nothing cut at the terminal's
width (a long DN is printed whole; rich wraps it, a pipe gets it on one line)."""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .engine import decode
from .engine.references import owed_references
from .model import Write
from .report_page.gather import duration, owed_rows
from .report_page.local import rates
from .service import guard
from .service.describe import person_label, shown
from .service.local import Status

console = Console(soft_wrap=True)
RECORD_ID = re.compile(r"\b[pg]-[0-9a-f]{20}\b")


def say(text: str, markup: bool = True) -> None:
    console.print(text, highlight=False, markup=markup, soft_wrap=True)


@contextlib.contextmanager
def progress(enabled: bool = True, rates: dict[str, float] | None = None
             ) -> Iterator[Callable[[str, int, int], None]]:
    """A bar per stage; a delivery's ("deliver:<target>") shows the time left at the target's rate limit."""
    if not enabled or not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    tasks: dict[str, Any] = {}
    with bar:
        def tick(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None,
                       description=_left(stage, total - done, (rates or {}).get(stage.removeprefix("deliver:"))))

        yield tick


def _left(stage: str, remaining: int, rate: float | None) -> str:
    if not stage.startswith("deliver:"):
        return stage
    target = stage.removeprefix("deliver:")
    if not rate or remaining <= 0:
        return f"deliver to {target}"
    return f"deliver to {target}: {remaining} left, about {duration(remaining * 60 / rate)} at {rate:g}/min"


def owed_at_rates(plan: Any, owed: list[tuple[str, str, list[Write]]]) -> list[dict[str, Any]]:
    """Per target: writes owed and their time at its rate limit, as the report page computes them."""
    return owed_rows(owed, rates(plan))


def pacing(rows: list[dict[str, Any]], *, first_load: bool) -> None:
    """Per target: the writes owed and how long they take at its rate limit (`report_page.gather.owed_rows`);
    a warning when a first load is bound by the slowest of them."""
    if not rows:
        return
    say("[bold]time per target at its rate limit[/]")
    for r in rows:
        pace = (f"at {r['per_minute']:g} requests/min: about {duration(r['seconds'])}" if r.get("seconds") is not None
                else "no rate limit configured")
        say(f"  {r['system']}: {r['writes']:,} writes for {r['people']:,} people, {pace}", markup=False)
    slowest = max((r for r in rows if r.get("seconds") is not None), key=lambda r: r["seconds"], default=None)
    if first_load and slowest is not None and slowest["seconds"] >= 60:
        say(f"warning: this first load is bound by {slowest['system']}'s rate limit: {slowest['writes']:,} writes "
            f"at {slowest['per_minute']:g} requests/min take about {duration(slowest['seconds'])} (one request a "
            f"write, the least a write costs); `sync` shows the time left as it delivers", markup=False)


class Resolver:
    """Names a record, or a value that refers to one in some system (a DN, a user id, an employee id)."""

    def __init__(self, plan: Any, store: Any) -> None:
        self.plan, self.store = plan, store

    def person(self, record_id: Any) -> str:
        if isinstance(record_id, tuple | list):  # a group's members
            return "[" + ", ".join(map(self.person, record_id)) + "]"
        state = self.store.load(record_id) if isinstance(record_id, str) else None
        return person_label(self.plan, state, str(record_id))

    def referenced(self, kind: str, system: str, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            return None
        rid = self.store.by_link(kind, system, value) or self.store.by_ref(kind, system, value)
        for rule in self.plan.match.get(kind, []) if rid is None else []:
            found = self.store.by_value(kind, rule, self.plan.fields[kind][rule].norm(value, False))
            rid = next(iter(found)) if len(found) == 1 else None
            if rid:
                break
        return self.person(rid) if rid else None

    def value(self, kind: str, system: str, attr: str, value: Any) -> str:
        """A value as `system` stores it; a reference followed by the person it points to."""
        f = self.plan.systems[system].attr_to_field.get(kind, {}).get(attr)
        text = shown(value)
        if f is not None and f.reference and isinstance(value, tuple | list):  # a group's members
            return "[" + ", ".join(self.value(kind, system, attr, v) for v in value) + "]"
        if f is not None and f.reference and value not in (None, ""):
            who = self.referenced(f.reference, system, value)
            return f"{text} -> {who}" if who else f"{text} (no known person)"
        return text


# --- sync ---------------------------------------------------------------------------------------------------
def summary(report: Any, config: str = "CONFIG") -> None:
    table = Table(title="peoplesync run" + (" (full reconciliation)" if report.full else ""), show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [("accounts read", report.seen), ("accounts linked", report.linked),
            ("people created", report.created), ("people changed", report.changed), ("conflicts", report.conflicts),
            ("held for review", report.open_reviews), ("runs held", len(report.holds)),
            ("stale events ignored", report.stale)]
    rows += [(f"writes to {system}", n) for system, n in sorted(report.writes.items())]
    rows += [("writes (total)", report.total_writes), ("dead-lettered", report.dead_letters),
             ("errors", len(report.errors) + len(report.read_failures))]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    for system, reason in report.read_failures.items():
        say(f"[yellow]read of {system} failed:[/] {escape(reason)}")
    for error in report.errors:
        say(f"[red]error:[/] {escape(error)}")
    for hold_id in report.released:
        say(f"[green]released:[/] {hold_id} (its changes were undone, or it was approved)")
    verdict(report, config=config)


def verdict(report: Any, planned: int = 0, config: str = "CONFIG") -> None:
    """The one line that says how the run went, with its exit code: never "in agreement" when a read failed,
    writes were dead-lettered or anything is held."""
    status = report.status
    for hold in report.holds:
        say(f"[bold red]held:[/] {hold['id']} ({hold['system']}): {escape(str(hold['reason']))}"
            + (" [approved: applied at the next sync]" if hold.get("approved") else ""))
    if status == Status.READ_FAILED:
        say(f"[bold yellow]incomplete:[/] the read of {', '.join(sorted(report.read_failures))} failed; nothing "
            f"was concluded from it (exit 3)")
    elif status == Status.DEAD_LETTERED:
        say(f"[bold red]dead-lettered:[/] {report.dead_letters} messages set aside; see `peoplesync dlq list`, "
            f"then `peoplesync dlq replay` (exit 4)")
    elif status == Status.HELD:
        held = [f"{len(report.holds)} run(s) held by max_changes_per_run"] if report.holds else []
        held += [f"{report.open_reviews} account(s) held for review"] if report.open_reviews else []
        ids = [h["id"] for h in report.holds if not h.get("approved")]
        hint = f"; approve a run with `peoplesync reviews {config} approve {ids[0] if len(ids) == 1 else 'ID'}`" \
            if ids else ""
        say(f"[bold red]held:[/] {'; '.join(held) or 'held'}; see `peoplesync reviews {config}`{hint} (exit 2)")
    elif planned:
        say(f"[green]planned:[/] {planned} writes (exit 0)")
    elif status == Status.DONE:
        say(f"[green]done:[/] {report.total_writes} writes delivered (exit 0)")
    elif status == Status.AGREEMENT:
        say("[green]in agreement: nothing left to write[/]")


# --- plan ---------------------------------------------------------------------------------------------------
def plan(report: Any, owed: list[tuple[str, str, list[Write]]], labels: dict[str, str], resolver: Resolver,
         verbose: bool = False, waiting: list[tuple[str, str, str, str]] | None = None,
         config: str = "CONFIG", first_load: bool = False) -> None:
    """What a sync would write, person by person (values as the target would get them, with what it holds
    now), what it would hold and why, and how long each target takes at its rate limit; every decision behind
    it with --verbose. `waiting`: (record, field, system, what it names) for references owed until the person
    named has an account there. `first_load`: nobody was known before (a rate-bound target is warned of)."""
    waiting_references(waiting or [], resolver)
    if verbose:
        for line in report.decisions:
            say(line, markup=False)
    writes = [(rid, system, w) for rid, system, ws in owed for w in ws]
    if writes:
        say("[bold]writes a sync would make[/]")
    for rid, system, w in sorted(writes, key=lambda x: (labels[x[0]], x[1])):
        state = resolver.store.load(rid)
        shadow = state.shadows.get(system) if state is not None else None
        attrs = []
        for attr, value in sorted(w.attrs.items()):
            was = shadow.values.get(attr) if shadow is not None and attr in shadow.values else None
            now = resolver.value(w.kind, system, attr, value)
            attrs.append(f"{attr}: {resolver.value(w.kind, system, attr, was)} => {now}" if shadow is not None
                         else f"{attr}: {now}")
        for attr, change in sorted(w.delta.items()):  # a group's members: who is added, who removed
            attrs.append(f"{attr}: add {resolver.value(w.kind, system, attr, change['add'])}, remove "
                         f"{resolver.value(w.kind, system, attr, change['remove'])}")
        say(f"  {escape(labels[rid])}  {system} {w.op}" + ("\n      " + "\n      ".join(map(escape, attrs))
                                                            if attrs else ""))
    people = {rid for rid, _, ws in owed if ws}
    for line in groups_missing(resolver):
        say(line, markup=False)
    for item in guard.open_holds(resolver.store):
        _hold(item)
    say(f"{len(writes)} writes for {len(people)} people; {report.conflicts} conflicts; "
        f"{report.open_reviews} accounts held for review"
        + ("" if verbose else "; every decision: peoplesync plan --verbose"), markup=False)
    pacing(owed_at_rates(resolver.plan, owed), first_load=first_load)
    verdict(report, planned=len(writes), config=config)


def groups_missing(resolver: Resolver) -> list[str]:
    """A group linked in its source with no counterpart in a target that maps groups, where `groups.provision`
    does not let the bridge create it: reported, never created (docs/groups.md)."""
    groups = resolver.plan.config.groups
    if groups is None:
        return []
    sources = set(resolver.plan.lifecycle.get("group", ()))
    targets = sorted({s for f in resolver.plan.fields.get("group", {}).values() for s in f.map} - sources)
    out = []
    for rid in resolver.store.all_ids("group"):
        state = resolver.store.load(rid)
        if state is None or not sources & set(state.shadows):
            continue
        for target in targets:
            if target not in state.shadows and target not in groups.provision:
                out.append(f"group {resolver.person(rid)}: no {target} group matches it; not created there "
                           f"(groups.provision does not name {target})")
    return out


def _hold(item: dict[str, Any]) -> None:
    say(f"[bold]held run {item['id']}[/] ({item.get('system')}): {escape(str(item.get('reason', '')))}")
    for p in item.get("people", []):
        say(f"    {escape(str(p.get('person')))}: {escape(str(p.get('changes')))}")
    more = int(item.get("count") or 0) - len(item.get("people", []))
    if more > 0:
        say(f"    ... and {more} more people")


def references_owed(store: Any) -> list[tuple[str, str, str, str]]:
    """(record, field, system, what it names) for every reference a record still owes (`owed_references`),
    the records read 500 at a time."""
    from .service.batching import batches

    return [(rid, *owed) for batch in batches(store.all_ids("person"), 500)
            for rid, state in store.load_many(batch).items() for owed in owed_references(state)]


def waiting_references(waiting: list[tuple[str, str, str, str]], resolver: Resolver) -> None:
    for rid, name, system, ref in sorted(waiting, key=lambda w: (resolver.person(w[0]), w[1], w[2])):
        say(f"owed: {resolver.person(rid)} {name} in {system} -> {resolver.person(ref)}, once they have a "
            f"{system} account", markup=False)
    if waiting:
        say(f"{len(waiting)} references owed until the person named has an account", markup=False)


# --- reviews ------------------------------------------------------------------------------------------------
def reviews(items: list[dict[str, Any]], resolver: Resolver, config: str = "CONFIG") -> None:
    for item in items:
        if item.get("kind") == guard.KIND:
            _hold(item)
            say(f"    approve: peoplesync reviews {config} approve {item['id']}"
                + ("   [approved: applied at the next sync]" if item.get("approved") else ""), markup=False)
            continue
        candidates = [resolver.person(c) for c in item.get("candidates") or []]
        say(f"[bold]{escape(item['id'])}[/]: {item.get('system')} account {escape(str(item.get('key')))}: "
            f"{escape(str(item.get('reason', '')))}"
            + (f"; candidates: {escape('; '.join(candidates))}" if candidates else ""))
    runs = sum(1 for i in items if i.get("kind") == guard.KIND)
    say(f"{runs} runs and {len(items) - runs} accounts held for review", markup=False)


# --- explain ------------------------------------------------------------------------------------------------
def live_values(bridge: Any, state: Any) -> dict[str, dict[str, Any] | str]:
    """Each linked account as its system holds it now (system -> attributes), or why it was not read; a
    system that cannot look one account up is left out (its last read is shown instead)."""
    out: dict[str, dict[str, Any] | str] = {}
    for system, shadow in state.shadows.items():
        if system not in bridge.plan.systems or bridge.plan.systems[system].push or shadow.removed:
            continue
        try:
            connector = bridge.runtime.connector(system)
            read = connector.read_keys([shadow.key])
            found = [o for o in read.observations if o.key == shadow.key] if read is not None else []
            if read is None:
                found = [o for m in bridge.reconciler.match_values(state, system)
                         for o in [connector.find_account(m)] if o is not None and o.key == shadow.key][:1]
            if found:
                out[system] = decode(bridge.plan, found[0]).attrs
        except Exception as exc:  # a system down must not stop the explanation: its last read is shown
            out[system] = f"not read now ({type(exc).__name__})"
    bridge.runtime.close()
    return out


def explain(plan: Any, state: Any, decisions: list[dict[str, Any]], field: str | None, resolver: Resolver,
            live: dict[str, dict[str, Any] | str] | None = None) -> None:
    """One block per field: the agreed value, who decides it, and what each system holds (as stored there,
    read now where the system can look one account up); then the decisions, oldest first."""
    live = live or {}
    say(f"[bold]{escape(resolver.person(state.id))}[/] ({state.kind}, {'active' if state.active else 'inactive'}; "
        f"record {state.id})")
    say("linked: " + ", ".join(f"{s}={sh.key}" + (f" ({sh.ref})" if sh.ref and sh.ref != sh.key else "")
                               for s, sh in sorted(state.shadows.items())), markup=False)
    for name, f in plan.fields.get(state.kind, {}).items():
        if field and name != field:
            continue
        value = state.golden.get(name)
        shown_value = (", ".join(map(resolver.person, value)) if isinstance(value, tuple) else
                       resolver.person(value)) if f.reference and value else shown(value)
        say(f"\n[bold]{escape(name)}[/] = {escape(shown_value)}   source: {', '.join(f.sources)} ({f.apply}); "
            f"decided by {state.decided_by.get(name, '-')}")
        for system, attr in f.map.items():
            say(f"    {system}.{attr}: {_held_there(resolver, state, system, attr, live.get(system))}", markup=False)
    _history(state, decisions, resolver)


def _held_there(resolver: Resolver, state: Any, system: str, attr: str, live: dict[str, Any] | str | None) -> str:
    shadow = state.shadows.get(system)
    if shadow is None:
        return "(no account" + (": one will be created)" if system in state.create_pending else ")")
    if isinstance(live, dict):
        text = resolver.value(state.kind, system, attr, live.get(attr))
    else:
        last = shadow.values.get(attr)
        text = (resolver.value(state.kind, system, attr, last) if attr in shadow.values else "(never read)") \
            + f"   (as last read{', ' + live if live else ''})"
    if attr in shadow.pending:
        text += f"   being written: {resolver.value(state.kind, system, attr, shadow.pending[attr])}"
    text += "".join(f"   (owed: {resolver.person(ref)}, once they have a {system} account)"
                    for fld, s, ref in owed_references(state) if s == system and plan_attr(resolver, state, fld,
                                                                                            system) == attr)
    return text


def plan_attr(resolver: Resolver, state: Any, field: str, system: str) -> str | None:
    f = resolver.plan.fields.get(state.kind, {}).get(field)
    return f.map.get(system) if f is not None else None


def _history(state: Any, decisions: list[dict[str, Any]], resolver: Resolver) -> None:
    """The decisions as they happened: an account planned for creation that turned out to exist is shown as
    linked, a lifecycle change as the event it was (never `None -> removed`)."""
    created = {d["system"] for d in decisions if d["rule"] == "created"}
    if decisions:
        say("\n[bold]decisions[/] (oldest first)")
    for d in decisions:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(d["at"])) if d.get("at") else ""
        if d["rule"] == "create":
            system = d["new"]
            if system in created:
                continue  # the "created" decision says it
            shadow = state.shadows.get(system)
            line = (f"(account): {system} account {shadow.key} existed and was linked" if shadow is not None else
                    f"(account): no {system} account: one will be created" if system in state.create_pending
                    else f"(account): a {system} account was to be created; no longer needed")
        elif d["rule"] in ("lifecycle", "created"):
            line = f"{d['field']}: {d['detail'] or d['new']}"
        elif d["rule"] == "members":  # old: the members removed, new: those added, in the target's form
            target = d["detail"].partition(":")[0].removeprefix("in ")
            attr = plan_attr(resolver, state, d["field"], target) if target in resolver.plan.systems else None

            def who(v: Any, target: str = target, attr: str | None = attr) -> str:
                return resolver.value(state.kind, target, attr, tuple(v)) if attr else shown(v)

            line = f"{d['field']}: add {who(d['new'])}, remove {who(d['old'])} ({d['detail']})"
        else:
            f = resolver.plan.fields.get(state.kind, {}).get(d["field"])

            def show(v: Any, f: Any = f) -> str:
                return resolver.person(v) if f is not None and f.reference and v else shown(v)

            line = (f"{d['field']}: {show(d['old'])} -> {show(d['new'])}" if d["old"] != d["new"]
                    else f"{d['field']}: {show(d['new'])} kept") + f" ({d['detail'] or d['rule']})"
        line = RECORD_ID.sub(lambda m: resolver.person(m.group(0)), line)  # engine texts name records by id
        say(("[red]conflict[/] " if d["conflict"] else "  ") + f"{when}  " + escape(line))
