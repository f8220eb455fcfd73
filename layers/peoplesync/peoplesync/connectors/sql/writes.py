"""Writes: `UPDATE` of the given (mapped) columns only, values always as bound parameters, identifiers checked
against the reflected table and quoted by SQLAlchemy. A batch is one transaction, each write under its own
SAVEPOINT, so one rejected row does not undo the others. Inserts only when `insert: true`, deletes only when
`delete: true`.

Each result carries the row's change marker after the write (`WriteResult.marker`): with a `watermark` column
on the table, its value read back by key in the same transaction, after the statement and whatever trigger it
fired (so a trigger that bumps `updated_at` is seen; RETURNING would not see an AFTER trigger's change), as
the same marker reads give (`values.marker`). None without a watermark, in `query` mode, and for a delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...model import ACTIVATE, CREATE, DEACTIVATE, DELETE, UPDATE, Write
from ...ports import PeoplesyncError, PermanentError, TransientError, WriteResult
from .values import coerce, jsonable, marker, python_type, reason

if TYPE_CHECKING:
    from .settings import Settings


def run_batch(engine: Any, reflect: Any, settings: Settings, system: str,
              changes: Sequence[Write]) -> list[WriteResult | PeoplesyncError]:
    """Apply `changes` in one transaction (`reflect(conn)` gives the table). A rejected write is rolled back
    alone and returned in its place; a lost connection raises TransientError (nothing committed)."""
    import sqlalchemy as sa

    out: list[WriteResult | PeoplesyncError] = []
    try:
        with engine.connect() as conn, conn.begin():
            table = reflect(conn)
            for change in changes:
                try:
                    with conn.begin_nested():
                        out.append(apply_one(conn, table, settings, system, change))
                except PeoplesyncError as exc:
                    out.append(exc)
                except (sa.exc.IntegrityError, sa.exc.DataError, sa.exc.ProgrammingError, OverflowError) as exc:
                    out.append(PermanentError(f"system {system!r}: {change.op} {change.key!r} "
                                              f"rejected: {reason(exc)}"))
    except PeoplesyncError:
        raise
    except sa.exc.SQLAlchemyError as exc:
        raise TransientError(f"system {system!r}: write batch failed, nothing committed: {reason(exc)}") from None
    return out


def apply_one(conn: Any, table: Any, s: Settings, system: str, change: Write) -> WriteResult:
    import sqlalchemy as sa

    values = {c: to_column(v, table.c[c]) for c, v in change.attrs.items()}
    if change.op == CREATE:
        return _insert(conn, table, s, system, change, values)
    if change.key is None:
        raise PermanentError(f"system {system!r}: {change.op} without a key")
    key_col = table.c[s.key]
    where = key_col == to_column(change.key, key_col)
    stmt: Any
    if change.op == UPDATE:
        if not values:
            return WriteResult(key=change.key)
        stmt = sa.update(table).where(where).values(values)
    elif change.op in (DEACTIVATE, ACTIVATE):
        if not s.active_column:
            raise PermanentError(f"system {system!r}: cannot {change.op} without an active_column")
        flag = s.active_values[0] if change.op == ACTIVATE else s.inactive_value
        values[s.active_column] = to_column(flag, table.c[s.active_column])
        stmt = sa.update(table).where(where).values(values)
    elif change.op == DELETE:
        if not s.delete:
            raise PermanentError(f"system {system!r}: deletes are not allowed (set delete: true)")
        stmt = sa.delete(table).where(where)
    else:
        raise PermanentError(f"system {system!r}: unknown operation {change.op!r}")
    if conn.execute(stmt).rowcount == 0:
        raise PermanentError(f"system {system!r}: no row with {s.key} = {change.key!r}")
    after = None if change.op == DELETE else marker_after(conn, table, s, where)
    return WriteResult(key=change.key, values={c: jsonable(values[c]) for c in change.attrs}, marker=after)


def to_column(value: Any, column: Any) -> Any:
    """`values.coerce` for an SQLAlchemy column."""
    return coerce(value, column.name, python_type(column))


def marker_after(conn: Any, table: Any, s: Settings, where: Any) -> int | float | str | None:
    """The row's watermark as it stands now in this transaction, as a marker; None without one."""
    import sqlalchemy as sa

    if not s.watermark or s.query is not None or s.watermark not in table.c:
        return None
    return marker(conn.execute(sa.select(table.c[s.watermark]).where(where).limit(1)).scalar())


def _insert(conn: Any, table: Any, s: Settings, system: str, change: Write, values: dict[str, Any]) -> WriteResult:
    import sqlalchemy as sa

    if not s.insert:
        raise PermanentError(f"system {system!r}: inserts are not allowed (set insert: true)")
    key_col = table.c[s.key]
    if s.active_column and s.active_column not in values:
        values[s.active_column] = to_column(s.active_values[0], table.c[s.active_column])
    if change.key is not None and s.key not in values:
        values[s.key] = to_column(change.key, key_col)
    insert = sa.insert(table).values(values)
    if conn.dialect.insert_returning:
        new_key = conn.execute(insert.returning(key_col)).scalar_one()
    else:
        result = conn.execute(insert)
        new_key = values.get(s.key)
        if new_key is None and key_col.primary_key:
            new_key = result.inserted_primary_key[0]
    after = None if new_key is None else marker_after(conn, table, s, key_col == new_key)
    return WriteResult(key=str(jsonable(new_key)), ref=None, values={c: jsonable(values[c]) for c in change.attrs},
                       marker=after)
