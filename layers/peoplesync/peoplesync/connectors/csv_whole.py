"""Is a CSV file whole? And cells that a spreadsheet would run as formulas.

`parse(text, ...)` turns a file's text into (columns, rows) or raises `Suspect` with the reason a reader must
not take the file as complete:
- a trailer line was configured and is missing, or the number of rows it declares is not the number found;
- the last line is not ended by a line break (`require_final_newline`): a file cut anywhere in its last row,
  a truncated e-mail included, looks like this;
- a quoted field is not closed at the end of the file (a cut inside quotes);
- a row has more or fewer fields than the header.

`neutralise(value)` / `restore(value)`: OWASP's rule against CSV injection. A cell starting with `=`, `+`,
`-`, `@`, a tab or a carriage return is written with a single quote in front, so that a spreadsheet shows it
as text; a cell starting with quotes followed by such a character gets one more quote, so that reading back
(`restore`, which removes exactly one quote from a cell that starts with quotes and then a trigger) gives the
value written, and a value that happens to start with a quote (O'Brien, 'quoted') is never changed. A plain
number or phone number (`+44 20 7946 0000`, `-12.5`: digits, spaces and `+-.,()/` only) is left as it is:
with no letter and no `=`/`@`/`|`, a spreadsheet has nothing to call.
"""

from __future__ import annotations

import csv
import io
import re

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_FIRSTS = frozenset("=+-@\t\r'")  # what a cell `neutralise` may change starts with
_QUOTED_TRIGGER = re.compile(r"^'+[=+\-@\t\r]")
_NEUTRALISED = re.compile(r"'[=+\-@\t\r]")  # in every cell `restore` changes (and in few others)
_PLAIN_NUMBER = re.compile(r"^[+-][0-9 +\-.,()/]*[0-9][0-9 +\-.,()/]*$")


class Suspect(Exception):
    """The file is not known to be whole; the text says why (never the file's contents)."""


def neutralise(value: str) -> str:
    """The cell as written: a leading formula trigger made inert with a single quote."""
    if not value:
        return value
    if value[0] in TRIGGERS and not _PLAIN_NUMBER.match(value):
        return "'" + value
    if value[0] == "'" and _QUOTED_TRIGGER.match(value):
        return "'" + value
    return value


def neutralised_in(text: str) -> bool:
    """May a cell of this text be one `neutralise` changed? (False: no cell needs `restore`.)"""
    return _NEUTRALISED.search(text) is not None


def restore(value: str) -> str:
    """The cell as read: the quote `neutralise` added removed (only that one)."""
    return value[1:] if value and _QUOTED_TRIGGER.match(value) else value


def render(columns: list[str], rows: list[dict[str, str]], *, delimiter: str, formulas: bool = True,
           lines: dict[str, str] | None = None, key: str = "") -> str:
    """The file's text: a header and the rows, cells neutralised (`formulas`), lines ended by "\\n". A row with
    a carriage return in a cell is written fully quoted (the csv module quotes only the line terminator's
    characters, and a bare CR would end the row for a reader). `lines`: each row's line by its `key` cell,
    rendered before with these columns (used as is), and filled in with the rows rendered now."""
    line = _Line()
    plain = csv.writer(line, delimiter=delimiter, lineterminator="\n")
    quoted = csv.writer(line, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
    plain.writerow(columns)
    out = [line.text]
    firsts = _FIRSTS if formulas else frozenset()  # a cell starting otherwise is written as it is
    known = lines if lines is not None else {}
    for row in rows:
        name = row.get(key, "") if lines is not None else ""
        text = known.get(name) if name else None
        if text is None:
            values = [(neutralise(v) if v and v[0] in firsts else v) if isinstance(v, str) else
                      ("" if v is None else str(v)) for v in (row.get(c) for c in columns)]
            plain.writerow(values)
            if "\r" in line.text:  # a cell held one: the plain writer left it bare (it quotes "\n" only)
                quoted.writerow(values)
            text = line.text
            if name:
                known[name] = text
        out.append(text)
    return "".join(out)


class _Line:
    """What a `csv.writer` writes to: the line of the row it wrote last (it writes each row in one call)."""

    text = ""

    def write(self, text: str) -> int:
        self.text = text
        return len(text)


def parse(text: str, *, delimiter: str, trailer: str | None = None, require_final_newline: bool = True,
          formulas: bool = True) -> tuple[list[str], list[dict[str, str]]]:
    """(columns, rows) of a whole file, cells restored (`formulas`); `Suspect` when it may not be whole."""
    columns, records = parse_records(text, delimiter=delimiter, trailer=trailer,
                                     require_final_newline=require_final_newline, formulas=formulas)
    return columns, [dict(zip(columns, r, strict=True)) for r in records]


def parse_records(text: str, *, delimiter: str, trailer: str | None = None, require_final_newline: bool = True,
                  formulas: bool = True) -> tuple[list[str], list[list[str]]]:
    """`parse` without a dict per row: (columns, each row's cells in the columns' order). What a read needs
    (the cells it maps are taken by position), at about the cost of `csv.reader` itself."""
    body, declared = body_of(text, trailer=trailer, require_final_newline=require_final_newline)
    try:
        records = list(csv.reader(io.StringIO(body, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise Suspect(f"it does not parse as CSV ({exc}): the file may have been cut in a quoted field") from None
    if [] in records:
        records = [r for r in records if r]  # blank lines are no rows
    if not records:
        return [], []
    columns, rows = records[0], records[1:]
    check_widths(columns, rows, len(records))
    if formulas and _NEUTRALISED.search(body):  # else no cell starts with quotes and a trigger: none to restore
        rows = [[restore(c) for c in r] for r in rows]
    if declared is not None and declared != len(rows):
        raise Suspect(f"its trailer declares {declared} rows but {len(rows)} were found")
    return columns, rows


def body_of(text: str, *, trailer: str | None, require_final_newline: bool) -> tuple[str, int | None]:
    """(the text without its trailer line, the row count the trailer declares); `Suspect` when the trailer is
    missing or the last line is not ended."""
    if trailer:
        return _split_trailer(text, trailer)
    if require_final_newline and text and not text.endswith(("\n", "\r")):
        raise Suspect("its last line has no line break: the file may have been cut in its last row")
    return text, None


def check_widths(columns: list[str], rows: list[list[str]], total: int) -> None:
    """`Suspect` unless every row has the header's number of fields (`total`: the records in the file)."""
    if set(map(len, rows)) - {len(columns)}:
        for number, record in enumerate(rows, start=2):
            if len(record) != len(columns):
                where = "its last row" if number == total else f"record {number}"
                raise Suspect(f"{where} has {len(record)} fields where the header has {len(columns)}")


def _split_trailer(text: str, trailer: str) -> tuple[str, int | None]:
    """(the text before the trailer line, the row count the trailer declares or None)."""
    lines = text.rstrip("\r\n").rsplit("\n", 1)
    last = lines[-1].rstrip("\r")
    match = re.fullmatch(trailer, last) or re.match(trailer, last)
    if match is None:
        raise Suspect("its trailer line is missing: the export may not be finished")
    count = match.groupdict().get("count")
    body = lines[0] + "\n" if len(lines) > 1 else ""
    return body, int(count) if count is not None else None
