"""The inbox of `peoplesync serve`: what the SCIM webhook accepted and the background worker has not yet
reconciled, the local twin of the webhook's SQS reconcile queue. A request only appends to it (one short
write) and answers; the worker takes, reconciles and delivers, and removes what it handled.

`SqliteInbox` keeps it in the local run's SQLite file (a table of its own, its own connection), so what was
accepted before a stop or a crash is handled at the next start; `MemoryInbox` is for a state kept in memory.
At least once: an item removed only after it was reconciled may be reconciled twice, which is safe.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from .sqlite_store import open_db

_SCHEMA = "CREATE TABLE IF NOT EXISTS inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, message TEXT NOT NULL);"


class SqliteInbox:
    def __init__(self, path: str | Path) -> None:
        self._db = open_db(path, _SCHEMA)
        self._lock = threading.Lock()

    def put(self, message: dict[str, Any]) -> None:
        with self._lock:  # autocommit: durable when it returns
            self._db.execute("INSERT INTO inbox (message) VALUES (?)", (json.dumps(message),))

    def take(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """The oldest `limit` items, left in place until `done`."""
        with self._lock:
            rows = self._db.execute("SELECT seq, message FROM inbox ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(seq, json.loads(text)) for seq, text in rows]

    def done(self, seqs: list[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM inbox WHERE seq = ?", [(s,) for s in seqs])

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM inbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class MemoryInbox:
    def __init__(self) -> None:
        self._items: dict[int, dict[str, Any]] = {}
        self._seq = 0
        self._lock = threading.Lock()

    def put(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._items[self._seq] = message

    def take(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            return [(s, self._items[s]) for s in sorted(self._items)[:limit]]

    def done(self, seqs: list[int]) -> None:
        with self._lock:
            for s in seqs:
                self._items.pop(s, None)

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        pass
