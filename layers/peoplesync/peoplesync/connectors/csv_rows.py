"""A CSV read by position, and by line when it can.

`parse_items` gives each record of a whole file with the short hash the delta cursor keeps for it. When every
line is one record (no cell holds a line break, every line ends alike), the hash is the raw line's, and a line
whose hash the cursor holds (a row read before, unchanged) is not parsed at all: a delta read of a file where
little changed costs about a split and a hash per line. A line is taken as one record only once it is known to
parse alone: a line without a quote does; a line with one is parsed alone (a line that leaves a quoted cell
open sends the whole file to the general path); a line in the cursor did when it was first read. So the first
line of a record spanning lines is always caught, and with it every record after. Otherwise (the general path)
every record is parsed (`csv_whole.parse_records`) and hashed over its cells. The two kinds of hash never meet:
a cursor of the other kind makes every row read as changed, once.

`Layout`: where each record (a list of cells) holds the key, the state and the mapped attributes, found once
per read, so a read builds no dict per row."""

from __future__ import annotations

import contextlib
import csv
import gc
import hashlib
from collections.abc import Callable, Container, Iterator
from typing import TYPE_CHECKING, Any

from ..model import Observation
from . import csv_whole

if TYPE_CHECKING:
    from .csv_file import CsvConnector

_UNSEEN: Any = object()
Item = tuple[str, "list[str] | None"]  # (the row's hash, its cells; None: a line the cursor holds, not parsed)


def parse_items(text: str, *, delimiter: str, trailer: str | None = None, require_final_newline: bool = True,
                formulas: bool = True, skip: Container[str] = (), same: str | None = None
                ) -> tuple[list[str], tuple[str, list[Item] | None, str | None]]:
    """(columns, (the kind of hashes, each record's (hash, cells))) of a whole file; a line whose hash is in
    `skip` is not parsed (cells None). `csv_whole.Suspect` as `csv_whole.parse_records`. The kind names the
    path and the header: a cursor of another kind holds no hash of this read (`skip` is then ignored). The
    third element: the whole text's digest on the line path (else None); when it is `same` (the digest of
    the text the cursor was taken from, which read whole on the line path) nothing is parsed: items None."""
    body, declared = csv_whole.body_of(text, trailer=trailer, require_final_newline=require_final_newline)
    end = _ends(body)
    whole = hashlib.blake2b(text.encode(), digest_size=16).hexdigest() if end is not None else None
    if same is not None and whole == same:  # the very text: its header, and its kind, are those it had
        first = next((line for line in body.split(end, 1) if line), None)
        header = None if first is None else _alone(first, delimiter)
        if first is not None and header is not None:
            return header, (_kind("line", first), None, whole)
    lined = _by_line(body, end, delimiter, skip)
    if lined is None:  # the general path
        columns, records = csv_whole.parse_records(text, delimiter=delimiter, trailer=trailer,
                                                   require_final_newline=require_final_newline, formulas=formulas)
        return columns, (_kind("cells", "\x1f".join(columns)), [(_hash("\x1f".join(r)), r) for r in records],
                         None)
    columns, kind, items = lined
    parsed = [cells for _, cells in items if cells is not None]
    csv_whole.check_widths(columns, parsed, len(items) + 1)
    if formulas and csv_whole.neutralised_in(body):
        items = [(h, cells if cells is None else [csv_whole.restore(c) for c in cells]) for h, cells in items]
    if declared is not None and declared != len(items):
        raise csv_whole.Suspect(f"its trailer declares {declared} rows but {len(items)} were found")
    return columns, (kind, items, whole)


def _ends(body: str) -> str | None:
    """How every line of the text ends ("\n" or "\r\n"), or None: mixed, or a bare CR somewhere."""
    if "\r" not in body:
        return "\n"
    crlf = body.count("\r\n")
    return "\r\n" if crlf == body.count("\r") == body.count("\n") else None


def _by_line(body: str, end: str | None, delimiter: str, skip: Container[str]
             ) -> tuple[list[str], str, list[Item]] | None:
    """The line path of `parse_items`; None: a line may not be one record (the general path then). A line's
    hash is of its text without its end: the same row ended either way is the same row."""
    if end is None:
        return None
    lines = [line for line in body.split(end) if line]  # blank lines are no rows
    if not lines:
        return [], "", []
    header = _alone(lines[0], delimiter)
    if header is None:
        return None
    items: list[Item] = []
    blake2b = hashlib.blake2b  # `_hash` inlined: one call fewer per line of the file
    for line in lines[1:]:
        h = blake2b(line.encode(), digest_size=6).hexdigest()
        if h in skip:
            items.append((h, None))
            continue
        cells = _alone(line, delimiter)
        if cells is None:
            return None
        items.append((h, cells))
    return header, _kind("line", lines[0]), items


def _alone(line: str, delimiter: str) -> list[str] | None:
    """The line's cells when it is one whole record by itself; None when it leaves a quoted cell open."""
    if '"' not in line:
        return line.split(delimiter)
    reader = csv.reader([line], delimiter=delimiter, strict=True)
    try:
        cells = next(reader)
        if next(reader, None) is not None:
            return None
    except csv.Error:
        return None  # an open quote (a cell going on in the next line), or no CSV at all: the general path
    return cells


def _kind(path: str, header: str) -> str:
    # the path and the header: a file whose columns change reads as changed in every row
    return hashlib.blake2b(f"{path}\x00{header}".encode(), digest_size=8).hexdigest()


def _hash(text: str) -> str:  # as `_by_line` hashes a line
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


class Layout:
    """Where one read finds, in each record (a list of cells), what it needs: the key, the state, the mapped
    attributes (in the connector's attribute order, as a row's observation always listed them)."""

    def __init__(self, conn: CsvConnector, columns: list[str]) -> None:
        where = {c: i for i, c in enumerate(columns)}  # a repeated column: its last place, as a row dict
        self.name = conn.name
        self.key = where[conn.s.key]
        self.attrs = [(a, where[a]) for a in conn.attributes if a in where]
        self.active = where.get(conn.s.active_column) if conn.s.active_column else None

    def split(self, items: list[Item], before: dict[str, str], judge: Callable[[str], bool | None]
              ) -> tuple[dict[str, str], list[tuple[list[str], bool]], set[str]]:
        """(the delta cursor: key -> hash of every row whose state is known; the parsed records whose state is
        known, each with it; keys of records whose state is unknown). A line not parsed (the cursor holds its
        hash: `before`, key -> hash) is the row the cursor knew, unchanged; `judge`: a state cell's meaning."""
        known: dict[str, str] = {}
        parsed: list[tuple[list[str], bool]] = []
        unknown: set[str] = set()
        keys = {h: k for k, h in before.items()} if before else {}
        states: dict[str, bool | None] = {}  # a column of a few distinct values: each judged once
        at, key = self.active, self.key
        for h, cells in items:
            if cells is None:
                known[keys[h]] = h
                continue
            state: bool | None = True
            if at is not None:
                state = states.get(cells[at], _UNSEEN)
                if state is _UNSEEN:
                    state = states[cells[at]] = judge(cells[at])
            if state is None:
                unknown.add(cells[key])
            else:
                known[cells[key]] = h
                parsed.append((cells, state))
        return known, parsed, unknown

    def observation(self, record: list[str], active: bool) -> Observation:
        # a column the file lacks is absent from the read, not blank (absent says nothing; blank may clear)
        return Observation(self.name, record[self.key], {a: (record[i] or None) for a, i in self.attrs},
                           active=active)


class CursorMemo:
    """Mixed into the CSV connector before `BaseConnector`. A read whose cursor state is the one it was given
    (nothing changed in the file) returns the given cursor string, not a new encoding of the same state (JSON
    and zlib of a hash per row: most of a quiet read's cost). Kept: the cursor string and a copy of its state
    (a copy: the caller's dict may change; a copy of str -> str is cheap), set as one tuple."""

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        """The read with the cyclic collector paused (as the LDAP read): a read allocates a list and a tuple
        per row, all acyclic, and each collection would rescan everything alive (at 20,000 rows a third of
        the read)."""
        paused = gc.isenabled()
        gc.disable()
        try:
            with super()._session():  # type: ignore[misc]
                yield
        finally:
            if paused:
                gc.enable()

    def _decode(self, cursor: str | None) -> dict[str, Any] | None:
        state: dict[str, Any] | None = super()._decode(cursor)  # type: ignore[misc]
        hashes = (state or {}).get("h")
        if cursor and state is not None and isinstance(hashes, dict) and set(state) <= {"h", "k", "f"}:
            self._memo: tuple[str, dict[str, Any]] | None = (cursor, {**state, "h": dict(hashes)})
        return state

    def _encode(self, state: Any) -> str | None:
        memo = getattr(self, "_memo", None)
        if memo is not None and state is not None and state == memo[1]:
            return memo[0]  # decodes to exactly this state
        encoded: str | None = super()._encode(state)  # type: ignore[misc]
        return encoded
