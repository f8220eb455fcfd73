"""A CSV read by position: where each record (a list of cells, `csv_whole.parse_records`) holds the key, the
state and the mapped attributes, found once per read, so a read builds no dict per row; and the short hash of
each row the delta cursor keeps."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..model import Observation

if TYPE_CHECKING:
    from .csv_file import CsvConnector

_UNSEEN: Any = object()


class Layout:
    """Where one read finds, in each record (a list of cells), what it needs: the key, the state, the mapped
    attributes (in the connector's attribute order, as a row's observation always listed them)."""

    def __init__(self, conn: CsvConnector, columns: list[str]) -> None:
        where = {c: i for i, c in enumerate(columns)}  # a repeated column: its last place, as a row dict
        self.name = conn.name
        self.key = where[conn.s.key]
        self.attrs = [(a, where[a]) for a in conn.attributes if a in where]
        self.active = where.get(conn.s.active_column) if conn.s.active_column else None
        hashed = [i for _, i in self.attrs] + ([self.active] if self.active is not None else [])
        self._cells: Callable[[list[str]], Any] = (
            itemgetter(*hashed) if len(hashed) > 1 else (lambda r: tuple(r[i] for i in hashed)))
        # which columns the hashed cells are: a file that gains or loses a mapped column changes every hash
        layout = repr([(a, a in where) for a in [*conn.attributes, conn.s.active_column]])
        self._person = hashlib.blake2b(layout.encode(), digest_size=16).digest()

    def by_state(self, records: list[list[str]], judge: Callable[[str], bool | None]
                 ) -> tuple[list[list[str]], list[bool], set[str]]:
        """(records whose state is known, their states, keys of records whose state is unknown); `judge`: a
        state cell's meaning (None: unknown)."""
        if self.active is None:
            return records, [True] * len(records), set()
        states: dict[str, bool | None] = {}  # a column of a few distinct values: each judged once
        known, active, unknown = [], [], set()
        at, key = self.active, self.key
        for record in records:
            cell = record[at]
            state = states.get(cell, _UNSEEN)
            if state is _UNSEEN:
                state = states[cell] = judge(cell)
            if state is None:
                unknown.add(record[key])
            else:
                known.append(record)
                active.append(state)
        return known, active, unknown

    def observation(self, record: list[str], active: bool) -> Observation:
        # a column the file lacks is absent from the read, not blank (absent says nothing; blank may clear)
        return Observation(self.name, record[self.key], {a: (record[i] or None) for a, i in self.attrs},
                           active=active)

    def hashes(self, records: list[list[str]]) -> dict[str, str]:
        """A short hash of each record's mapped and state cells (by key): the delta cursor."""
        cells, person, key, blake2b = self._cells, self._person, self.key, hashlib.blake2b
        return {r[key]: blake2b("\x1f".join(cells(r)).encode(), digest_size=6, person=person).hexdigest()
                for r in records}
