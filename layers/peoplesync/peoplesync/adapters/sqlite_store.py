"""`SqliteStore`: the `StateStore` in one SQLite file, for the local run (state kept between runs).

Behaves exactly like `MemoryStore` (tests/contract holds it to that). Every save happens inside a batch, one
`BEGIN IMMEDIATE` transaction (a save outside one is a batch of its own): it checks the stored version and
refuses a link another record holds at once (a lost race raises VersionConflict and leaves nothing behind),
and is written with the batch's other saves when the batch ends, before its COMMIT (`sqlite_pending`: one
`executemany` per table; reads inside the batch see the saves). Several processes may share the file
(SQLite's write lock serialises them). Inside `batch()` (the local run: one chunk of messages) the saves share
one transaction, committed at the end of the chunk or rolled back as a whole.

WAL journal with `synchronous=NORMAL`: a commit is durable against a crash of the process, and 10,000 saves
do not wait for 10,000 fsyncs.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import fastjson
from ..model import RecordState
from .memory import LoadedLookups, index_entries
from .sqlite_digests import DigestIndex, Outboxes
from .sqlite_pending import Entries, Pending
from .sqlite_values import Values

_ENTRY_CACHE = 200_000  # records whose index entries are remembered (about 1 KB each); then forgotten at once

_dumps, _loads = fastjson.dumps, fastjson.loads  # orjson when installed, exact either way (fastjson.py)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, kind TEXT NOT NULL, version INTEGER NOT NULL,
                                    data TEXT NOT NULL, owes TEXT);
CREATE INDEX IF NOT EXISTS records_by_kind ON records (kind, id);
CREATE TABLE IF NOT EXISTS links (kind TEXT, system TEXT, key TEXT, rid TEXT NOT NULL,
                                  read TEXT, settled TEXT, removed INTEGER NOT NULL DEFAULT 0,
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


def open_db(path: str | Path, schema: str) -> sqlite3.Connection:
    """The local run's SQLite file (its folder made if missing, or ":memory:") with `schema` created: shared by
    every thread of the process (callers hold their own lock), WAL so readers never wait for a writer, in
    autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE) where they matter."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA cache_size=-65536")  # 64 MB, not 2: a chunk's 2,000 saves no longer spill before it commits
    db.executescript(schema)
    return db


class SqliteStore(Pending, DigestIndex, Outboxes, Values, LoadedLookups):
    """`path` is a file (created with its folder if missing) or ":memory:"."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_db(path, _SCHEMA)
        self._lock = threading.RLock()
        self._in_batch = False
        # index entries of each record as last loaded or saved, by (id, version): a save diffs against them
        # without deriving them again from the stored record (entries of a version never change)
        self._entries: dict[str, tuple[int, Entries]] = {}
        self._decided: list[tuple[str, str, str]] = []  # decisions recorded inside the open batch, not yet written
        self._held: dict[tuple[str, str], dict[str, set[str]] | None] = {}  # small fields' values (sqlite_values)
        self._large: set[tuple[str, str]] = set()
        self._asked: dict[tuple[str, str], int | None] = {}  # (sqlite_values)
        self._names: set[str] | None = None  # the meta items' names, read once per batch (`get_meta`)
        self._init_pending()
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """A query over many rows: inside a batch, its unwritten saves are written first (same transaction)."""
        with self._lock:
            if self._in_batch:
                self._flush()
            return self._db.execute(sql, args).fetchall()

    def _flush(self) -> None:
        self._flush_saves()
        self._flush_decisions()

    # --- batches ------------------------------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[None]:
        """One `BEGIN IMMEDIATE` transaction around everything saved inside: one commit per chunk of work
        instead of one per save, the saves themselves written at its end (`sqlite_pending`). All or nothing: an
        exception leaving the block rolls every save of the block back (the caller hands the chunk's messages
        back to their queue). Reads inside see the block's saves. The lock is held for the block: other
        threads wait, other processes wait on SQLite's write lock."""
        self._lock.acquire()
        if self._in_batch:  # nested: part of the outer block
            try:
                yield
            finally:
                self._lock.release()
            return
        committed = False
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_batch = True
            if self._begin_kept():  # another connection committed since: the copies of fields may be stale
                self._held.clear()
            try:
                yield
                self._flush()
            except BaseException:
                self._db.execute("ROLLBACK")
                self._entries.clear()  # entries cached from rolled-back saves describe nothing stored
                raise
            self._db.execute("COMMIT")
            committed = True
        finally:
            self._commit_kept(committed)
            self._decided.clear()
            self._in_batch = False
            self._forget_pending()
            if not committed:  # the copies of fields hold what the rolled-back saves indexed
                self._held.clear()
            self._names = None
            self._lock.release()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write on its own transaction, or inside the open batch's."""
        with self._lock:
            if self._in_batch:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- records ----------------------------------------------------------------------------------------
    def load(self, record_id: str) -> RecordState | None:
        with self._lock:
            if self._in_batch:
                return self._take(record_id)
        row = self._one("SELECT data, version FROM records WHERE id = ?", (record_id,))
        return self._state(row) if row else None

    def load_many(self, record_ids: Iterable[str]) -> dict[str, RecordState]:
        """Load several records in a few queries; missing ids are absent from the result."""
        ids = list(dict.fromkeys(record_ids))
        found: dict[str, RecordState] = {}
        with self._lock:
            if self._in_batch:  # those read or saved inside it first (they may not be written yet)
                found = {rid: state for rid in ids if rid in self._known and (state := self._take(rid)) is not None}
                ids = [rid for rid in ids if rid not in found]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(f"SELECT data, version FROM records WHERE id IN ({marks})",  # noqa: S608
                                            tuple(chunk)):
                    state = self._state(row)
                    found[state.id] = state
        return found

    def _state(self, row: tuple[Any, ...]) -> RecordState:
        return self._decode(row[0], row[1])

    def _decode(self, text: str, version: int) -> RecordState:
        data = _loads(text)
        data["version"] = version
        state = RecordState.from_dict(data)
        cached = self._entries.get(state.id)  # as this process saved that version: no need to derive them again
        if cached is None or cached[0] != version:
            self._remember(state.id, version, index_entries(state))
        return state

    def _remember(self, rid: str, version: int, entries: Entries) -> None:
        if len(self._entries) >= _ENTRY_CACHE:
            self._entries.clear()
        self._entries[rid] = (version, entries)

    def ref_of(self, record_id: str, system: str) -> str | None:
        with self._lock:
            if not self._in_batch:
                return super().ref_of(record_id, system)
            state = self._peek(record_id)
            shadow = state.shadows.get(system) if state is not None else None
            return (shadow.ref or shadow.key) if shadow is not None else None

    def value_of(self, record_id: str, field: str) -> Any:
        with self._lock:
            if not self._in_batch:
                return super().value_of(record_id, field)
            state = self._peek(record_id)
            return state.golden.get(field) if state is not None else None

    def save(self, state: RecordState) -> None:
        """Checked at once; written with the batch's other saves when it ends (a save outside a batch is a
        batch of its own). Raises VersionConflict, leaving nothing behind, for a stale version or a link
        another record holds."""
        with self._lock:
            if self._in_batch:  # this thread's batch (another's would hold the lock): no nested block to open
                self._save_held(state, _dumps)
                return
        with self.batch():
            self._save_held(state, _dumps)

    def all_ids(self, kind: str) -> Iterator[str]:
        # BINARY collation orders by UTF-8 bytes, which is code-point order: the same as sorted()
        return iter([r[0] for r in self._all("SELECT id FROM records WHERE kind = ? ORDER BY id", (kind,))])

    def count(self, kind: str) -> int:
        return int(self._all("SELECT COUNT(*) FROM records WHERE kind = ?", (kind,))[0][0])

    def linked_ids(self, kind: str, system: str) -> Iterator[str]:
        rows = self._all("SELECT DISTINCT rid FROM links WHERE kind = ? AND system = ? ORDER BY rid", (kind, system))
        return iter([r[0] for r in rows])

    # --- RecordIndex --------------------------------------------------------------------------------------
    def by_link(self, kind: str, system: str, key: str) -> str | None:
        with self._lock:
            if self._in_batch:
                return self._link_holder((kind, system, key))
        row = self._one("SELECT rid FROM links WHERE kind = ? AND system = ? AND key = ?", (kind, system, key))
        return row[0] if row else None

    def by_ref(self, kind: str, system: str, ref: str) -> str | None:
        with self._lock:
            if self._in_batch:
                return self._ref_holder((kind, system, ref.lower()))
        row = self._one("SELECT rid FROM refs WHERE kind = ? AND system = ? AND ref = ?",
                        (kind, system, ref.lower()))
        return row[0] if row else None

    # --- cursors, meta, reviews, decisions ----------------------------------------------------------------
    def get_cursor(self, system: str) -> str | None:
        row = self._one("SELECT cursor FROM cursors WHERE system = ?", (system,))
        return row[0] if row else None

    def put_cursor(self, system: str, cursor: str | None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?)", (system, cursor))

    def get_meta(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            if self._in_batch:  # meta items are never deleted, and only this connection writes during a batch
                if self._names is None:  # asked for each account first seen (was it detached?): read them once
                    self._names = {r[0] for r in self._db.execute("SELECT name FROM meta")}
                if name not in self._names:
                    return None
        row = self._one("SELECT data FROM meta WHERE name = ?", (name,))
        return _loads(row[0]) if row else None

    def put_meta(self, name: str, value: Mapping[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, _dumps(dict(value))))
            if self._names is not None:
                self._names.add(name)

    def add_review(self, item_id: str, item: Mapping[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO reviews VALUES (?, ?)", (item_id, _dumps(dict(item))))

    def reviews(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT id, data FROM reviews ORDER BY id", ())
        return [dict(_loads(data), id=rid) for rid, data in rows]

    def remove_review(self, item_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM reviews WHERE id = ?", (item_id,))

    def record_decisions(self, record_id: str, decisions: list[dict[str, Any]], at: float) -> None:
        """One row for the decisions of one call (`[at, [decision, ...]]`, their fields between tabs in `field`):
        a first sight makes eight, and eight rows cost eight times one. Rows written one decision each (an
        object, its field in `field`) by earlier versions are read as before."""
        if not decisions:
            return
        row = (record_id, "\t" + "\t".join(str(d["field"]) for d in decisions) + "\t", _dumps([at, decisions]))
        with self._lock:
            if self._in_batch:  # written with the batch's other decisions, in order, before it commits
                self._decided.append(row)
                return
        with self._transaction() as db:
            db.execute("INSERT INTO decisions (rid, field, data) VALUES (?, ?, ?)", row)

    def _flush_decisions(self) -> None:
        if self._decided:
            self._db.executemany("INSERT INTO decisions (rid, field, data) VALUES (?, ?, ?)", self._decided)
            self._decided.clear()

    def decisions(self, record_id: str, field: str | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for (data,) in self._all("SELECT data FROM decisions WHERE rid = ? ORDER BY seq", (record_id,)):
            value = _loads(data)
            if isinstance(value, dict):  # one decision a row, as earlier versions wrote them
                out += [value] if field is None or value.get("field") == field else []
            else:
                at, made = value
                out += [dict(d, at=at) for d in made if field is None or d.get("field") == field]
        return out
