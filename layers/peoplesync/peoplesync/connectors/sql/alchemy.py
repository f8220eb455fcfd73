"""The SQL connector's database access through SQLAlchemy Core: every URL but PostgreSQL's on psycopg (SQLite,
and any database SQLAlchemy has a dialect and driver for; PostgreSQL on psycopg is `pg.py`). The table is
reflected (identifiers checked against it and quoted by SQLAlchemy), values are bound parameters, a configured
query is a subquery read in a read-only transaction. Writes: `writes.py`. `sqlalchemy` is imported when first
used (the URL is parsed when the connector is built)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ...model import Write
from ...ports import PeoplesyncError, PermanentError, TransientError, WriteResult
from .engines import engine_for
from .values import reason
from .writes import run_batch, to_column

if TYPE_CHECKING:
    from .connector import SqlConnector


class AlchemyBackend:
    """Reads and writes of one connector through SQLAlchemy (the interface `pg.PgBackend` has too)."""

    def __init__(self, conn: SqlConnector, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.conn, self.url = conn, make_url(url)
        self._table: Any = None  # reflected sqlalchemy Table (writes; table-mode reads)
        self._source: Any = None  # selectable reads run against (the table, or the query as a subquery)

    def set_credentials(self, username: str | None, password: str | None) -> None:
        # URL.set quotes user and password itself: '@', ':', '/' and '%' in a password are safe
        self.url = self.url.set(username=username or self.url.username, password=password or self.url.password)

    @property
    def engine(self) -> Any:
        return engine_for(self.url, self.conn.settings.pool)

    def table(self, c: Any) -> Any:
        import sqlalchemy as sa

        if self._table is None:
            s, name = self.conn.settings, self.conn.name
            try:
                self._table = sa.Table(s.table, sa.MetaData(), schema=s.schema_name, autoload_with=c)
            except sa.exc.NoSuchTableError:
                raise PermanentError(f"system {name!r}: no table {s.table!r}") from None
            missing = [col for col in self.conn._write_columns() if col not in self._table.c]
            if missing:
                self._table = None
                raise PermanentError(f"system {name!r}: table {s.table!r} has no column(s) {missing}")
        return self._table

    def _prepare(self, c: Any) -> Any:
        import sqlalchemy as sa

        if self._source is not None:
            return self._source
        s = self.conn.settings
        wanted = self.conn._read_columns()
        if s.query is None:
            self._source = self.table(c)
        else:
            sub = sa.text(s.query.strip().rstrip(";")).columns(*[sa.column(col) for col in wanted]).subquery("src")
            probe = c.execute(sa.select(sa.text("*")).select_from(
                sa.text(f"({s.query.strip().rstrip(';')}) AS probe")).limit(0))
            present = set(probe.keys())
            missing = [col for col in wanted if col not in present]
            if missing:
                raise PermanentError(f"system {self.conn.name!r}: the configured query returns no column(s) {missing}")
            self._source = sub
        return self._source

    @contextmanager
    def _reading(self) -> Iterator[tuple[Any, Any]]:
        """(connection, source) in a read-only transaction, where the database can: a query cannot write."""
        with self.engine.connect() as c, c.begin():
            backend = c.dialect.name
            if backend == "postgresql":
                c.exec_driver_sql("SET TRANSACTION READ ONLY")
            elif backend == "sqlite":
                c.exec_driver_sql("PRAGMA query_only = ON")
            try:
                yield c, self._prepare(c)
            finally:
                if backend == "sqlite":
                    c.exec_driver_sql("PRAGMA query_only = OFF")

    def _select(self, src: Any) -> Any:
        import sqlalchemy as sa

        return sa.select(*[src.c[col] for col in self.conn._read_columns()])

    # --- reads ----------------------------------------------------------------------------------------------
    def scan(self, since: Any, consume: Callable[[Any], Any]) -> Any:
        """`consume(rows)` of every row (`watermark >= since` when given), streamed `fetch_size` rows at a time."""
        import sqlalchemy as sa

        s = self.conn.settings
        with self._reading() as (c, src):
            stmt = self._select(src)
            if since is not None:
                wm_col = src.c[s.watermark]
                stmt = stmt.where(wm_col >= sa.bindparam("since", since, type_=wm_col.type))
            return consume(c.execution_options(stream_results=True, yield_per=s.fetch_size).execute(stmt))

    def top(self, column: str) -> Any:
        """The largest value of `column` (None: no row has one)."""
        import sqlalchemy as sa

        with self._reading() as (c, src):
            return c.execute(sa.select(sa.func.max(src.c[column]))).scalar()

    def page(self, after: Any, size: int) -> list[Any]:
        """Up to `size` rows with a key, above `after` (None: from the first), in key order."""
        import sqlalchemy as sa

        with self._reading() as (c, src):
            key = src.c[self.conn.settings.key]
            stmt = self._select(src).where(key.is_not(None))
            if after is not None:
                stmt = stmt.where(key > sa.bindparam("last", after, type_=key.type))
            return list(c.execute(stmt.order_by(key).limit(size)).all())

    def find(self, match: Mapping[str, Any]) -> list[Any] | None:
        """At most two rows whose columns equal these values; None: a value its column cannot hold."""
        import sqlalchemy as sa

        try:
            with self._reading() as (c, src):
                terms = []
                for attr, value in match.items():
                    col = src.c[attr]
                    if value is None:
                        terms.append(col.is_(None))
                        continue
                    try:
                        terms.append(col == to_column(value, col))
                    except PermanentError:
                        return None
                return list(c.execute(self._select(src).where(*terms).limit(2)).all())
        except (sa.exc.DataError, OverflowError):
            return None  # no value of the column can be this one (a NUL in PostgreSQL text, out of range)

    def translate(self, exc: Exception) -> PeoplesyncError | None:
        import sqlalchemy as sa

        if isinstance(exc, sa.exc.SQLAlchemyError):
            return TransientError(f"system {self.conn.name!r}: read failed: {reason(exc)}")
        return None

    # --- writes ---------------------------------------------------------------------------------------------
    def run_batch(self, changes: Sequence[Write]) -> list[WriteResult | PeoplesyncError]:
        return run_batch(self.engine, self.table, self.conn.settings, self.conn.name, changes)
