"""The SQLite store's digest index (`ports.LinkDigest`, the poll's pre-screen): three columns on each row of
`links`, written with the record's save in its transaction (a crash between the two leaves neither), read by
`link_digests` without loading a record. Likewise the targets each record owes a write (`ports.owed_systems`,
column `owes` of `records`), read by `owing`: a delivery for a record that owes its target nothing loads no
record. A state file from before either is migrated when opened."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from ..model import RecordState
from ..ports import LinkDigest, digests_of


class DigestIndex:
    """Mixed into `SqliteStore`, whose connection, lock and batch state it uses."""

    _db: sqlite3.Connection
    _lock: threading.RLock
    _in_batch: bool

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """A query (inside a batch, after writing its saves: reads inside a batch see them)."""
        raise NotImplementedError

    def _migrate(self) -> None:
        """A state file written before the digest index: its links get their digests, computed once from the
        records (until then every read would be news, and nothing could be skipped). One written before the
        `owes` column gets it empty (NULL: not known, each of its records may owe anything, until saved)."""
        with self._lock:
            if "owes" not in {row[1] for row in self._db.execute("PRAGMA table_info(records)")}:
                self._db.execute("ALTER TABLE records ADD COLUMN owes TEXT")
            if "settled" in {row[1] for row in self._db.execute("PRAGMA table_info(links)")}:
                return
            with self._transaction() as db:
                for ddl in ("read TEXT", "settled TEXT", "removed INTEGER NOT NULL DEFAULT 0"):
                    db.execute(f"ALTER TABLE links ADD COLUMN {ddl}")
                for state in (RecordState.from_dict(json.loads(r[0])) for r in db.execute("SELECT data FROM records")):
                    db.executemany("UPDATE links SET read = ?, settled = ?, removed = ? WHERE kind = ? AND system = ? "
                                   "AND key = ? AND rid = ?", [(d.read, d.settled, int(d.removed), *link, state.id)
                                                               for link, d in digests_of(state).items()])

    def linked_accounts(self, kind: str, system: str, after: str | None = None) -> Iterator[tuple[str, str | None]]:
        # `_all` writes a batch's held saves first: reads inside a batch see them
        rows = self._all("SELECT rid, key FROM links WHERE kind = ? AND system = ? AND rid > ? AND NOT removed "
                         "ORDER BY rid, key", (kind, system, after or ""))
        return iter([(rid, key) for rid, key in rows])

    def link_digests(self, kind: str, system: str, keys: Iterable[str] | None = None) -> dict[str, LinkDigest]:
        sql = "SELECT key, rid, read, settled, removed FROM links WHERE kind = ? AND system = ?"
        if keys is None:
            rows = self._all(sql, (kind, system))
        else:
            wanted, rows = list(dict.fromkeys(keys)), []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                rows += self._all(f"{sql} AND key IN ({','.join('?' * len(chunk))})", (kind, system, *chunk))
        return {key: LinkDigest(rid, read, settled, bool(removed)) for key, rid, read, settled, removed in rows}


def owes_column(owed: set[str]) -> str:
    """The `owes` column of a record: the targets it owes a write (`owed_systems`), each between tabs ("" when
    none)."""
    return "\t" + "\t".join(sorted(owed)) + "\t" if owed else ""


class Outboxes:
    """`owing` for `SqliteStore`: which records owe a target a write, from the `owes` column alone."""

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def owing(self, system: str, record_ids: Iterable[str]) -> set[str]:
        ids, mark, out = list(dict.fromkeys(record_ids)), f"\t{system}\t", set[str]()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._all(f"SELECT id, owes FROM records WHERE id IN ({','.join('?' * len(chunk))})",  # noqa: S608
                             tuple(chunk))
            out.update(rid for rid, owes in rows if owes is None or mark in owes)  # None: from before the column
        return out
