"""What a write does to a row, whatever the driver: the rules of `writes.py` (SQLAlchemy) and `pg_writes.py`
(psycopg) in one place, so the two cannot drift. Each driver builds and runs the statement `plan` asks for.

- A batch is one transaction, each write under its own savepoint: a rejected write is rolled back alone and
  returned in its place as a PermanentError; a lost connection fails the batch with a TransientError (nothing
  committed).
- An update sets the given columns only (none given: nothing is written); activate and deactivate set the
  active column; inserts only with `insert: true` (the active value and the key filled in when not given),
  deletes only with `delete: true`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NamedTuple

from ...model import ACTIVATE, CREATE, DEACTIVATE, DELETE, UPDATE, Write
from ...ports import PeoplesyncError, PermanentError, TransientError, WriteResult
from .values import jsonable, reason

if TYPE_CHECKING:
    from .settings import Settings


class Planned(NamedTuple):
    """The statement a write asks for: `op` CREATE, UPDATE (activate and deactivate too) or DELETE; `values` the
    columns to set, each converted for its column; `key` the row's key converted (None for a create)."""

    op: str
    values: dict[str, Any]
    key: Any


def run_batch(system: str, changes: Sequence[Write], transaction: Callable[[], AbstractContextManager[Any]],
              savepoint: Callable[[Any], AbstractContextManager[Any]], apply: Callable[[Any, Write], WriteResult],
              rejected: tuple[type[Exception], ...], failed: type[Exception]
              ) -> list[WriteResult | PeoplesyncError]:
    """Apply `changes` in one `transaction()` (it gives the handle `savepoint` and `apply` take); the driver's
    `rejected` errors refuse one write, its `failed` ones the whole batch."""
    out: list[WriteResult | PeoplesyncError] = []
    try:
        with transaction() as tx:
            for change in changes:
                try:
                    with savepoint(tx):
                        out.append(apply(tx, change))
                except PeoplesyncError as exc:
                    out.append(exc)
                except rejected as exc:
                    out.append(PermanentError(f"system {system!r}: {change.op} {change.key!r} "
                                              f"rejected: {reason(exc)}"))
    except PeoplesyncError:
        raise
    except failed as exc:
        raise TransientError(f"system {system!r}: write batch failed, nothing committed: "
                             f"{reason(exc)}") from None
    return out


def plan(change: Write, s: Settings, system: str, to_column: Callable[[Any, str], Any]) -> Planned | WriteResult:
    """The statement `change` asks for (`to_column(value, column)` converts a value for its column), a
    WriteResult when there is nothing to write, or PermanentError when it is not allowed."""
    values = {col: to_column(v, col) for col, v in change.attrs.items()}
    if change.op == CREATE:
        if not s.insert:
            raise PermanentError(f"system {system!r}: inserts are not allowed (set insert: true)")
        if s.active_column and s.active_column not in values:
            values[s.active_column] = to_column(s.active_values[0], s.active_column)
        if change.key is not None and s.key not in values:
            values[s.key] = to_column(change.key, s.key)
        return Planned(CREATE, values, None)
    if change.key is None:
        raise PermanentError(f"system {system!r}: {change.op} without a key")
    key = to_column(change.key, s.key)
    if change.op == UPDATE:
        if not values:
            return WriteResult(key=change.key)
    elif change.op in (DEACTIVATE, ACTIVATE):
        if not s.active_column:
            raise PermanentError(f"system {system!r}: cannot {change.op} without an active_column")
        flag = s.active_values[0] if change.op == ACTIVATE else s.inactive_value
        values[s.active_column] = to_column(flag, s.active_column)
    elif change.op == DELETE:
        if not s.delete:
            raise PermanentError(f"system {system!r}: deletes are not allowed (set delete: true)")
    else:
        raise PermanentError(f"system {system!r}: unknown operation {change.op!r}")
    return Planned(change.op, values, key)


def no_row(system: str, s: Settings, change: Write) -> PermanentError:
    """An update, (de)activation or delete that found no row with the key."""
    return PermanentError(f"system {system!r}: no row with {s.key} = {change.key!r}")


def written(change: Write, values: dict[str, Any], marker: int | float | str | None) -> WriteResult:
    """The result of an update, (de)activation or delete: the values given, as written."""
    return WriteResult(key=change.key, values={col: jsonable(values[col]) for col in change.attrs}, marker=marker)


def created(change: Write, values: dict[str, Any], new_key: Any, marker: int | float | str | None) -> WriteResult:
    """The result of an insert: the new row's key as text, the values given, as written."""
    return WriteResult(key=str(jsonable(new_key)), ref=None,
                       values={col: jsonable(values[col]) for col in change.attrs}, marker=marker)

