"""`ScimRepository` in SQLite: the IdP's view for `peoplesync serve`, kept between runs.

It lives in the same file as the local run's state (`SqliteStore`, `.peoplesync/state.sqlite3`), in tables of
its own, so a restarted `peoplesync serve` still knows every user and group the IdP created: a re-POST is a
409 `uniqueness` and `GET /Users?filter=userName eq "..."` finds her.

- `scim_resources`: one row per resource (`raw` JSON document, `version`, `seq`, the indexed `keys` it holds);
- `scim_index`: (type, attr, value, id) for each indexed attribute a resource carries (`find`);
- `scim_unique`: (type, attr, value) -> owner for each unique attribute: SQLite's primary key refuses a second
  holder even if two processes share the file.

Every change runs in one `BEGIN IMMEDIATE` transaction that checks the version read: a lost race or a taken
unique value rolls the whole write back, so nothing partial is ever stored (as `MemoryScimRepository` and
`DynamoScimRepository` behave; tests/integration/scim/test_scim_repository.py holds all three to it).
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..ports import VersionConflict
from ..scim.repository import (
    INDEXED,
    UNIQUE,
    ResourceNotFound,
    ScimRepository,
    Stored,
    UniquenessConflict,
    dumps,
    key_moves,
)
from .sqlite_store import open_db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scim_resources (type TEXT NOT NULL, id TEXT NOT NULL, raw TEXT NOT NULL,
                                           version INTEGER NOT NULL, seq INTEGER NOT NULL, keys TEXT NOT NULL,
                                           PRIMARY KEY (type, id));
CREATE TABLE IF NOT EXISTS scim_index (type TEXT NOT NULL, attr TEXT NOT NULL, value TEXT NOT NULL,
                                       id TEXT NOT NULL, PRIMARY KEY (type, attr, value, id));
CREATE TABLE IF NOT EXISTS scim_unique (type TEXT NOT NULL, attr TEXT NOT NULL, value TEXT NOT NULL,
                                        owner TEXT NOT NULL, PRIMARY KEY (type, attr, value));
"""

_Row = tuple[str, str, int, int, str]  # id, raw, version, seq, keys


class SqliteScimRepository(ScimRepository):
    """`path` is the local run's SQLite file (created with its folder if missing) or ":memory:". Thread-safe;
    several processes may share the file (SQLite's write lock serialises them)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_db(path, _SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- reads ------------------------------------------------------------------------------------------
    def get(self, type_: str, id_: str) -> Stored | None:
        with self._lock:
            row = self._row(type_, id_)
        return self._stored(type_, row) if row else None

    def list(self, type_: str) -> Iterator[Stored]:
        with self._lock:  # a snapshot, as the memory repository gives (BINARY collation: code-point order)
            rows = self._db.execute("SELECT id, raw, version, seq, keys FROM scim_resources WHERE type = ? "
                                    "ORDER BY id", (type_,)).fetchall()
        return iter([self._stored(type_, r) for r in rows])

    def find(self, type_: str, attr: str, value: str) -> builtins.list[Stored]:
        with self._lock:  # CROSS JOIN: the index first; else SQLite walks every resource in id order (O(n))
            rows = self._db.execute(
                "SELECT r.id, r.raw, r.version, r.seq, r.keys FROM scim_index i CROSS JOIN scim_resources r "
                "ON r.type = i.type AND r.id = i.id WHERE i.type = ? AND i.attr = ? AND i.value = ? ORDER BY r.id",
                (type_, attr, value)).fetchall()
        return [self._stored(type_, r) for r in rows]

    def count(self, type_: str) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM scim_resources WHERE type = ?", (type_,))
                       .fetchone()[0])

    # --- writes -----------------------------------------------------------------------------------------
    def create(self, type_: str, id_: str, doc: Mapping[str, Any], keys: Mapping[str, str]) -> Stored:
        stored = Stored(type_, id_, dumps(doc), 1, 1)
        indexed = self._indexed(type_, keys)
        with self._write() as db:
            if self._row(type_, id_) is not None:
                raise UniquenessConflict("id")
            self._claim(db, type_, id_, {}, indexed)
            db.execute("INSERT INTO scim_resources VALUES (?, ?, ?, ?, ?, ?)",
                       (type_, id_, stored.raw, 1, 1, json.dumps(indexed, sort_keys=True)))
        return stored

    def replace(self, type_: str, id_: str, doc: Mapping[str, Any], keys: Mapping[str, str],
                expected_version: int | None = None) -> Stored:
        indexed = self._indexed(type_, keys)
        with self._write() as db:
            old, old_keys = self._current(type_, id_, expected_version)
            stored = Stored(type_, id_, dumps(doc), old.version + 1, old.seq + 1)
            self._claim(db, type_, id_, old_keys, indexed)
            db.execute("UPDATE scim_resources SET raw = ?, version = ?, seq = ?, keys = ? WHERE type = ? AND id = ?",
                       (stored.raw, stored.version, stored.seq, json.dumps(indexed, sort_keys=True), type_, id_))
        return stored

    def touch(self, type_: str, id_: str, expected_version: int | None = None) -> Stored:
        with self._write() as db:
            old, _ = self._current(type_, id_, expected_version)
            db.execute("UPDATE scim_resources SET seq = ? WHERE type = ? AND id = ?", (old.seq + 1, type_, id_))
        return Stored(type_, id_, old.raw, old.version, old.seq + 1)

    def delete(self, type_: str, id_: str, expected_version: int | None = None) -> Stored:
        with self._write() as db:
            old, old_keys = self._current(type_, id_, expected_version)
            self._claim(db, type_, id_, old_keys, {})
            db.execute("DELETE FROM scim_resources WHERE type = ? AND id = ?", (type_, id_))
        return Stored(type_, id_, old.raw, old.version, old.seq + 1)

    # --- internals --------------------------------------------------------------------------------------
    def _write(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    def _row(self, type_: str, id_: str) -> _Row | None:
        return self._db.execute("SELECT id, raw, version, seq, keys FROM scim_resources WHERE type = ? AND id = ?",
                                (type_, id_)).fetchone()

    @staticmethod
    def _stored(type_: str, row: _Row) -> Stored:
        return Stored(type_, row[0], row[1], int(row[2]), int(row[3]))

    @staticmethod
    def _indexed(type_: str, keys: Mapping[str, str]) -> dict[str, str]:
        return {a: v for a, v in keys.items() if a in INDEXED.get(type_, ()) and v is not None}

    def _current(self, type_: str, id_: str, expected_version: int | None) -> tuple[Stored, dict[str, str]]:
        row = self._row(type_, id_)
        if row is None:
            raise ResourceNotFound(f"{type_} {id_} not found")
        stored = self._stored(type_, row)
        if expected_version is not None and stored.version != expected_version:
            raise VersionConflict(f"{type_} {id_} is at version {stored.version}, not {expected_version}")
        return stored, json.loads(row[4])

    @staticmethod
    def _claim(db: sqlite3.Connection, type_: str, id_: str, old: Mapping[str, str], new: Mapping[str, str]) -> None:
        """Move the lookup entries and unique values of `id_` from `old` to `new` keys; a unique value another
        resource holds raises UniquenessConflict (the caller's transaction is then rolled back)."""
        unique = UNIQUE.get(type_, ())
        for attr, before, after in key_moves(old, new):
            if before is not None:
                db.execute("DELETE FROM scim_index WHERE type = ? AND attr = ? AND value = ? AND id = ?",
                           (type_, attr, before, id_))
                db.execute("DELETE FROM scim_unique WHERE type = ? AND attr = ? AND value = ? AND owner = ?",
                           (type_, attr, before, id_))
            if after is not None:
                if attr in unique:
                    holder = db.execute("SELECT owner FROM scim_unique WHERE type = ? AND attr = ? AND value = ?",
                                        (type_, attr, after)).fetchone()
                    if holder is not None and holder[0] != id_:
                        raise UniquenessConflict(attr)
                    db.execute("INSERT OR REPLACE INTO scim_unique VALUES (?, ?, ?, ?)", (type_, attr, after, id_))
                db.execute("INSERT OR IGNORE INTO scim_index VALUES (?, ?, ?, ?)", (type_, attr, after, id_))


class _Transaction:
    """`with`: the lock, then `BEGIN IMMEDIATE` (SQLite's write lock, so the version read is the one written
    over); COMMIT on success, ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        try:
            self._db.execute("ROLLBACK" if kind is not None else "COMMIT")
        finally:
            self._lock.release()
