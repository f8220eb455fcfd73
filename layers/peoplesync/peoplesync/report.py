"""What the command line shows: a progress bar, the run summary, a plan, an explanation (rich)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .engine.references import owed_references
from .model import Write

console = Console()


@contextlib.contextmanager
def progress(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
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
            bar.update(tasks[stage], completed=done)

        yield tick


def summary(report: Any) -> None:
    table = Table(title="peoplesync run" + (" (full reconciliation)" if report.full else ""), show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [("accounts read", report.seen), ("accounts linked", report.linked),
            ("people created", report.created), ("people changed", report.changed), ("conflicts", report.conflicts),
            ("held for review", report.held_for_review), ("stale events ignored", report.stale)]
    rows += [(f"writes to {system}", n) for system, n in sorted(report.writes.items())]
    rows += [("writes (total)", report.total_writes), ("dead-lettered", report.dead_letters),
             ("errors", len(report.errors) + len(report.read_failures))]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    for system, reason in report.read_failures.items():
        console.print(f"[yellow]read of {system} failed:[/] {reason}")
    for error in report.errors:
        console.print(f"[red]error:[/] {error}")
    if report.held_by_guard:
        console.print(f"[bold red]held:[/] {report.held_by_guard}")
    if not report.total_writes and not report.held_by_guard and not report.errors:
        console.print("[green]in agreement: nothing left to write[/]")


def plan(report: Any, owed: list[tuple[str, str, list[Write]]], label: Callable[[str], str] = str,
         verbose: bool = False, waiting: list[tuple[str, str, str, str]] | None = None) -> None:
    """What a sync would write, person by person; every decision behind it with --verbose. `waiting`:
    (record, field, system, what it names) for references owed until the person named has an account there."""
    waiting = waiting or []
    waiting_references(waiting, label)
    if not owed and not report.decisions:
        if not waiting:
            console.print("[green]nothing to do: every system agrees[/]")
        return
    if verbose:
        for line in report.decisions:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    table = Table(title="writes a sync would make")
    for column in ("person", "system", "operation", "attributes"):
        table.add_column(column)
    for rid, system, writes in sorted(owed, key=lambda x: (label(x[0]), x[1])):
        for w in writes:
            attrs = ", ".join([f"{k}={v!r}" for k, v in sorted(w.attrs.items())]  # a group's members: +adds -removes
                              + [f"{k} +{d['add']} -{d['remove']}" for k, d in sorted(w.delta.items())])
            table.add_row(label(rid), system, w.op, escape(attrs))
    console.print(table)
    console.print(f"{sum(len(w) for _, _, w in owed)} writes for {len({r for r, _, _ in owed})} people; "
                  f"{report.conflicts} conflicts; {report.held_for_review} accounts would be held for review"
                  + ("" if verbose else "; every decision: peoplesync plan --verbose"))


def references_owed(store: Any) -> list[tuple[str, str, str, str]]:
    """(record, field, system, what it names) for every reference a record still owes (`owed_references`)."""
    return [(rid, *owed) for rid in store.all_ids("person") for owed in owed_references(store.load(rid))]


def waiting_references(waiting: list[tuple[str, str, str, str]], label: Callable[[str], str]) -> None:
    for rid, name, system, ref in sorted(waiting, key=lambda w: (label(w[0]), w[1], w[2])):
        console.print(f"owed: {label(rid)} {name} in {system} -> {label(ref)}, once it has a {system} account",
                      highlight=False, markup=False)
    if waiting:
        console.print(f"{len(waiting)} references owed until the person named has an account", highlight=False)


def explain(plan: Any, state: Any, decisions: list[dict[str, Any]], field: str | None,
            label: Callable[[Any], str] = repr) -> None:
    """One block per field: the agreed value, who decides it, and what each system holds; then the
    decision trail. `label` shows a referenced record (a manager) as a person would recognise it."""
    console.print(f"[bold]{state.id}[/] ({state.kind}, {'active' if state.active else 'inactive'}); linked: "
                  + ", ".join(f"{s}={sh.key}" for s, sh in sorted(state.shadows.items())), highlight=False)
    for name, f in plan.fields.get(state.kind, {}).items():
        if field and name != field:
            continue
        value = state.golden.get(name)
        shown = (", ".join(map(label, value)) if isinstance(value, tuple) else label(value)) \
            if f.reference and value else repr(value)
        console.print(f"\n[bold]{name}[/] = {escape(shown)}   source: {', '.join(f.sources)} ({f.apply}); "
                      f"decided by {state.decided_by.get(name, '-')}", highlight=False)
        for system, attr in f.map.items():
            shadow = state.shadows.get(system)
            if shadow is None:
                console.print(f"    {system}.{attr}: (no account)", highlight=False, markup=False)
                continue
            held = shadow.values.get(attr, "(not read)")
            pending = f"   -> {shadow.pending[attr]!r} being written" if attr in shadow.pending else ""
            pending += "".join(f"   (owed: {label(ref)}, once it has a {system} account)"
                               for fld, s, ref in owed_references(state) if fld == name and s == system)
            console.print(f"    {system}.{attr} = {held!r}{pending}", highlight=False, markup=False)
    if decisions:
        console.print("\n[bold]decisions[/]")
    for d in decisions:
        new = label(d["new"]) if isinstance(d["new"], str) and d["new"].startswith(("p-", "g-")) else repr(d["new"])
        line = (f"{d['field']}: add {d['new']}, remove {d['old']} ({d['detail']})" if d["rule"] == "members"
                else f"{d['field']}: {d['old']!r} -> {new} ({d['detail'] or d['rule']})"
                if d["old"] != d["new"] else f"{d['field']}: {new} kept ({d['detail'] or d['rule']})")
        console.print(("[red]conflict[/] " if d["conflict"] else "  ") + escape(line), highlight=False, soft_wrap=True)
