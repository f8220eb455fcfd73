"""`SqliteStore`: the `StateStore` in one SQLite file, for the local run (state kept between runs).

Behaves exactly like `MemoryStore` (tests/contract holds it to that). `save` runs in one `BEGIN IMMEDIATE`
transaction: it checks the stored version, releases the record's old index entries, refuses a link another
record holds, writes the record and its new entries, and commits; a lost race raises VersionConflict and
leaves nothing behind. Several processes may share the file (SQLite's write lock serialises them).

WAL journal with `synchronous=NORMAL`: a commit is durable against a crash of the process, and 10,000 saves
do not wait for 10,000 fsyncs.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..model import RecordState
from ..ports import VersionConflict
from .memory import LoadedLookups, index_entries, value_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, kind TEXT NOT NULL, version INTEGER NOT NULL,
                                    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_by_kind ON records (kind, id);
CREATE TABLE IF NOT EXISTS links (kind TEXT, system TEXT, key TEXT, rid TEXT NOT NULL,
                                  PRIMARY KEY (kind, system, key));
CREATE TABLE IF NOT EXISTS refs (kind TEXT, system TEXT, ref TEXT, rid TEXT NOT NULL,
                                 PRIMARY KEY (kind, system, ref));
CREATE TABLE IF NOT EXISTS vals (kind TEXT, field TEXT, value TEXT, rid TEXT,
                                 PRIMARY KEY (kind, field, value, rid));
CREATE TABLE IF NOT EXISTS cursors (system TEXT PRIMARY KEY, cursor TEXT);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reviews (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (seq INTEGER PRIMARY KEY AUTOINCREMENT, rid TEXT NOT NULL,
                                      field TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS decisions_by_record ON decisions (rid, seq);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def open_db(path: str | Path, schema: str) -> sqlite3.Connection:
    """The local run's SQLite file (its folder made if missing, or ":memory:") with `schema` created: shared by
    every thread of the process (callers hold their own lock), WAL so readers never wait for a writer, in
    autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE) where they matter."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db


class SqliteStore(LoadedLookups):
    """`path` is a file (created with its folder if missing) or ":memory:"."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_db(path, _SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- records ----------------------------------------------------------------------------------------
    def load(self, record_id: str) -> RecordState | None:
        row = self._one("SELECT data, version FROM records WHERE id = ?", (record_id,))
        return self._state(row) if row else None

    def load_many(self, record_ids: Iterable[str]) -> dict[str, RecordState]:
        """Load several records in a few queries; missing ids are absent from the result."""
        ids = list(dict.fromkeys(record_ids))
        found: dict[str, RecordState] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._all(f"SELECT data, version FROM records WHERE id IN ({marks})",  # noqa: S608
                                 tuple(chunk)):
                state = self._state(row)
                found[state.id] = state
        return found

    @staticmethod
    def _state(row: tuple[Any, ...]) -> RecordState:
        data = json.loads(row[0])
        data["version"] = row[1]
        return RecordState.from_dict(data)

    def save(self, state: RecordState) -> None:
        data = state.to_dict()
        data.pop("version", None)
        links, refs, values = index_entries(state)
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT data, version FROM records WHERE id = ?", (state.id,)).fetchone()
                stored = row[1] if row else 0
                if stored != state.version:
                    raise VersionConflict(f"record {state.id} is at version {stored}, not {state.version}")
                if row:
                    self._release(db, state.id, index_entries(self._state(row)))
                for kind, system, key in links:
                    holder = db.execute("SELECT rid FROM links WHERE kind = ? AND system = ? AND key = ?",
                                        (kind, system, key)).fetchone()
                    if holder is not None and holder[0] != state.id:
                        raise VersionConflict(f"account {system}:{key} is already linked to {holder[0]}")
                db.execute("INSERT OR REPLACE INTO records (id, kind, version, data) VALUES (?, ?, ?, ?)",
                           (state.id, state.kind, state.version + 1, _dumps(data)))
                db.executemany("INSERT OR REPLACE INTO links VALUES (?, ?, ?, ?)",
                               [(*e, state.id) for e in links])
                db.executemany("INSERT OR REPLACE INTO refs VALUES (?, ?, ?, ?)", [(*e, state.id) for e in refs])
                db.executemany("INSERT OR IGNORE INTO vals VALUES (?, ?, ?, ?)", [(*e, state.id) for e in values])
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        state.version += 1

    @staticmethod
    def _release(db: sqlite3.Connection, rid: str, entries: tuple[set[tuple[str, str, str]], ...]) -> None:
        """Drop the index entries this record holds (not those another record has taken since)."""
        links, refs, values = entries
        db.executemany("DELETE FROM links WHERE kind = ? AND system = ? AND key = ? AND rid = ?",
                       [(*e, rid) for e in links])
        db.executemany("DELETE FROM refs WHERE kind = ? AND system = ? AND ref = ? AND rid = ?",
                       [(*e, rid) for e in refs])
        db.executemany("DELETE FROM vals WHERE kind = ? AND field = ? AND value = ? AND rid = ?",
                       [(*e, rid) for e in values])

    def all_ids(self, kind: str) -> Iterator[str]:
        # BINARY collation orders by UTF-8 bytes, which is code-point order: the same as sorted()
        return iter([r[0] for r in self._all("SELECT id FROM records WHERE kind = ? ORDER BY id", (kind,))])

    # --- RecordIndex --------------------------------------------------------------------------------------
    def by_link(self, kind: str, system: str, key: str) -> str | None:
        row = self._one("SELECT rid FROM links WHERE kind = ? AND system = ? AND key = ?", (kind, system, key))
        return row[0] if row else None

    def by_ref(self, kind: str, system: str, ref: str) -> str | None:
        row = self._one("SELECT rid FROM refs WHERE kind = ? AND system = ? AND ref = ?",
                        (kind, system, ref.lower()))
        return row[0] if row else None

    def by_value(self, kind: str, field: str, value: Any) -> set[str]:
        rows = self._all("SELECT rid FROM vals WHERE kind = ? AND field = ? AND value = ?",
                         (kind, field, value_key(value)))
        return {r[0] for r in rows}

    # --- cursors, meta, reviews, decisions ----------------------------------------------------------------
    def get_cursor(self, system: str) -> str | None:
        row = self._one("SELECT cursor FROM cursors WHERE system = ?", (system,))
        return row[0] if row else None

    def put_cursor(self, system: str, cursor: str | None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", (system, cursor))

    def get_meta(self, name: str) -> dict[str, Any] | None:
        row = self._one("SELECT data FROM meta WHERE name = ?", (name,))
        return json.loads(row[0]) if row else None

    def put_meta(self, name: str, value: Mapping[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, _dumps(dict(value))))

    def add_review(self, item_id: str, item: Mapping[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO reviews VALUES (?, ?)", (item_id, _dumps(dict(item))))

    def reviews(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT id, data FROM reviews ORDER BY id", ())
        return [dict(json.loads(data), id=rid) for rid, data in rows]

    def remove_review(self, item_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM reviews WHERE id = ?", (item_id,))

    def record_decisions(self, record_id: str, decisions: list[dict[str, Any]], at: float) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO decisions (rid, field, data) VALUES (?, ?, ?)",
                                     [(record_id, str(d["field"]), _dumps(dict(d, at=at))) for d in decisions])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def decisions(self, record_id: str, field: str | None = None) -> list[dict[str, Any]]:
        if field is None:
            rows = self._all("SELECT data FROM decisions WHERE rid = ? ORDER BY seq", (record_id,))
        else:
            rows = self._all("SELECT data FROM decisions WHERE rid = ? AND field = ? ORDER BY seq", (record_id, field))
        return [json.loads(r[0]) for r in rows]
