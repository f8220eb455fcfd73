"""The SQL connector class: reads (table or configured query, watermark or row-hash deltas) and batched
writes; see the package docstring."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ...model import Observation, Write
from ...ports import (
    Capabilities,
    PeoplesyncError,
    PermanentError,
    ReadPage,
    ReadResult,
    SecretsPort,
    TransientError,
    WriteResult,
)
from ..base import BaseConnector, Harvest
from ..checked_settings import settings_model
from ..ratelimit import BucketStore
from . import pages
from .engines import engine_for
from .values import (
    coerce,
    decode_wm,
    encode_wm,
    flag,
    gt,
    jsonable,
    marker,
    pack_hashes,
    reason,
    row_hash,
    unpack_hashes,
)
from .writes import run_batch

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
        from sqlalchemy.engine import make_url

        url = make_url(settings.url)
        if credentials:
            # URL.set quotes user and password itself: '@', ':', '/' and '%' in a password are safe
            url = url.set(username=credentials.get("username") or url.username,
                          password=credentials.get("password") or url.password)
        self._url = url
        self._table: Any = None  # reflected sqlalchemy Table (writes; table-mode reads)
        self._source: Any = None  # selectable reads run against (the table, or the query as a subquery)

    def __repr__(self) -> str:  # the URL is shown without its password
        return f"SqlConnector({self.name!r}, {self._url!r})"

    # --- plumbing ---------------------------------------------------------------------------------------
    @property
    def engine(self) -> Any:
        return engine_for(self._url, self.settings.pool)

    def _read_columns(self) -> list[str]:
        s = self.settings
        cols = [s.key, *self.attributes]
        for extra in (s.watermark, s.active_column):
            if extra:
                cols.append(extra)
        return list(dict.fromkeys(cols))

    def _reflect_table(self, conn: Any) -> Any:
        import sqlalchemy as sa

        if self._table is None:
            s = self.settings
            try:
                self._table = sa.Table(s.table, sa.MetaData(), schema=s.schema_name, autoload_with=conn)
            except sa.exc.NoSuchTableError:
                raise PermanentError(f"system {self.name!r}: no table {s.table!r}") from None
            missing = [c for c in self._write_columns() if c not in self._table.c]
            if missing:
                self._table = None
                raise PermanentError(f"system {self.name!r}: table {s.table!r} has no column(s) {missing}")
        return self._table

    def _write_columns(self) -> list[str]:
        s = self.settings
        cols = [s.key, *self.attributes]
        if s.active_column:
            cols.append(s.active_column)
        if s.watermark and not s.query:
            cols.append(s.watermark)
        return cols

    def _prepare_source(self, conn: Any) -> Any:
        import sqlalchemy as sa

        if self._source is not None:
            return self._source
        s = self.settings
        wanted = self._read_columns()
        if s.query is None:
            self._source = self._reflect_table(conn)
        else:
            sub = sa.text(s.query.strip().rstrip(";")).columns(*[sa.column(c) for c in wanted]).subquery("src")
            probe = conn.execute(sa.select(sa.text("*")).select_from(
                sa.text(f"({s.query.strip().rstrip(';')}) AS probe")).limit(0))
            present = set(probe.keys())
            missing = [c for c in wanted if c not in present]
            if missing:
                raise PermanentError(f"system {self.name!r}: the configured query returns no column(s) {missing}")
            self._source = sub
        return self._source

    def _read_only(self, conn: Any) -> None:
        """Make the read transaction read-only where the database can: a configured query cannot write."""
        backend = conn.dialect.name
        if backend == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        elif backend == "sqlite":
            conn.exec_driver_sql("PRAGMA query_only = ON")

    def _release_read_only(self, conn: Any) -> None:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA query_only = OFF")

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
        import sqlalchemy as sa

        if isinstance(exc, sa.exc.SQLAlchemyError):
            return TransientError(f"system {self.name!r}: read failed: {reason(exc)}")
        return None

    def _scan(self, since: Any = None) -> tuple[list[Row], Any]:
        """Rows as (key, attr values, watermark, active), and the largest watermark seen."""
        import sqlalchemy as sa

        s = self.settings
        with self._reading() as (conn, src):
            stmt = sa.select(*[src.c[c] for c in self._read_columns()])
            if since is not None:
                wm_col = src.c[s.watermark]
                stmt = stmt.where(wm_col >= sa.bindparam("since", since, type_=wm_col.type))
            result = conn.execution_options(stream_results=True, yield_per=s.fetch_size).execute(stmt)
            return self._collect(result, since)

    @contextmanager
    def _reading(self) -> Iterator[tuple[Any, Any]]:
        """(connection, source) in a read-only transaction."""
        with self.engine.connect() as conn, conn.begin():
            self._read_only(conn)
            try:
                yield conn, self._prepare_source(conn)
            finally:
                self._release_read_only(conn)

    def find_account(self, match: Mapping[str, Any]) -> Observation | None:
        """The one row of the source whose columns equal these values (`SELECT ... WHERE col = :v AND ...
        LIMIT 2`, values bound and converted to the column's type, columns only among the key and the mapped
        ones, as reflected), or None: no row, several, or a value the column cannot hold."""
        import sqlalchemy as sa

        allowed = {self.settings.key, *self.attributes}
        if not match or any(attr not in allowed for attr in match):
            return None
        try:
            with self._reading() as (conn, src):
                terms = _equal_terms(src, match)
                if terms is None:
                    return None  # a value no row of its column can hold: no row holds it
                stmt = sa.select(*[src.c[c] for c in self._read_columns()]).where(*terms).limit(2)
                found = conn.execute(stmt).all()
        except PeoplesyncError:
            raise
        except (sa.exc.DataError, OverflowError):
            return None  # no value of the column can be this one (a NUL in PostgreSQL text, out of range)
        except Exception as exc:
            failure = self._translate(exc)
            if failure is None:
                raise
            raise failure from None
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
        return run_batch(self.engine, self._reflect_table, self.settings, self.name, changes)

    def close(self) -> None:
        """Connections go back to the per-process pool after each read or batch; nothing is held here."""


def _equal_terms(src: Any, match: Mapping[str, Any]) -> list[Any] | None:
    """`column = :value` for each pair (the value bound, converted to the column's type); None when a value
    cannot be held by its column."""
    terms = []
    for attr, value in match.items():
        col = src.c[attr]
        if value is None:
            terms.append(col.is_(None))
            continue
        try:
            terms.append(col == coerce(value, col))
        except PermanentError:
            return None
    return terms
