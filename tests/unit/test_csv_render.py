"""`csv_whole.render`: the text of a CSV file as the connector writes it. Its cells are neutralised only where
they start with a character `neutralise` may change, and a row is written fully quoted only when a cell holds a
carriage return: the text must be the one the straightforward rendering gives (each cell neutralised, the row
quoted when any cell holds a CR), for every kind of cell, with and without `formulas`, and read back."""

from __future__ import annotations

import csv
import io

import pytest

from peoplesync.connectors.csv_whole import neutralise, parse, render

CELLS = ["", "plain", "Zoë O'Brien", "'quoted", "''=x", "'=SUM(A1)", "=SUM(A1)", "+44 20 7946 0000", "+cmd|' /C calc'!A0",
         "-12.5", "-x", "@SUM", "\tlead tab", "\rlead cr", "in\rside", "line\nbreak", 'say "hi"', "a,b", "semi;colon",
         "'", "=", "+", "-", "@", None, 7]


def straightforward(columns: list[str], rows: list[dict], *, formulas: bool) -> str:
    """The rendering before the fast path: every str cell through `neutralise`, a row quoted if a cell has CR."""
    out = io.StringIO()
    plain = csv.writer(out, delimiter=",", lineterminator="\n")
    quoted = csv.writer(out, delimiter=",", lineterminator="\n", quoting=csv.QUOTE_ALL)
    plain.writerow(columns)
    for row in rows:
        values = [(neutralise(v) if formulas else str(v)) if isinstance(v, str) else ("" if v is None else str(v))
                  for v in (row.get(c) for c in columns)]
        (quoted if any("\r" in v for v in values) else plain).writerow(values)
    return out.getvalue()


@pytest.mark.parametrize("formulas", [True, False])
def test_given_cells_of_every_kind_then_the_text_is_the_straightforward_rendering(formulas: bool) -> None:
    columns = ["id", "a", "b"]
    rows = [{"id": f"k{i}", "a": cell, "b": CELLS[(i * 7) % len(CELLS)]} for i, cell in enumerate(CELLS)]
    rows.append({"id": "short"})  # a missing cell: written empty
    lines: dict[str, str] = {}
    text = render(columns, rows, delimiter=",", formulas=formulas, lines=lines, key="id")
    assert text == straightforward(columns, rows, formulas=formulas)
    assert render(columns, rows, delimiter=",", formulas=formulas, lines=lines, key="id") == text  # lines kept
    if formulas:
        _, back = parse(text, delimiter=",")
        assert [r["a"] for r in back[:-1]] == ["" if c is None else str(c) for c in CELLS]  # as given
