"""Engines: one per process and URL, holding at most one idle connection (`pool: single`, pre-pinged,
recycled) or none (`pool: none`), so a Lambda invocation uses one connection."""

from __future__ import annotations

import threading
from typing import Any

_ENGINES: dict[tuple[str, ...], Any] = {}  # SQLAlchemy engines, and psycopg pools (`pg_pool.py`)
_ENGINES_LOCK = threading.Lock()


def engine_for(url: Any, pool: str) -> Any:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.pool import NullPool

    cache_key = (url.render_as_string(hide_password=False), pool)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(cache_key)
        if engine is not None:
            return engine
        kwargs: dict[str, Any] = {"hide_parameters": True}  # values (people data) never reach error text
        if url.get_backend_name() == "sqlite" or pool == "none":
            kwargs["poolclass"] = NullPool
        else:
            kwargs.update(pool_size=1, max_overflow=4, pool_pre_ping=True, pool_recycle=280, pool_timeout=10)
        engine = sa.create_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite":
            # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself.
            @event.listens_for(engine, "connect")
            def _no_implicit_tx(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None

            @event.listens_for(engine, "begin")
            def _begin(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN")
        _ENGINES[cache_key] = engine
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, and a process that is about to exit)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
