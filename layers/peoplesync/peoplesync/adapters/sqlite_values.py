"""`by_value` of the SQLite store, and inside a batch the fields holding few values answered from memory.

The engine asks, for each account it links or creates, which records wait for it (`references.waiters`: two
or three `by_value` look-ups of the `WAIT` field per save, nearly all finding nobody). Inside a batch the
store holds SQLite's write lock, so the `vals` table changes only through this connection's saves: a field
with at most `SMALL` entries is read once per batch and then kept exact by every save (its entries added and
released are applied to the copy), instead of one query per look-up. A field with more (an employee id, an
e-mail) is asked as before, with the batch's saves not yet written applied to the answer (`sqlite_pending`);
so is every field outside a batch.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING, Any

from .memory import value_key

SMALL = 10_000  # entries of one (kind, field) kept in memory during a batch (a few MB at most)
Entry = tuple[str, str, str]  # (kind, field, value key)


class Values:
    """Mixed into `SqliteStore`, whose connection, lock and batch state it uses."""

    _db: sqlite3.Connection
    _lock: threading.RLock
    _in_batch: bool
    # (kind, field) -> value key -> records, for the open batch; None: a field with too many to keep
    _held: dict[tuple[str, str], dict[str, set[str]] | None]
    _large: set[tuple[str, str]]  # fields found to hold more than SMALL entries

    if TYPE_CHECKING:  # SqliteStore's own, and sqlite_pending's
        def _flush(self) -> None: ...

        def _vals_adjusted(self, kind: str, field: str, value: Any, stored: set[str]) -> set[str]: ...

    def by_value(self, kind: str, field: str, value: Any) -> set[str]:
        with self._lock:
            # (the field's copy looked up here first: the engine asks two or three times a save, nearly always
            # of a field already read in this batch)
            held = self._held.get((kind, field)) if self._in_batch else None
            if held is None and self._in_batch:
                held = self._small(kind, field)
            if held is not None:
                return set(held.get(value_key(value), ()))
            rows = self._db.execute("SELECT rid FROM vals WHERE kind = ? AND field = ? AND value = ?",
                                    (kind, field, value_key(value))).fetchall()
            found = {r[0] for r in rows}
            return self._vals_adjusted(kind, field, value, found) if self._in_batch else found

    def _small(self, kind: str, field: str) -> dict[str, set[str]] | None:
        """The field's entries, read at its first look-up in the batch, if it has no more than `SMALL` (a field
        found to have more is not read again by this process: it is asked entry by entry, as outside a batch)."""
        if (kind, field) not in self._held:
            held: dict[str, set[str]] | None = None
            if (kind, field) not in self._large:
                self._flush()  # the batch's saves written first: the copy is read from SQLite
                rows = self._db.execute("SELECT value, rid FROM vals WHERE kind = ? AND field = ? LIMIT ?",
                                        (kind, field, SMALL + 1)).fetchall()
                if len(rows) > SMALL:
                    self._large.add((kind, field))
                else:
                    held = {}
                    for value, rid in rows:
                        held.setdefault(value, set()).add(rid)
            self._held[(kind, field)] = held
        return self._held[(kind, field)]

    def _values_saved(self, rid: str, added: set[Entry], released: set[Entry]) -> None:
        """A save's entries written (`added`) and deleted (`released`), as the batch's copies must show them."""
        if not self._held:
            return
        for kind, field, value in released:
            held = self._held.get((kind, field))
            if held is not None and value in held:
                held[value].discard(rid)
                if not held[value]:
                    del held[value]
        for kind, field, value in added:
            held = self._held.get((kind, field))
            if held is not None:
                held.setdefault(value, set()).add(rid)
