"""The whole page: the mapping drawn, the run (or plan) in numbers, and every decision per person and field,
with a search box. One self-contained HTML file: inline CSS, SVG and a few lines of script, nothing fetched.

Pure: the report data (`gather.py`) in, text out; no clock, no randomness, so two runs that did the same thing
give the same bytes, and a diff of two pages shows what changed."""

from __future__ import annotations

from html import escape
from typing import Any

from . import style
from .gather import duration as _duration
from .svg import draw


def _q(value: Any) -> str:
    return escape(str(value), quote=True)


def _show(value: Any) -> str:
    if value is None:
        return "(blank)"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def render(data: dict[str, Any]) -> str:
    title = f"peoplesync: {data.get('title', 'report')}"
    body = [f"<h1>{_q(title)}</h1>", _summary_line(data), "<h2>The mapping</h2>",
            '<div class="drawing">' + draw(data["mapping"]) + "</div>", _policies(data["mapping"])]
    if data.get("run"):
        body += _run(data["run"])
    body += _people(data.get("people", []), int(data.get("people_total") or 0))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # nothing may be fetched: the page works offline and from a mail attachment
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_q(title)}</title>", f"<style>{style.CSS}</style>", "</head>", "<body>", *body,
        f"<script>{style.SCRIPT}</script>", "</body>", "</html>", ""])


def _summary_line(data: dict[str, Any]) -> str:
    m = data["mapping"]
    fields = sum(len(k["fields"]) for k in m["kinds"])
    what = {"sync": "a sync", "plan": "a plan (nothing written)", "state": "the state as stored"}.get(
        (data.get("run") or {}).get("kind", "state"), "the state")
    return (f'<p class="meta">{len(m["systems"])} systems, {fields} fields, configuration fingerprint '
            f'<code>{_q(m["fingerprint"])}</code>; this page shows {_q(what)}.</p>')


def _policies(m: dict[str, Any]) -> str:
    p = m["policies"]
    items = [f"unmatched accounts: <b>{_q(p['unmatched'])}</b>", f"ambiguous matches: <b>{_q(p['ambiguous'])}</b>",
             f"removed from a lifecycle source: <b>{_q(p['removed'])}</b>",
             f"change guard: <b>{_q(p['max_changes_per_run'])}</b> people per run"]
    for kind in m["kinds"]:
        who = "people" if kind["kind"] == "person" else f"{kind['kind']}s"
        items.insert(0, f"{_q(who)} matched by <b>{_q(' then '.join(kind['match']) or '(none)')}</b>; "
                        f"lifecycle source <b>{_q(', '.join(kind['lifecycle']) or '(none)')}</b>")
    return '<ul class="policies">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _table(cls: str, head: list[str], rows: list[list[str]]) -> str:
    out = [f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{_q(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    return "\n".join([*out, "</tbody></table>"])


OPS = ("create", "update", "deactivate", "activate", "delete", "membership")


def _run(run: dict[str, Any]) -> list[str]:
    head = "The plan: what a sync would do" if run["kind"] == "plan" else (
        "The run" if run["kind"] == "sync" else "Waiting in the state")
    out = [f"<h2>{_q(head)}{' (full reconciliation)' if run.get('full') else ''}</h2>"]
    if run["kind"] == "state":  # no run: only what waits (owed writes, reviews, dead letters)
        return out + _lists(run)
    rows = []
    for s in run["systems"]:
        ops = s.get("ops", {})
        failed = s.get("failed")
        rows.append([f"<b>{_q(s['name'])}</b>", _q("-" if s.get("read") is None else s["read"]),
                     *[_q(ops.get(op, 0)) for op in OPS],
                     f'<span class="bad">{_q(failed)}</span>' if failed else "ok"])
    out.append(_table("systems", ["system", "accounts read", "creates", "updates", "deactivations", "activations",
                                  "deletions", "membership changes", "read"], rows))
    out.append(_guard(run.get("guard") or {}))
    out += _lists(run)
    return out


def _guard(g: dict[str, Any]) -> str:
    if not g:
        return ""
    if g.get("policy") is None:
        return '<p class="guard">Change guard: off (max_changes_per_run: null).</p>'
    limit = "not limited (nobody known before the run)" if g.get("limit") is None else f"at most {g['limit']} people"
    state = (f'<span class="bad">held the run: {_q(g["held"])}</span>' if g.get("held")
             else '<span class="good">did not hold the run</span>')
    return (f'<p class="guard">Change guard: max_changes_per_run = <b>{_q(g["policy"])}</b> of '
            f'{_q(g.get("population", 0))} people known: {_q(limit)}; {state}.</p>')


def _lists(run: dict[str, Any]) -> list[str]:
    out = []
    owed = run.get("owed") or []
    if owed:
        out.append("<h3>Owed writes per target</h3>")
        out.append(_table("owed", ["target", "writes", "people", "rate limit", "time at that rate"], [
            [_q(o["system"]), _q(o["writes"]), _q(o["people"]),
             _q(f"{o['per_minute']:g} requests/min") if o.get("per_minute") else "none configured",
             _q(_duration(o["seconds"])) if o.get("seconds") is not None else "-"] for o in owed]))
    reviews = run.get("reviews") or []
    out.append(f"<h3>Held for review ({len(reviews)})</h3>")
    if reviews:
        out.append(_table("reviews", ["item", "why", "candidates"], [
            [_q(r["id"]), _q(r.get("reason", "")), _q(", ".join(r.get("candidates") or []) or "-")] for r in reviews]))
    letters = run.get("dead_letters") or []
    out.append(f"<h3>Dead letters ({len(letters)})</h3>")
    if letters:
        out.append(_table("dead-letters", ["person", "system", "reason"], [
            [_q(d.get("record", "")), _q(d.get("system", "")), _q(d.get("reason", ""))] for d in letters]))
    for error in run.get("errors") or []:
        out.append(f'<p class="bad">error: {_q(error)}</p>')
    return out


def _people(people: list[dict[str, Any]], total: int = 0) -> list[str]:
    rows = []
    for p in people:
        for f in p["fields"]:
            text = " ".join(str(v) for v in (p["label"], p["id"], f["field"], _show(f.get("old")), _show(f.get("new")),
                                               f.get("system") or "", f.get("rule") or "", f.get("detail") or ""))
            cls = "conflict" if f.get("conflict") else ("same" if f.get("note") else "")
            change = (f'{_q(_show(f["old"]))} <span class="to">\u2192</span> {_q(_show(f["new"]))}'
                      if f.get("old") != f.get("new") else f"{_q(_show(f.get('new')))} kept")
            why = _q(f.get("detail") or f.get("rule") or "")
            if f.get("conflict"):
                why = f'<b>conflict</b>: {why}' + (f"; lost: {_q(_show(f['lost']))}" if "lost" in f else "")
            if f.get("note"):
                why = _q(f["note"])
            rows.append(f'<tr class="{cls}" data-search="{_q(text.lower())}"><td>{_q(p["label"])}</td>'
                        f'<td>{_q(f["field"])}</td><td>{change}</td><td>{_q(f.get("system") or "-")}</td>'
                        f'<td>{_q(f.get("rule") or "")}</td><td>{why}</td></tr>')
    more = ([f'<p class="more">{len(people)} of {total} people listed (the first by record id); '
             "<code>peoplesync explain CONFIG PERSON</code> answers for anyone.</p>"] if total > len(people) else [])
    return ["<h2>Per person, per field</h2>", *more,
            '<p><input id="search" type="search" placeholder="search: a person, a field, a system, a value" '
            f'autocomplete="off"> <span id="shown">{len(rows)} rows</span></p>',
            '<table id="decisions" class="decisions"><thead><tr><th>person</th><th>field</th><th>old \u2192 new</th>'
            "<th>decided by</th><th>rule</th><th>why</th></tr></thead><tbody>", *rows, "</tbody></table>"]
