"""Writes to PostgreSQL on psycopg directly: the statements `writes.py` has SQLAlchemy build, with the same
rules (see its docstring): `UPDATE` of the given columns only, values bound, identifiers checked against the
table and quoted (`psycopg.sql.Identifier`); a batch is one transaction, each write under its own SAVEPOINT (a
nested `conn.transaction()`), so one rejected row does not undo the others; inserts and deletes only when
allowed; each result carries the row's watermark read back after the statement, as a marker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...model import ACTIVATE, CREATE, DEACTIVATE, DELETE, UPDATE, Write
from ...ports import PeoplesyncError, PermanentError, TransientError, WriteResult
from .values import coerce, jsonable, marker, reason

if TYPE_CHECKING:
    from .pg import PgBackend, Source
    from .settings import Settings


def run_batch(db: PgBackend, changes: Sequence[Write]) -> list[WriteResult | PeoplesyncError]:
    """Apply `changes` in one transaction. A rejected write is rolled back alone and returned in its place; a
    lost connection raises TransientError (nothing committed)."""
    import psycopg

    system, s = db.conn.name, db.conn.settings
    out: list[WriteResult | PeoplesyncError] = []
    try:
        with db.engine.connection() as c, c.transaction():
            table = db.table(c)
            for change in changes:
                try:
                    with c.transaction():
                        out.append(apply_one(c, table, s, system, change))
                except PeoplesyncError as exc:
                    out.append(exc)
                except (psycopg.IntegrityError, psycopg.DataError, psycopg.ProgrammingError, OverflowError) as exc:
                    out.append(PermanentError(f"system {system!r}: {change.op} {change.key!r} "
                                              f"rejected: {reason(exc)}"))
    except PeoplesyncError:
        raise
    except psycopg.Error as exc:
        raise TransientError(f"system {system!r}: write batch failed, nothing committed: {reason(exc)}") from None
    return out


def apply_one(c: Any, table: Source, s: Settings, system: str, change: Write) -> WriteResult:
    from psycopg import sql

    values = {col: coerce(v, col, table.columns[col]) for col, v in change.attrs.items()}
    if change.op == CREATE:
        return _insert(c, table, s, system, change, values)
    if change.key is None:
        raise PermanentError(f"system {system!r}: {change.op} without a key")
    key = coerce(change.key, s.key, table.columns[s.key])
    where = sql.SQL("{} = %s").format(sql.Identifier(s.key))
    if change.op == UPDATE:
        if not values:
            return WriteResult(key=change.key)
    elif change.op in (DEACTIVATE, ACTIVATE):
        if not s.active_column:
            raise PermanentError(f"system {system!r}: cannot {change.op} without an active_column")
        flag = s.active_values[0] if change.op == ACTIVATE else s.inactive_value
        values[s.active_column] = coerce(flag, s.active_column, table.columns[s.active_column])
    elif change.op == DELETE:
        if not s.delete:
            raise PermanentError(f"system {system!r}: deletes are not allowed (set delete: true)")
    else:
        raise PermanentError(f"system {system!r}: unknown operation {change.op!r}")
    if change.op == DELETE:
        stmt = sql.SQL("DELETE FROM {} WHERE {}").format(table.sql, where)
    else:
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(col)) for col in values)
        stmt = sql.SQL("UPDATE {} SET {} WHERE {}").format(table.sql, sets, where)
    if c.execute(stmt, [*(() if change.op == DELETE else values.values()), key]).rowcount == 0:
        raise PermanentError(f"system {system!r}: no row with {s.key} = {change.key!r}")
    after = None if change.op == DELETE else marker_after(c, table, s, key)
    return WriteResult(key=change.key, values={col: jsonable(values[col]) for col in change.attrs}, marker=after)


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

    if not s.insert:
        raise PermanentError(f"system {system!r}: inserts are not allowed (set insert: true)")
    if s.active_column and s.active_column not in values:
        values[s.active_column] = coerce(s.active_values[0], s.active_column, table.columns[s.active_column])
    if change.key is not None and s.key not in values:
        values[s.key] = coerce(change.key, s.key, table.columns[s.key])
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
    return WriteResult(key=str(jsonable(new_key)), ref=None,
                       values={col: jsonable(values[col]) for col in change.attrs}, marker=after)
