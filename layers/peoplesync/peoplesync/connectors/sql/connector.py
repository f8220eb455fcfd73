"""The SQL connector class: reads (table or configured query, watermark or row-hash deltas) and batched
writes; see the package docstring."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...model import Observation, Write
from ...ports import (
    Capabilities,
    PeoplesyncError,
    PermanentError,
    ReadPage,
    ReadResult,
    SecretsPort,
    WriteResult,
)
from ..base import BaseConnector, Harvest
from ..checked_settings import settings_model
from ..ratelimit import BucketStore
from . import pages, urls
from .alchemy import AlchemyBackend
from .pg import PgBackend
from .values import decode_wm, encode_wm, flag, gt, jsonable, marker, pack_hashes, row_hash, unpack_hashes

if TYPE_CHECKING:
    from .settings import Settings as SqlSettings

_MAX_BOUNDARY_KEYS = 1000  # keys remembered at the watermark's top value (rows sharing one timestamp)

Row = tuple[str, list[Any], Any, bool]  # key, attribute values, watermark, active


class SqlConnector(BaseConnector):
    """See the package docstring. `credentials`: the secret's username and password, or None."""

    Settings = settings_model("peoplesync.connectors.sql.settings:Settings")  # pydantic, imported when first read
    cursor_version = 2

    @classmethod
    def capabilities(cls, settings: Mapping[str, Any]) -> Capabilities:
        """A configured query is read-only; a state needs `active_column`; creates and deletes are opt-in."""
        if not settings.get("table"):
            return Capabilities(False, False, False, False, {"write": "name a table (a query is read-only)"})
        why = {"create": "set insert: true", "deactivate": "set active_column, with active_values and inactive_value",
               "delete": "set delete: true"}
        can = {"create": bool(settings.get("insert")), "deactivate": bool(settings.get("active_column")),
               "delete": bool(settings.get("delete"))}
        return Capabilities(True, **can, why={k: v for k, v in why.items() if not can[k]})

    def __init__(self, name: str, settings: SqlSettings, attributes: Iterable[str], *, writable: bool = True,
                 credentials: Mapping[str, Any] | None = None, secrets: SecretsPort | None = None,
                 buckets: BucketStore | None = None) -> None:
        super().__init__(name, settings, attributes, writable=writable and settings.table is not None,
                         secrets=secrets, buckets=buckets)
        self._db: AlchemyBackend | PgBackend = _backend(self, settings.url)
        if credentials:
            self._db.set_credentials(credentials.get("username"), credentials.get("password"))

    @property
    def _url(self) -> Any:  # the URL, its password hidden when shown
        return self._db.url

    def __repr__(self) -> str:  # the URL is shown without its password
        return f"SqlConnector({self.name!r}, {self._url!r})"

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def engine(self) -> Any:
        """The process's connections for this URL: an SQLAlchemy engine, or a psycopg pool (`pg_pool.py`)."""
        return self._db.engine

    def _read_columns(self) -> list[str]:
        s = self.settings
        cols = [s.key, *self.attributes]
        for extra in (s.watermark, s.active_column):
            if extra:
                cols.append(extra)
        return list(dict.fromkeys(cols))

    def _write_columns(self) -> list[str]:
        s = self.settings
        cols = [s.key, *self.attributes]
        if s.active_column:
            cols.append(s.active_column)
        if s.watermark and not s.query:
            cols.append(s.watermark)
        return cols

    # --- reads ------------------------------------------------------------------------------------------
    def read_pages(self, cursor: str | None = None, *, full: bool = False, page_size: int | None = None,
                   start: str | None = None) -> Iterator[ReadPage]:
        """A full read in pages by key (keyset pagination, `pages.py`); a delta is one page."""
        if page_size is None:
            return super().read_pages(cursor, full=full, start=start)
        return pages.read_pages(self, cursor, full, page_size, start)

    def _scope(self) -> str:
        s = self.settings
        return json.dumps([self._read_columns(), s.active_values, s.table, s.query, s.watermark], default=str)

    def _translate(self, exc: Exception) -> PeoplesyncError | None:
        return self._db.translate(exc)

    def _scan(self, since: Any = None) -> tuple[list[Row], Any]:
        """Rows as (key, attr values, watermark, active), and the largest watermark seen."""
        return self._db.scan(since, lambda rows: self._collect(rows, since))

    def find_account(self, match: Mapping[str, Any]) -> Observation | None:
        """The one row of the source whose columns equal these values (`SELECT ... WHERE col = :v AND ...
        LIMIT 2`, values bound and converted to the column's type, columns only among the key and the mapped
        ones, as reflected), or None: no row, several, or a value the column cannot hold."""
        allowed = {self.settings.key, *self.attributes}
        if not match or any(attr not in allowed for attr in match):
            return None
        try:
            found = self._db.find(match)
        except PeoplesyncError:
            raise
        except Exception as exc:
            failure = self._translate(exc)
            if failure is None:
                raise
            raise failure from None
        if found is None:
            return None  # a value no row of its column can hold: no row holds it
        if len(found) != 1:
            return None
        rows, _ = self._collect(found, None)
        return self._observation(*rows[0]) if rows else None

    def _collect(self, result: Any, top: Any) -> tuple[list[tuple[str, list[Any], Any, bool]], Any]:
        s = self.settings
        names = self._read_columns()
        at = {n: i for i, n in enumerate(names)}
        attr_idx = [at[a] for a in self.attributes]
        wm_i = at.get(s.watermark) if s.watermark else None
        act_i = at.get(s.active_column) if s.active_column else None
        active_set = {flag(v) for v in s.active_values}
        rows: list[tuple[str, list[Any], Any, bool]] = []
        for row in result:
            key = row[0]
            if key is None:
                continue  # a row without an anchor cannot be followed
            wm = row[wm_i] if wm_i is not None else None
            if wm is not None and (top is None or gt(wm, top)):
                top = wm
            active = True if act_i is None else (row[act_i] is not None and flag(row[act_i]) in active_set)
            rows.append((str(jsonable(key)), [jsonable(row[i]) for i in attr_idx], wm, active))
        return rows, top

    def _observation(self, key: str, values: list[Any], wm: Any, active: bool) -> Observation:
        return Observation(self.name, key, dict(zip(self.attributes, values, strict=True)), active=active,
                           marker=marker(wm))

    def _read_full(self) -> ReadResult:
        rows, top = self._scan()
        obs = [self._observation(*r) for r in rows]
        if self.settings.watermark:
            return Harvest(obs, complete=True, state=self._wm_state(top, rows))
        return Harvest(obs, complete=True, state=pack_hashes({k: row_hash((v, a)) for k, v, _, a in rows}))

    def _wm_state(self, top: Any, rows: list[Row], previous: tuple[Any, set[str]] | None = None) -> dict[str, Any]:
        # the keys read at the top watermark value: the next (inclusive) delta skips them unless they moved
        at_top = {k for k, _, wm, _ in rows if wm is not None and top is not None and wm == top}
        if previous is not None and previous[0] == top:
            at_top |= previous[1]
        state: dict[str, Any] = {"mode": "watermark", "wm": None if top is None else encode_wm(top)}
        if len(at_top) <= _MAX_BOUNDARY_KEYS:
            state["seen"] = sorted(at_top)
        return state

    def _read_delta(self, state: dict[str, Any]) -> ReadResult | None:
        if self.settings.watermark:
            return self._watermark_delta(state) if state.get("mode") == "watermark" and state.get("wm") else None
        return self._hash_delta(state) if state.get("mode") == "hash" else None

    def _watermark_delta(self, state: dict[str, Any]) -> ReadResult:
        since = decode_wm(state["wm"])
        seen = set(state.get("seen", ()))
        # inclusive (>=): a row committed later with the same watermark value is not missed. Rows already
        # read at exactly that value are dropped here; if the cursor could not list them (too many), they
        # are read again, harmlessly: their marker is not newer, so the engine skips them.
        rows, top = self._scan(since)
        fresh = [r for r in rows if not (r[0] in seen and r[2] is not None and r[2] == since)]
        return Harvest([self._observation(*r) for r in fresh], state=self._wm_state(top, rows, (since, seen)))

    def _hash_delta(self, state: dict[str, Any]) -> ReadResult:
        before = unpack_hashes(state)
        rows, _ = self._scan()
        if not rows:
            # an empty scan concludes nothing (SPEC 20): report it as an empty complete read, keep the hashes
            return Harvest([], complete=True, state=state)
        now: dict[str, bytes] = {}
        obs: list[Observation] = []
        for key, values, wm, active in rows:
            h = now[key] = row_hash((values, active))
            if before.get(key) != h:
                obs.append(self._observation(key, values, wm, active))
        for key in before.keys() - now.keys():
            obs.append(Observation(self.name, key, {}, active=False, removed=True))
        return Harvest(obs, state=pack_hashes(now))

    # --- writes -----------------------------------------------------------------------------------------
    def _apply(self, change: Write) -> WriteResult:
        outcome = self._run_batch([change])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def write_batch(self, changes: Sequence[Write]) -> list[WriteResult | PeoplesyncError]:
        """Apply `changes` in one transaction, each under a SAVEPOINT: a rejected write (PermanentError,
        VersionConflict) is rolled back alone and returned in its place; the others commit together.
        A lost connection raises TransientError for the whole batch (nothing committed)."""
        results: list[WriteResult | PeoplesyncError | None] = [None] * len(changes)
        todo: list[tuple[int, Write]] = []
        for i, change in enumerate(changes):
            if not self.writable:
                results[i] = PermanentError(f"system {self.name!r} is read-only; refusing {change.op}")
                continue
            unknown = set(change.attrs) - set(self.attributes)
            if unknown:
                results[i] = PermanentError(
                    f"system {self.name!r}: refusing to write unmapped attributes {sorted(unknown)}")
                continue
            todo.append((i, change))
        if todo:
            for (i, _), outcome in zip(todo, self._run_batch([c for _, c in todo]), strict=True):
                results[i] = outcome
        return [r for r in results if r is not None]

    def _run_batch(self, changes: Sequence[Write]) -> list[WriteResult | PeoplesyncError]:
        return self._db.run_batch(changes)

    def close(self) -> None:
        """Connections go back to the per-process pool after each read or batch; nothing is held here."""



def _backend(conn: SqlConnector, url: str) -> AlchemyBackend | PgBackend:
    """PostgreSQL on psycopg directly, any other database through SQLAlchemy (see the package's docstring)."""
    if urls.is_direct(url):
        return PgBackend(conn, urls.parse(url))
    return AlchemyBackend(conn, url)
