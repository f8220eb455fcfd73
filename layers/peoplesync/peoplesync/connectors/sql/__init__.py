"""SQL database connector (badge systems, phone systems, ...) on SQLAlchemy Core.

Reads a table, or a configured read-only query, keyed by one column (the anchor). Delta reads use an
`updated_at`-style watermark column when one is configured (`WHERE watermark >= :last`, cost on the order of
the changed rows with an index on the column); otherwise the whole source is scanned and each row's content
hash is compared with the hashes carried in the cursor (cost: a full scan every poll, and a cursor of about
11 bytes per row; see docs/sql.md for why the hashes live in the cursor). Cursors are the connector base's:
versioned and bound to the columns, table or query and watermark read, so a changed mapping reads in full.

Writes: `UPDATE` of the given (mapped) columns only, values always as bound parameters, identifiers checked
against the reflected table and quoted by SQLAlchemy. `write_batch` applies many writes in one transaction,
each under its own SAVEPOINT so one rejected row does not undo the others. Inserts only when `insert: true`,
deletes only when `delete: true`.

Connections: one engine per process (cached by URL), holding at most one idle connection (`pool: single`,
pre-pinged, recycled) or none (`pool: none`), so a Lambda invocation uses one connection.

Modules: `settings` (the keys, pydantic: imported only to check them), `engines`, `values` (conversions,
hashes), `writes`, `connector`.
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
