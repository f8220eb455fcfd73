"""The SQL connector's database access for PostgreSQL, on psycopg 3 directly (`postgresql+psycopg://` and
`postgresql://` URLs; every other URL goes through SQLAlchemy, `alchemy.py`). The same statements the SQLAlchemy
path issues, with the same guarantees:

- values only as bound parameters (`%s`, psycopg sends them apart from the statement);
- identifiers (schema, table, columns) never pasted: the table is looked up in the catalogue by a bound-parameter
  query (it must exist and be visible; `schema` names its schema), every column used must be one of its columns,
  and each is quoted by `psycopg.sql.Identifier`;
- a configured query wrapped as a subquery, its columns checked by a probe (`LIMIT 0`), run in a read-only
  transaction; its `%` signs are doubled so psycopg leaves them to the query.

Why not SQLAlchemy here: `import sqlalchemy` alone is about 265 ms of CPU at a Lambda cold start on this machine,
with its PostgreSQL dialect and psycopg about 450; psycopg alone about 160, paid at the first connection
(docs/sql.md, "Lambda"). Writes: `pg_writes.py`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ...model import Write
from ...ports import PeoplesyncError, PermanentError, TransientError, WriteResult
from .pg_pool import PgPool, pool_for
from .urls import PgUrl
from .values import coerce, reason

if TYPE_CHECKING:
    from .connector import SqlConnector

# a column's Python type, where `values.coerce` converts to it (as SQLAlchemy's reflected types' `python_type`);
# other types (time, uuid, json, arrays, ...) take the value as given and leave the cast to the server
PY_TYPES: dict[str, type] = {
    "int2": int, "int4": int, "int8": int, "oid": int, "float4": float, "float8": float, "numeric": Decimal,
    "bool": bool, "timestamp": datetime, "timestamptz": datetime, "date": date,
    "text": str, "varchar": str, "bpchar": str, "char": str, "name": str, "citext": str,
}

# the table's columns: a bound-parameter catalogue query
COLUMNS = """
SELECT a.attname, t.typname, t.typtype
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
  AND (n.nspname = %s OR (%s::text IS NULL AND pg_catalog.pg_table_is_visible(c.oid)))
ORDER BY a.attnum
"""


@dataclass
class Source:
    """What reads and writes run against: `sql` the FROM item (the quoted table, or the query as a subquery),
    `columns` each column's Python type (None: given as is), `table` whether it is the table (writable)."""

    sql: Any
    columns: dict[str, type | None]
    table: bool


def _python_type(name: str, kind: str) -> type | None:
    """As SQLAlchemy reflects it: an enum is text, a domain takes the value as given (its `python_type` is
    `object`), a base type as PY_TYPES says."""
    if kind == "e":
        return str
    return PY_TYPES.get(name) if kind == "b" else None


class PgBackend:
    """See the module's docstring. One per connector; the connections are the process's (`pg_pool.py`)."""

    def __init__(self, conn: SqlConnector, url: PgUrl) -> None:
        self.conn, self.url = conn, url
        self._table: Source | None = None  # the table (writes; reads without a query)
        self._query: Source | None = None  # the configured query, when there is one (reads)

    def set_credentials(self, username: str | None, password: str | None) -> None:
        """The secret's user and password (an empty one keeps the URL's, as on the SQLAlchemy path)."""
        self.url = self.url.set(username=username or None, password=password or None)

    @property
    def engine(self) -> PgPool:
        return pool_for(self.url, self.conn.settings.pool)

    # --- the source ---------------------------------------------------------------------------------------
    def table(self, c: Any) -> Source:
        """The configured table, looked up (cached); PermanentError: no such table, or a column missing."""
        from psycopg import sql

        if self._table is not None:
            return self._table
        s, name = self.conn.settings, self.conn.name
        found = c.execute(COLUMNS, [s.table, s.schema_name, s.schema_name]).fetchall()
        if not found:
            raise PermanentError(f"system {name!r}: no table {s.table!r}")
        columns = {col: _python_type(typ, kind) for col, typ, kind in found}
        missing = [col for col in self.conn._write_columns() if col not in columns]
        if missing:
            raise PermanentError(f"system {name!r}: table {s.table!r} has no column(s) {missing}")
        ident = sql.Identifier(s.schema_name, s.table) if s.schema_name else sql.Identifier(s.table)
        self._table = Source(ident, columns, table=True)
        return self._table

    def _prepare(self, c: Any) -> Source:
        from psycopg import sql

        s = self.conn.settings
        if s.query is None:
            return self.table(c)
        if self._query is not None:
            return self._query
        text = sql.SQL(s.query.strip().rstrip(";").replace("%", "%%"))
        probe = c.execute(sql.SQL("SELECT * FROM ({}) AS probe LIMIT 0").format(text), [])
        present = {d.name for d in probe.description or ()}
        wanted = self.conn._read_columns()
        missing = [col for col in wanted if col not in present]
        if missing:
            raise PermanentError(f"system {self.conn.name!r}: the configured query returns no column(s) {missing}")
        self._query = Source(sql.SQL("({}) AS src").format(text), dict.fromkeys(wanted), table=False)
        return self._query

    @contextmanager
    def _reading(self) -> Iterator[tuple[Any, Source]]:
        """(connection, source) in a read-only transaction: a configured query cannot write."""
        with self.engine.connection() as c, c.transaction():
            c.execute("SET TRANSACTION READ ONLY")
            yield c, self._prepare(c)

    def _select(self, src: Source) -> Any:
        from psycopg import sql

        cols = sql.SQL(", ").join(sql.Identifier(col) for col in self.conn._read_columns())
        return sql.SQL("SELECT {} FROM {}").format(cols, src.sql)

    # --- reads ----------------------------------------------------------------------------------------------
    def scan(self, since: Any, consume: Callable[[Any], Any]) -> Any:
        """`consume(rows)` of every row (`watermark >= since` when given), fetched `fetch_size` rows per round
        trip by a server-side cursor, inside the read's transaction."""
        from psycopg import sql

        s = self.conn.settings
        with self._reading() as (c, src):
            stmt, params = self._select(src), []
            if since is not None:
                stmt = sql.SQL("{} WHERE {} >= %s").format(stmt, sql.Identifier(s.watermark))
                params.append(since)
            with c.cursor(name="peoplesync_scan") as cur:
                cur.itersize = s.fetch_size
                cur.execute(stmt, params)
                return consume(cur)

    def top(self, column: str) -> Any:
        """The largest value of `column` (None: no row has one)."""
        from psycopg import sql

        with self._reading() as (c, src):
            row = c.execute(sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), src.sql), []).fetchone()
        return row[0] if row else None

    def page(self, after: Any, size: int) -> list[Any]:
        """Up to `size` rows with a key, above `after` (None: from the first), in key order."""
        from psycopg import sql

        key = sql.Identifier(self.conn.settings.key)
        with self._reading() as (c, src):
            stmt, params = sql.SQL("{} WHERE {} IS NOT NULL").format(self._select(src), key), []
            if after is not None:
                stmt = sql.SQL("{} AND {} > %s").format(stmt, key)
                params.append(after)
            params.append(size)
            return list(c.execute(sql.SQL("{} ORDER BY {} LIMIT %s").format(stmt, key), params).fetchall())

    def find(self, match: Mapping[str, Any]) -> list[Any] | None:
        """At most two rows whose columns equal these values; None: a value its column cannot hold."""
        import psycopg
        from psycopg import sql

        try:
            with self._reading() as (c, src):
                terms, params = [], []
                for col, value in match.items():
                    if value is None:
                        terms.append(sql.SQL("{} IS NULL").format(sql.Identifier(col)))
                        continue
                    try:
                        params.append(coerce(value, col, src.columns.get(col)))
                    except PermanentError:
                        return None
                    terms.append(sql.SQL("{} = %s").format(sql.Identifier(col)))
                stmt = sql.SQL("{} WHERE {} LIMIT 2").format(self._select(src), sql.SQL(" AND ").join(terms))
                return list(c.execute(stmt, params).fetchall())
        except (psycopg.DataError, OverflowError):
            return None  # no value of the column can be this one (a NUL in text, out of range)

    def translate(self, exc: Exception) -> PeoplesyncError | None:
        psycopg = sys.modules.get("psycopg")
        if psycopg is not None and isinstance(exc, psycopg.Error):
            return TransientError(f"system {self.conn.name!r}: read failed: {reason(exc)}")
        return None

    # --- writes ---------------------------------------------------------------------------------------------
    def run_batch(self, changes: Sequence[Write]) -> list[WriteResult | PeoplesyncError]:
        from .pg_writes import run_batch

        return run_batch(self, changes)
