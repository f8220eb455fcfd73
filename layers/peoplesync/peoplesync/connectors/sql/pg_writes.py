"""Writes to PostgreSQL on psycopg directly: the statements `write_rules.plan` asks for (the same ones
`writes.py` has SQLAlchemy build, under the same batch rules, `write_rules`), values bound, identifiers checked
against the table and quoted (`psycopg.sql.Identifier`); a write's SAVEPOINT is a nested `conn.transaction()`;
each result carries the row's watermark read back after the statement, as a marker."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ...model import CREATE, DELETE, Write
from ...ports import PeoplesyncError, PermanentError, WriteResult
from . import write_rules
from .values import coerce, marker

if TYPE_CHECKING:
    from .pg import PgBackend, Source
    from .settings import Settings


def run_batch(db: PgBackend, changes: Sequence[Write]) -> list[WriteResult | PeoplesyncError]:
    """Apply `changes` in one transaction, as `write_rules.run_batch` says."""
    import psycopg

    system, s = db.conn.name, db.conn.settings

    @contextmanager
    def transaction() -> Iterator[tuple[Any, Source]]:
        with db.engine.connection() as c, c.transaction():
            yield c, db.table(c)

    return write_rules.run_batch(
        system, changes, transaction, lambda tx: tx[0].transaction(),
        lambda tx, change: apply_one(tx[0], tx[1], s, system, change),
        (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError, OverflowError), psycopg.Error)


def apply_one(c: Any, table: Source, s: Settings, system: str, change: Write) -> WriteResult:
    from psycopg import sql

    planned = write_rules.plan(change, s, system, lambda v, col: coerce(v, col, table.columns[col]))
    if isinstance(planned, WriteResult):
        return planned
    if planned.op == CREATE:
        return _insert(c, table, s, system, change, planned.values)
    where = sql.SQL("{} = %s").format(sql.Identifier(s.key))
    if planned.op == DELETE:
        stmt, params = sql.SQL("DELETE FROM {} WHERE {}").format(table.sql, where), [planned.key]
    else:
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(col)) for col in planned.values)
        stmt = sql.SQL("UPDATE {} SET {} WHERE {}").format(table.sql, sets, where)
        params = [*planned.values.values(), planned.key]
    if c.execute(stmt, params).rowcount == 0:
        raise write_rules.no_row(system, s, change)
    after = None if planned.op == DELETE else marker_after(c, table, s, planned.key)
    return write_rules.written(change, planned.values, after)


def marker_after(c: Any, table: Source, s: Settings, key: Any) -> int | float | str | None:
    """The row's watermark as it stands now in this transaction, as a marker; None without one."""
    from psycopg import sql

    if not s.watermark or s.query is not None or s.watermark not in table.columns:
        return None
    row = c.execute(sql.SQL("SELECT {} FROM {} WHERE {} = %s LIMIT 1").format(
        sql.Identifier(s.watermark), table.sql, sql.Identifier(s.key)), [key]).fetchone()
    return marker(row[0] if row else None)


def _insert(c: Any, table: Source, s: Settings, system: str, change: Write, values: dict[str, Any]) -> WriteResult:
    from psycopg import sql

    returning = sql.Identifier(s.key)
    if values:
        stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
            table.sql, sql.SQL(", ").join(sql.Identifier(col) for col in values),
            sql.SQL(", ").join(sql.Placeholder() for _ in values), returning)
    else:
        stmt = sql.SQL("INSERT INTO {} DEFAULT VALUES RETURNING {}").format(table.sql, returning)
    rows = c.execute(stmt, list(values.values())).fetchall()
    if len(rows) != 1:
        raise PermanentError(f"system {system!r}: create returned {len(rows)} rows")
    new_key = rows[0][0]
    after = None if new_key is None else marker_after(c, table, s, new_key)
    return write_rules.created(change, values, new_key, after)
