"""`by_value` of the SQLite store, and inside a batch the fields holding few values answered from memory.

The engine asks, for each account it links or creates, which records wait for it (`references.waiters`: two
or three `by_value` look-ups of the `WAIT` field per save, nearly all finding nobody). Inside a batch the
store holds SQLite's write lock, so the `vals` table changes only through this connection's saves: a field
with at most `SMALL` entries is read once per batch and then kept exact by every save (its entries added and
released are applied to the copy), instead of one query per look-up. A field with more (an employee id, an
e-mail) is asked as before, with the batch's saves not yet written applied to the answer (`sqlite_pending`);
so is every field outside a batch. A field of more entries asked `ASKED` times by this process (a first sync
asks its match keys once per account: 70,000 queries at 20,000 people) is read whole once, if it has at most
`WHOLE`, and then answered from memory like a small one.

The copies outlive the batch: kept exact by every save, they are still SQLite's once it commits, so the next
batch starts from them. They are dropped when a batch rolls back, and when another connection has committed to
the file since (`PRAGMA data_version`, read as each batch begins).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import TYPE_CHECKING, Any

from .memory import value_key

SMALL = 10_000  # entries of one (kind, field) kept in memory during a batch (a few MB at most)
ASKED = 2_000  # look-ups of a larger field, one query each, after which it is read whole (about 1,000 queries' cost)
WHOLE = 200_000  # entries of a larger field read whole (about 40 MB); beyond, asked entry by entry for good
Entry = tuple[str, str, str]  # (kind, field, value key)


class Values:
    """Mixed into `SqliteStore`, whose connection, lock and batch state it uses."""

    _db: sqlite3.Connection
    _lock: threading.RLock
    _in_batch: bool
    # (kind, field) -> value key -> records, for the open batch; None: a field with too many to keep
    _held: dict[tuple[str, str], dict[str, set[str]] | None]
    _large: set[tuple[str, str]]  # fields found to hold more than SMALL entries
    _asked: dict[tuple[str, str], int | None]  # look-ups of each larger field, one query each (None: too large to read)

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
            if not self._in_batch:
                return found
            asked = self._asked.get((kind, field), 0)
            if asked is not None:
                self._asked[(kind, field)] = asked + 1
                if asked + 1 >= ASKED:  # asked often enough: the next look-up reads it whole (`_small`)
                    self._held.pop((kind, field), None)
            return self._vals_adjusted(kind, field, value, found)

    def _small(self, kind: str, field: str) -> dict[str, set[str]] | None:
        """The field's entries, read at its first look-up in the batch if it has no more than `SMALL`, or once
        it was asked `ASKED` times if it has no more than `WHOLE` (else None: asked entry by entry, as outside
        a batch). Kept across batches (the module's docstring says when they are dropped)."""
        if (kind, field) not in self._held:
            held: dict[str, set[str]] | None = None
            large = (kind, field) in self._large
            limit = SMALL if not large else WHOLE if (self._asked.get((kind, field)) or 0) >= ASKED else 0
            if limit:
                self._flush()  # the batch's saves written first: the copy is read from SQLite
                rows = self._db.execute("SELECT value, rid FROM vals WHERE kind = ? AND field = ? LIMIT ?",
                                        (kind, field, limit + 1)).fetchall()
                if len(rows) > limit:
                    self._large.add((kind, field))
                    if large:  # more than WHOLE: never read whole
                        self._asked[(kind, field)] = None
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
