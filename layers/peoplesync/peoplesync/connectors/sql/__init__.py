"""SQL database connector (badge systems, phone systems, ...): PostgreSQL on psycopg 3 directly, every other
database on SQLAlchemy Core (docs/sql.md says why: SQLAlchemy's import at a Lambda cold start).

Reads a table, or a configured read-only query, keyed by one column (the anchor). Delta reads use an
`updated_at`-style watermark column when one is configured (`WHERE watermark >= :last`, cost on the order of
the changed rows with an index on the column); otherwise the whole source is scanned and each row's content
hash is compared with the hashes carried in the cursor (cost: a full scan every poll, and a cursor of about
11 bytes per row; see docs/sql.md for why the hashes live in the cursor). Cursors are the connector base's:
versioned and bound to the columns, table or query and watermark read, so a changed mapping reads in full.

Writes: `UPDATE` of the given (mapped) columns only, values always as bound parameters, identifiers checked
against the reflected table and quoted (psycopg's `sql.Identifier`, or SQLAlchemy). `write_batch` applies many
writes in one transaction, each under its own SAVEPOINT so one rejected row does not undo the others. Inserts
only when `insert: true`, deletes only when `delete: true`.

Connections: one pool per process (cached by URL), holding at most one idle connection (`pool: single`,
pre-pinged, recycled) or none (`pool: none`), so a Lambda invocation uses one connection.

Modules: `settings` (the keys, pydantic: imported only to check them), `connector` (reads, deltas, batch rules),
`pages` (keyset pages), `values` (conversions, hashes); the database access behind one interface: `pg` (reads),
`pg_writes`, `pg_pool`, `urls` for PostgreSQL on psycopg, `alchemy` (reads), `writes`, `engines` for SQLAlchemy.
Building a PostgreSQL connector imports neither library (psycopg comes with the first connection); a connector
for any other URL imports SQLAlchemy when it is built (to parse its URL).
"""

from __future__ import annotations

from typing import Any

from .connector import SqlConnector
from .engines import dispose_engines

CONNECTOR = SqlConnector


def __getattr__(name: str) -> Any:
    """`Settings`: the pydantic model, imported when asked for (`settings.py`): a connector built from settings
    checked before (`checked_settings.py`, a Lambda function's cold start) never imports pydantic."""
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CONNECTOR", "Settings", "SqlConnector", "dispose_engines"]
