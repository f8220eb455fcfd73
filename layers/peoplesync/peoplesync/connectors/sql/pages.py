"""The SQL connector's paged read: keyset pagination on the key column, so a page resumes exactly.

Each page is `SELECT ... WHERE key > :last ORDER BY key LIMIT :n` (values bound, in its own read-only
transaction); the position is the last key read (with its type: an integer key stays an integer). Keys are
unique and never change, so no row is read twice; every key above the position is still ahead, so no row present
throughout the read is missed. A row inserted meanwhile is read in this run when its key is still ahead, else by
the next read. A key column holding duplicates (a configured query joining badly) would skip the duplicates of
a page's last key: keys must be unique, as they already must be for the whole read.

The cursor a paged read leaves:
- with a `watermark` column: the largest watermark taken before the first page (a row changed after its page was
  read is above it: the next delta lists it; rows at exactly that value are read again, harmlessly);
- with row hashes: none. The hash cursor holds a hash of every row (the whole system again), and a hash delta
  scans every row anyway: a paged poll reads everything each time instead, and the poll's digest pre-screen
  queues only what changed, as the hashes did; who is gone comes from the sweep after the complete read.
A delta (watermark) is one page: it lists only what changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ...ports import ReadPage
from ..cursor import decode_cursor, encode_cursor, fingerprint
from .values import decode_wm, encode_wm

if TYPE_CHECKING:
    from .connector import SqlConnector

POSITION_VERSION = 1


def read_pages(conn: SqlConnector, cursor: str | None, full: bool, page_size: int,
               start: str | None) -> Iterator[ReadPage]:
    """The read in pages of `page_size` rows (see the module's docstring). Failures are `ReadFailed`s."""
    pos = _decode(conn, start)
    restarted = start is not None and pos is None
    if pos is None and not full and _delta_usable(conn, cursor):
        result = conn.read(cursor)
        yield ReadPage.whole(result)
        return
    if pos is None:
        pos = {"last": None, "mark": conn._guarded(lambda: _mark(conn))}
    while True:
        rows, last = conn._guarded(lambda: _page(conn, pos, page_size))
        observations = [conn._observation(*r) for r in rows]
        if len(rows) < page_size:
            state = {"mode": "watermark", "wm": pos["mark"]} if conn.settings.watermark else None
            yield ReadPage(observations, last=True, complete=True, cursor=conn._encode(state), restarted=restarted)
            return
        pos["last"] = encode_wm(last)
        yield ReadPage(observations, position=_encode(conn, pos), restarted=restarted)
        restarted = False


def _delta_usable(conn: SqlConnector, cursor: str | None) -> bool:
    """A watermark cursor can go on as a delta (a hash cursor is not used by a paged read)."""
    state = conn._decode(cursor)
    return bool(conn.settings.watermark and state and state.get("mode") == "watermark" and state.get("wm"))


def _mark(conn: SqlConnector) -> dict[str, Any] | None:
    """The largest watermark before the read begins (the cursor it leaves); None: no watermark."""
    column = conn.settings.watermark
    if not column:
        return None
    top = conn._db.top(column)
    return None if top is None else encode_wm(top)


def _page(conn: SqlConnector, pos: dict[str, Any], size: int) -> tuple[list[Any], Any]:
    """One page's rows (as `_collect` gives them) and the raw key of its last row."""
    raw = conn._db.page(None if pos["last"] is None else decode_wm(pos["last"]), size)
    rows, _ = conn._collect(raw, None)
    return rows, raw[-1][0] if raw else None


def _encode(conn: SqlConnector, pos: dict[str, Any]) -> str:
    return encode_cursor(pos, version=POSITION_VERSION, scope=fingerprint(conn._scope()))


def _decode(conn: SqlConnector, start: str | None) -> dict[str, Any] | None:
    pos = decode_cursor(start, version=POSITION_VERSION, scope=fingerprint(conn._scope()))
    return pos if pos is not None and {"last", "mark"} <= pos.keys() else None
