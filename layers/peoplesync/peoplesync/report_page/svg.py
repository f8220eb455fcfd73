"""The mapping drawn as inline SVG: one column per system, one row per field, an arc from each field's source to
every system that carries it (a double arc below the cells between the sources of a two-way field, the winner
starred). Every element a reader (or a test) may want names itself in `data-*` attributes: `data-system`,
`data-field`, `data-role`, `data-from`, `data-to`, `data-two-way`.

Pure: the mapping data of `mapping.mapping` in, SVG text out; integer coordinates, fixed order, so the same
configuration draws the same bytes."""

from __future__ import annotations

from html import escape
from typing import Any

LABEL_W = 250  # the field names and their badges
COL_W = 150
CELL_W, CELL_H = 124, 26
HEAD_H = 86
ROW_H = 84
CELL_Y = 40  # the cell's centre below the row's top: room for arcs above (one-way) and below (two-way)
KIND_H = 30
FOOT_H = 96


def _q(value: Any) -> str:
    return escape(str(value), quote=True)


def _short(text: str, n: int = 19) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def draw(data: dict[str, Any]) -> str:
    systems = [s["name"] for s in data["systems"]]
    x = {name: LABEL_W + i * COL_W + COL_W // 2 for i, name in enumerate(systems)}
    width = LABEL_W + COL_W * len(systems) + 20
    parts: list[str] = []
    y = HEAD_H
    for kind in data["kinds"]:
        if len(data["kinds"]) > 1 or kind["kind"] != "person":
            parts.append(f'<text class="kind" x="8" y="{y + 20}">{_q(kind["kind"])}s</text>')
            y += KIND_H
        for row in kind["fields"]:
            parts.append(_row(row, kind, x, y, width))
            y += ROW_H
    height = y + FOOT_H
    head = [_header(s, x[s["name"]]) for s in data["systems"]]
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" class="mapping" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="field mapping">',
        _defs(), *head, *parts, _footer(data, y, width), "</svg>"])


def _defs() -> str:
    return ('<defs>'
            '<marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker>'
            '<marker id="head-2" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead two"/></marker>'
            '</defs>')


def _header(system: dict[str, Any], cx: int) -> str:
    flags = []
    if system["lifecycle"]:
        flags.append("lifecycle source")
    if system["push"]:
        flags.append("pushes (SCIM)")
    elif not system["writable"]:
        flags.append("read-only")
    if system["provision"]:
        flags.append("creates accounts")
    lines = [f'<text class="sys-name" x="{cx}" y="22">{_q(system["name"])}</text>',
             f'<text class="sys-sub" x="{cx}" y="40">{_q(system["connector"])}</text>']
    lines += [f'<text class="sys-flag" x="{cx}" y="{56 + 14 * i}">{_q(f)}</text>' for i, f in enumerate(flags[:2])]
    return (f'<g class="system" data-system="{_q(system["name"])}" data-x="{cx}" '
            f'data-writable="{str(system["writable"]).lower()}" data-lifecycle="{str(system["lifecycle"]).lower()}">'
            + "".join(lines) + "</g>")


def _row(row: dict[str, Any], kind: dict[str, Any], x: dict[str, int], top: int, width: int) -> str:
    cy = top + CELL_Y
    badges = list(row["badges"])
    if row["name"] in kind["match"]:
        badges.insert(0, f"match #{kind['match'].index(row['name']) + 1}")
    out = [f'<g class="field" data-field="{_q(row["name"])}" data-kind="{_q(kind["kind"])}" data-y="{cy}">',
           f'<line class="row-rule" x1="0" y1="{top + ROW_H}" x2="{width}" y2="{top + ROW_H}"/>',
           f'<text class="field-name" x="8" y="{cy - 4}">{_q(row["name"])}</text>']
    bx = 8
    for badge in badges:  # small pills under the field's name
        w = 7 * len(badge) + 10
        if bx + w > LABEL_W - 6:
            break
        out.append(f'<g class="badge" data-badge="{_q(badge)}"><rect x="{bx}" y="{cy + 4}" width="{w}" height="16" '
                   f'rx="8"/><text x="{bx + w // 2}" y="{cy + 16}">{_q(badge)}</text></g>')
        bx += w + 4
    for arrow in row["arrows"]:
        out.append(_arrow(row["name"], arrow, x, cy))
    for system, cx in x.items():
        out.append(_cell(row, system, cx, cy))
    out.append("</g>")
    return "\n".join(out)


def _arrow(field: str, arrow: dict[str, Any], x: dict[str, int], cy: int) -> str:
    x1, x2 = x[arrow["from"]], x[arrow["to"]]
    span = abs(x2 - x1) // COL_W
    h = min(34, 12 + 5 * span)
    if arrow["two_way"]:  # below the cells, heads at both ends
        y0, cy1 = cy + CELL_H // 2, cy + CELL_H // 2 + h
        cls, marks = "arrow two-way", 'marker-start="url(#head-2)" marker-end="url(#head-2)"'
    else:
        y0, cy1 = cy - CELL_H // 2, cy - CELL_H // 2 - h
        cls = "arrow" + ("" if arrow.get("written", True) else " not-written")
        marks = 'marker-end="url(#head)"'
    # leave the source further out the further the target, so arcs of one row part; enter beside the centre
    sign = 1 if x2 > x1 else -1
    out = min(CELL_W // 2 - 6, 6 + 12 * (span - 1))
    d = f"M{x1 + sign * out},{y0} C{x1 + sign * out},{cy1} {x2 - sign * 8},{cy1} {x2 - sign * 8},{y0}"
    title = (f"{field}: two-way between {arrow['from']} and {arrow['to']}, {arrow['from']} wins" if arrow["two_way"]
             else f"{field}: {arrow['from']} -> {arrow['to']}"
             + ("" if arrow.get("written", True) else f" (not written: {arrow['to']} is read-only)"))
    return (f'<path class="{cls}" d="{d}" {marks} data-field="{_q(field)}" data-from="{_q(arrow["from"])}" '
            f'data-to="{_q(arrow["to"])}" data-two-way="{str(arrow["two_way"]).lower()}">'
            f"<title>{_q(title)}</title></path>")


def _cell(row: dict[str, Any], system: str, cx: int, cy: int) -> str:
    cell = row["cells"].get(system)
    left, top = cx - CELL_W // 2, cy - CELL_H // 2
    if cell is None:
        return (f'<g class="cell untouched" data-field="{_q(row["name"])}" data-system="{_q(system)}" '
                f'data-role="never touched"><title>{_q(system)} does not carry {_q(row["name"])}: never read, '
                f'never written</title><rect x="{left}" y="{top}" width="{CELL_W}" height="{CELL_H}" rx="5"/>'
                f'<text x="{cx}" y="{cy + 4}">never touched</text></g>')
    winner = row["winner"] == system
    room = 13 if winner or cell["role"] == "source" else 17  # bold text is wider
    label = ("\u2605 " if winner else "") + _short(cell["attr"], room)
    title = f"{system}.{cell['attr']}: {cell['role']}"
    if winner:
        title += " (wins a conflict)"
    if cell["transform"]:
        title += f"; transform: {cell['transform']}"
    extra = ""
    if cell["transform"]:
        extra = (f'<g class="badge transform"><rect x="{left + CELL_W - 14}" y="{top - 8}" width="20" height="16" '
                 f'rx="8"/><text x="{left + CELL_W - 4}" y="{top + 4}">f</text></g>')
    role = cell["role"] + (" winner" if winner else "")
    return (f'<g class="cell {_q(role)}" data-field="{_q(row["name"])}" data-system="{_q(system)}" '
            f'data-role="{_q(cell["role"])}" data-winner="{str(winner).lower()}" data-attr="{_q(cell["attr"])}">'
            f'<title>{_q(title)}</title><rect x="{left}" y="{top}" width="{CELL_W}" height="{CELL_H}" rx="5"/>'
            f'<text x="{cx}" y="{cy + 4}">{_q(label)}</text>{extra}</g>')


def _footer(data: dict[str, Any], y: int, width: int) -> str:
    lines = []
    for kind in data["kinds"]:
        match = " then ".join(kind["match"]) or "(none)"
        life = ", ".join(kind["lifecycle"]) or "(none)"
        who = "people" if kind["kind"] == "person" else f"{kind['kind']}s"
        lines.append(f"{who}: matched by {match}; lifecycle (who exists) from {life}")
    lines.append("\u2192 copied from the source (dashed: the target is read-only, never written)   "
                 "\u2194 two-way (\u2605 wins a conflict)   f: transformed   grey: never touched")
    text = "".join(f'<text class="foot" x="8" y="{y + 24 + 20 * i}">{_q(line)}</text>' for i, line in enumerate(lines))
    return f'<g class="legend">{text}</g>'
