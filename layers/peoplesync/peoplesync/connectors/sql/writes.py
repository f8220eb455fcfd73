"""Writes through SQLAlchemy: the statements `write_rules.plan` asks for, values always as bound parameters,
identifiers checked against the reflected table and quoted by SQLAlchemy; the batch's rules (one transaction,
a SAVEPOINT per write, inserts and deletes only when allowed) are `write_rules`'s, shared with `pg_writes.py`.

Each result carries the row's change marker after the write (`WriteResult.marker`): with a `watermark` column
on the table, its value read back by key in the same transaction, after the statement and whatever trigger it
fired (so a trigger that bumps `updated_at` is seen; RETURNING would not see an AFTER trigger's change), as
the same marker reads give (`values.marker`). None without a watermark, in `query` mode, and for a delete."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ...model import CREATE, DELETE, Write
from ...ports import PeoplesyncError, WriteResult
from . import write_rules
from .values import coerce, marker, python_type

if TYPE_CHECKING:
    from .settings import Settings


def run_batch(engine: Any, reflect: Any, settings: Settings, system: str,
              changes: Sequence[Write]) -> list[WriteResult | PeoplesyncError]:
    """Apply `changes` in one transaction (`reflect(conn)` gives the table), as `write_rules.run_batch` says."""
    import sqlalchemy as sa

    @contextmanager
    def transaction() -> Iterator[tuple[Any, Any]]:
        with engine.connect() as conn, conn.begin():
            yield conn, reflect(conn)

    return write_rules.run_batch(
        system, changes, transaction, lambda tx: tx[0].begin_nested(),
        lambda tx, change: apply_one(tx[0], tx[1], settings, system, change),
        (sa.exc.IntegrityError, sa.exc.DataError, sa.exc.ProgrammingError, OverflowError), sa.exc.SQLAlchemyError)


def apply_one(conn: Any, table: Any, s: Settings, system: str, change: Write) -> WriteResult:
    import sqlalchemy as sa

    planned = write_rules.plan(change, s, system, lambda v, col: to_column(v, table.c[col]))
    if isinstance(planned, WriteResult):
        return planned
    if planned.op == CREATE:
        return _insert(conn, table, s, change, planned.values)
    where = table.c[s.key] == planned.key
    stmt = sa.delete(table).where(where) if planned.op == DELETE \
        else sa.update(table).where(where).values(planned.values)
    if conn.execute(stmt).rowcount == 0:
        raise write_rules.no_row(system, s, change)
    after = None if planned.op == DELETE else marker_after(conn, table, s, where)
    return write_rules.written(change, planned.values, after)


def to_column(value: Any, column: Any) -> Any:
    """`values.coerce` for an SQLAlchemy column."""
    return coerce(value, column.name, python_type(column))


def marker_after(conn: Any, table: Any, s: Settings, where: Any) -> int | float | str | None:
    """The row's watermark as it stands now in this transaction, as a marker; None without one."""
    import sqlalchemy as sa

    if not s.watermark or s.query is not None or s.watermark not in table.c:
        return None
    return marker(conn.execute(sa.select(table.c[s.watermark]).where(where).limit(1)).scalar())


def _insert(conn: Any, table: Any, s: Settings, change: Write, values: dict[str, Any]) -> WriteResult:
    import sqlalchemy as sa

    key_col = table.c[s.key]
    insert = sa.insert(table).values(values)
    if conn.dialect.insert_returning:
        new_key = conn.execute(insert.returning(key_col)).scalar_one()
    else:
        result = conn.execute(insert)
        new_key = values.get(s.key)
        if new_key is None and key_col.primary_key:
            new_key = result.inserted_primary_key[0]
    after = None if new_key is None else marker_after(conn, table, s, key_col == new_key)
    return write_rules.created(change, values, new_key, after)
