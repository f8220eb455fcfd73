"""Connections to PostgreSQL through psycopg, pooled as the SQLAlchemy engines are (`engines.py`): one pool per
process and URL, keeping at most one idle connection (`pool: single`: pinged before reuse, replaced after 280 s)
or none (`pool: none`: a fresh connection per read or batch), at most five open at once (a sixth caller waits up
to 10 s, then fails as a transient error). So a Lambda invocation uses one connection, and a warm one reuses it.

psycopg is imported at the first connection, not when the connector is built: a cold start pays it once, when
it first reads (about 160 ms of CPU here; SQLAlchemy with its psycopg dialect cost about 450)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...ports import TransientError
from .engines import _ENGINES, _ENGINES_LOCK
from .urls import PgUrl

RECYCLE_SECONDS = 280.0  # below the usual idle timeouts of proxies and NATs in front of a database
MAX_OPEN = 5  # SQLAlchemy's pool_size 1 + max_overflow 4, as before
WAIT_SECONDS = 10.0


class PgPool:
    """See the module's docstring. Connections are in autocommit mode: every read and batch opens its own
    transaction (`conn.transaction()`), so nothing is left open between them."""

    def __init__(self, url: PgUrl, keep: bool) -> None:
        self._url, self._keep = url, keep
        self._idle: list[tuple[Any, float]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_OPEN)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A live connection for one read or batch; back to the pool after it (closed if it broke)."""
        if not self._slots.acquire(timeout=WAIT_SECONDS):
            raise TransientError(f"no database connection free within {WAIT_SECONDS:.0f} s")
        try:
            conn, born = self._checkout()
            try:
                yield conn
            except BaseException:
                if conn.closed or conn.broken:
                    conn.close()
                    conn = None
                raise
            finally:
                if conn is not None:
                    self._checkin(conn, born)
        finally:
            self._slots.release()

    def _checkout(self) -> tuple[Any, float]:
        with self._lock:
            idle = self._idle.pop() if self._idle else None
        if idle is not None:
            conn, born = idle
            if time.monotonic() - born < RECYCLE_SECONDS and _alive(conn):
                return conn, born
            conn.close()
        import psycopg  # here, not at the module's import: see the module's docstring

        return psycopg.connect(**self._url.connect_kwargs(), autocommit=True), time.monotonic()

    def _checkin(self, conn: Any, born: float) -> None:
        # a connection left inside a transaction (it cannot be, each use closes its own) is not reused
        if not conn.closed and not conn.broken and self._keep and conn.info.transaction_status == 0:
            with self._lock:
                if not self._idle:
                    self._idle.append((conn, born))
                    return
        conn.close()

    def dispose(self) -> None:
        """Close the idle connections (`engines.dispose_engines`)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


def _alive(conn: Any) -> bool:
    """The pre-ping: a round trip (a Lambda frozen between invocations may find its connection dropped)."""
    if conn.closed or conn.broken:
        return False
    try:
        conn.execute("SELECT 1")
    except Exception:
        return False
    return True


def pool_for(url: PgUrl, pool: str) -> PgPool:
    """The process's pool for this URL and pool setting (shared with the SQLAlchemy engines' registry, so
    `dispose_engines` closes both)."""
    cache_key = ("psycopg", repr(url.key()), pool)
    with _ENGINES_LOCK:
        found = _ENGINES.get(cache_key)
        if found is None:
            found = _ENGINES[cache_key] = PgPool(url, keep=pool == "single")
        return found
