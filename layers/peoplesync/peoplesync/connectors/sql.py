"""SQL database connector (badge systems, phone systems, ...) on SQLAlchemy Core.

Reads a table, or a configured read-only query, keyed by one column (the anchor). Delta reads use an
`updated_at`-style watermark column when one is configured (`WHERE watermark >= :last`, cost on the order of
the changed rows with an index on the column); otherwise the whole source is scanned and each row's content
hash is compared with the hashes carried in the cursor (cost: a full scan every poll, and a cursor of about
11 bytes per row; see docs/sql.md for why the hashes live in the cursor).

Writes: `UPDATE` of the given (mapped) columns only, values always as bound parameters, identifiers checked
against the reflected table and quoted by SQLAlchemy. `write_batch` applies many writes in one transaction,
each under its own SAVEPOINT so one rejected row does not undo the others. Inserts only when `insert: true`,
deletes only when `delete: true`.

Connections: one engine per process (cached by URL), holding at most one idle connection (`pool: single`,
pre-pinged, recycled) or none (`pool: none`), so a Lambda invocation uses one connection.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..model import ACTIVATE, CREATE, DEACTIVATE, DELETE, UPDATE, Observation, Write
from ..ports import (
    Connector,
    PeoplesyncError,
    PermanentError,
    ReadFailed,
    ReadResult,
    SecretsPort,
    TransientError,
    WriteResult,
)

log = logging.getLogger(__name__)

_HASH_BYTES = 8  # per-row content hash kept in the cursor; compared per key, so a miss needs a 2^-64 collision
_CURSOR_VERSION = 1
_MAX_BOUNDARY_KEYS = 1000  # keys remembered at the watermark's top value (rows sharing one timestamp)


class Settings(BaseModel):
    """The `sql` connector's keys in a system's configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: str = Field(description="SQLAlchemy URL without credentials: postgresql+psycopg://host/db, sqlite:///f")
    table: str | None = Field(None, description="Table read and written (required for writes)")
    query: str | None = Field(None, description="Read-only SELECT used as the source instead of the table")
    schema_name: str | None = Field(None, alias="schema", description="Database schema of the table")
    key: str = Field(description="Column holding the anchor (the account's stable key)")
    watermark: str | None = Field(None, description="updated_at-style column for delta reads; else row hashes")
    active_column: str | None = Field(None, description="Column telling whether the account is active")
    active_values: list[str | int | bool] = Field(
        default_factory=lambda: list[str | int | bool]([True]),
        description="Values of active_column meaning active (compared as text; true == 1); the first is "
                    "written on activate and on create")
    inactive_value: str | int | bool = Field(False, description="Written to active_column on deactivate")
    insert: bool = Field(False, description="Create rows for new accounts (policy create)")
    delete: bool = Field(False, description="Really DELETE rows when the removal policy says delete")
    pool: Literal["single", "none"] = Field("single", description="single: keep one connection per process")
    fetch_size: int = Field(2000, ge=1, description="Rows fetched per round trip")

    @model_validator(mode="after")
    def _source(self) -> Settings:
        if not self.table and not self.query:
            raise ValueError("one of table or query is required")
        if self.query is not None:
            head = self.query.lstrip().split(None, 1)[0].lower() if self.query.strip() else ""
            if head not in ("select", "with"):
                raise ValueError("query must be a read-only SELECT (or WITH ... SELECT)")
            if ";" in self.query.strip().rstrip(";"):
                raise ValueError("query must be a single statement")
        for name in ("table", "key", "watermark", "active_column", "schema_name"):
            value = getattr(self, name)
            if value is not None and (not value.strip() or "\x00" in value):
                raise ValueError(f"{name} must be a non-empty identifier")
        return self


# --- engines: one per process and URL -------------------------------------------------------------------
_ENGINES: dict[tuple[str, str], Any] = {}
_ENGINES_LOCK = threading.Lock()


def _engine_for(url: Any, pool: str) -> Any:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.pool import NullPool

    cache_key = (url.render_as_string(hide_password=False), pool)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(cache_key)
        if engine is not None:
            return engine
        kwargs: dict[str, Any] = {"hide_parameters": True}  # values (people data) never reach error text
        if url.get_backend_name() == "sqlite" or pool == "none":
            kwargs["poolclass"] = NullPool
        else:
            kwargs.update(pool_size=1, max_overflow=4, pool_pre_ping=True, pool_recycle=280, pool_timeout=10)
        engine = sa.create_engine(url, **kwargs)
        if url.get_backend_name() == "sqlite":
            # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself.
            @event.listens_for(engine, "connect")
            def _no_implicit_tx(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None

            @event.listens_for(engine, "begin")
            def _begin(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN")
        _ENGINES[cache_key] = engine
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, and a process that is about to exit)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


# --- values ---------------------------------------------------------------------------------------------
def _jsonable(v: Any) -> Any:
    """A database value as a JSON-compatible scalar (the model's value type)."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC)
        return v.isoformat()
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).hex()
    if isinstance(v, list | tuple):
        return tuple(_jsonable(x) for x in v)
    return str(v)


def _flag(v: Any) -> str:
    """Text a flag value is compared by, so True, 1, '1' and 'true' agree across drivers."""
    if isinstance(v, bool):
        return "1" if v else "0"
    text = str(v).strip().lower()
    return {"true": "1", "t": "1", "false": "0", "f": "0"}.get(text, text)


def _marker(v: Any) -> int | float | str | None:
    """A watermark value as an Observation marker: comparable within this system."""
    if v is None or (isinstance(v, int | float | str) and not isinstance(v, bool)):
        return v
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp()
    if isinstance(v, date):
        return v.toordinal()
    if isinstance(v, Decimal):
        return float(v)
    return str(v)


def _encode_wm(v: Any) -> dict[str, Any]:
    if isinstance(v, datetime):
        return {"t": "datetime", "v": v.isoformat()}
    if isinstance(v, date):
        return {"t": "date", "v": v.isoformat()}
    if isinstance(v, Decimal):
        return {"t": "decimal", "v": str(v)}
    if isinstance(v, bool | int | float | str):
        return {"t": "plain", "v": v}
    return {"t": "plain", "v": str(v)}


def _decode_wm(d: dict[str, Any]) -> Any:
    t, v = d["t"], d["v"]
    if t == "datetime":
        return datetime.fromisoformat(v)
    if t == "date":
        return date.fromisoformat(v)
    if t == "decimal":
        return Decimal(v)
    return v


def _coerce(value: Any, column: Any) -> Any:
    """Turn a value from another system (usually text) into the column's Python type, where that is clear."""
    if value is None:
        return None
    if isinstance(value, tuple | list):
        raise PermanentError(f"column {column.name!r} holds one value; got a list")
    try:
        py = column.type.python_type
    except (NotImplementedError, AttributeError):
        return value
    if isinstance(value, py) and not (py is int and isinstance(value, bool)):
        return value
    try:
        if py is bool:
            return _flag(value) == "1"
        if py is int:
            return int(str(value).strip())
        if py is float:
            return float(value)
        if py is Decimal:
            return Decimal(str(value))
        if py is datetime:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if py is date:
            return date.fromisoformat(str(value)[:10])
        if py is str:
            return str(value)
    except (TypeError, ValueError) as exc:
        raise PermanentError(f"column {column.name!r} cannot hold {type(value).__name__} value") from exc
    return value


def _row_hash(values: Sequence[Any]) -> bytes:
    return hashlib.blake2b(repr(values).encode(), digest_size=_HASH_BYTES).digest()


def _pack_hashes(cols: str, hashes: dict[str, bytes]) -> str:
    keys = list(hashes)
    blob = json.dumps(keys, separators=(",", ":")).encode()
    payload = {"v": _CURSOR_VERSION, "mode": "hash", "cols": cols,
               "keys": base64.b64encode(zlib.compress(blob, 6)).decode(),
               "h": base64.b64encode(b"".join(hashes[k] for k in keys)).decode()}
    return json.dumps(payload, separators=(",", ":"))


def _unpack_hashes(cursor: dict[str, Any]) -> dict[str, bytes]:
    keys = json.loads(zlib.decompress(base64.b64decode(cursor["keys"])))
    raw = base64.b64decode(cursor["h"])
    return {k: raw[i * _HASH_BYTES:(i + 1) * _HASH_BYTES] for i, k in enumerate(keys)}


# --- the connector --------------------------------------------------------------------------------------
class SqlConnector(Connector):
    """See the module docstring. `settings` is a `Settings`; `credentials` the secret's contents or None."""

    def __init__(self, name: str, settings: Settings, attributes: Iterable[str], *, writable: bool = True,
                 credentials: dict[str, Any] | None = None, secrets: SecretsPort | None = None) -> None:
        super().__init__(name, settings, attributes, writable=writable and settings.table is not None,
                         secrets=secrets)
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
        return _engine_for(self._url, self.settings.pool)

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
    def _scan(self, since: Any = None) -> tuple[list[tuple[str, list[Any], Any, bool]], Any]:
        """Rows as (key, attr values, watermark, active), and the largest watermark seen."""
        import sqlalchemy as sa

        s = self.settings
        try:
            with self.engine.connect() as conn, conn.begin():
                self._read_only(conn)
                try:
                    src = self._prepare_source(conn)
                    cols = [src.c[c] for c in self._read_columns()]
                    stmt = sa.select(*cols)
                    if since is not None:
                        stmt = stmt.where(src.c[s.watermark] >= sa.bindparam("since", since,
                                                                              type_=src.c[s.watermark].type))
                    result = conn.execution_options(stream_results=True, yield_per=s.fetch_size).execute(stmt)
                    rows, top = self._collect(result, since)
                finally:
                    self._release_read_only(conn)
        except ReadFailed:
            raise
        except PeoplesyncError as exc:  # a configuration problem found on the way (no such table/column)
            raise ReadFailed(str(exc)) from None
        except sa.exc.SQLAlchemyError as exc:
            raise ReadFailed(f"system {self.name!r}: read failed: {_reason(exc)}") from None
        return rows, top

    def _collect(self, result: Any, top: Any) -> tuple[list[tuple[str, list[Any], Any, bool]], Any]:
        s = self.settings
        names = self._read_columns()
        at = {n: i for i, n in enumerate(names)}
        attr_idx = [at[a] for a in self.attributes]
        wm_i = at.get(s.watermark) if s.watermark else None
        act_i = at.get(s.active_column) if s.active_column else None
        active_set = {_flag(v) for v in s.active_values}
        rows: list[tuple[str, list[Any], Any, bool]] = []
        for row in result:
            key = row[0]
            if key is None:
                continue  # a row without an anchor cannot be followed
            wm = row[wm_i] if wm_i is not None else None
            if wm is not None and (top is None or _gt(wm, top)):
                top = wm
            active = True if act_i is None else (row[act_i] is not None and _flag(row[act_i]) in active_set)
            rows.append((str(_jsonable(key)), [_jsonable(row[i]) for i in attr_idx], wm, active))
        return rows, top

    def _observation(self, key: str, values: list[Any], wm: Any, active: bool) -> Observation:
        return Observation(self.name, key, dict(zip(self.attributes, values, strict=True)), active=active,
                           marker=_marker(wm))

    def _cols_fingerprint(self) -> str:
        s = self.settings
        return hashlib.sha256(json.dumps([self._read_columns(), s.active_values, s.table, s.query])
                              .encode()).hexdigest()[:12]

    def _read_full(self) -> ReadResult:
        rows, top = self._scan()
        obs = [self._observation(*r) for r in rows]
        if self.settings.watermark:
            cursor = self._wm_cursor(top, rows)
        else:
            cursor = _pack_hashes(self._cols_fingerprint(), {k: _row_hash((v, a)) for k, v, _, a in rows})
        return ReadResult(obs, cursor=cursor, complete=True)

    def _wm_cursor(self, top: Any, rows: list[tuple[str, list[Any], Any, bool]],
                   previous: tuple[Any, set[str]] | None = None) -> str:
        # the keys read at the top watermark value: the next (inclusive) delta skips them unless they moved
        at_top = {k for k, _, wm, _ in rows if wm is not None and top is not None and wm == top}
        if previous is not None and previous[0] == top:
            at_top |= previous[1]
        payload: dict[str, Any] = {"v": _CURSOR_VERSION, "mode": "watermark", "column": self.settings.watermark,
                                   "wm": None if top is None else _encode_wm(top)}
        if len(at_top) <= _MAX_BOUNDARY_KEYS:
            payload["seen"] = sorted(at_top)
        return json.dumps(payload, separators=(",", ":"))

    def _read_delta(self, cursor: str) -> ReadResult:
        try:
            state = json.loads(cursor)
        except ValueError:
            state = {}
        s = self.settings
        if not isinstance(state, dict) or state.get("v") != _CURSOR_VERSION:
            return self._read_full()
        if s.watermark:
            if state.get("mode") != "watermark" or state.get("column") != s.watermark or state.get("wm") is None:
                return self._read_full()
            since = _decode_wm(state["wm"])
            seen = set(state.get("seen", ()))
            # inclusive (>=): a row committed later with the same watermark value is not missed. Rows already
            # read at exactly that value are dropped here; if the cursor could not list them (too many), they
            # are read again, harmlessly: their marker is not newer, so the engine skips them.
            rows, top = self._scan(since)
            fresh = [r for r in rows if not (r[0] in seen and r[2] is not None and r[2] == since)]
            cursor = self._wm_cursor(top, rows, (since, seen))
            return ReadResult([self._observation(*r) for r in fresh], cursor=cursor, complete=False)
        if state.get("mode") != "hash" or state.get("cols") != self._cols_fingerprint():
            return self._read_full()  # mapping or source changed: the old hashes say nothing
        before = _unpack_hashes(state)
        rows, _ = self._scan()
        if not rows:
            # an empty scan concludes nothing (SPEC 20): report it as an empty complete read, keep the hashes
            return ReadResult([], cursor=cursor, complete=True)
        now: dict[str, bytes] = {}
        obs: list[Observation] = []
        for key, values, wm, active in rows:
            h = now[key] = _row_hash((values, active))
            if before.get(key) != h:
                obs.append(self._observation(key, values, wm, active))
        for key in before.keys() - now.keys():
            obs.append(Observation(self.name, key, {}, active=False, removed=True))
        return ReadResult(obs, cursor=_pack_hashes(self._cols_fingerprint(), now), complete=False)

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
        import sqlalchemy as sa

        out: list[WriteResult | PeoplesyncError] = []
        try:
            with self.engine.connect() as conn, conn.begin():
                table = self._reflect_table(conn)
                for change in changes:
                    try:
                        with conn.begin_nested():
                            out.append(self._one(conn, table, change))
                    except PeoplesyncError as exc:
                        out.append(exc)
                    except (sa.exc.IntegrityError, sa.exc.DataError, sa.exc.ProgrammingError) as exc:
                        out.append(PermanentError(f"system {self.name!r}: {change.op} {change.key!r} "
                                                  f"rejected: {_reason(exc)}"))
        except PeoplesyncError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            raise TransientError(f"system {self.name!r}: write batch failed, nothing committed: "
                                 f"{_reason(exc)}") from None
        return out

    def _one(self, conn: Any, table: Any, change: Write) -> WriteResult:
        import sqlalchemy as sa

        s = self.settings
        key_col = table.c[s.key]
        values = {c: _coerce(v, table.c[c]) for c, v in change.attrs.items()}
        if change.op == CREATE:
            if not s.insert:
                raise PermanentError(f"system {self.name!r}: inserts are not allowed (set insert: true)")
            if s.active_column and s.active_column not in values:
                values[s.active_column] = _coerce(s.active_values[0], table.c[s.active_column])
            if change.key is not None and s.key not in values:
                values[s.key] = _coerce(change.key, key_col)
            insert = sa.insert(table).values(values)
            if conn.dialect.insert_returning:
                new_key = conn.execute(insert.returning(key_col)).scalar_one()
            else:
                result = conn.execute(insert)
                new_key = values.get(s.key)
                if new_key is None and key_col.primary_key:
                    new_key = result.inserted_primary_key[0]
            key = str(_jsonable(new_key))
            return WriteResult(key=key, ref=None, values={c: _jsonable(values[c]) for c in change.attrs})
        if change.key is None:
            raise PermanentError(f"system {self.name!r}: {change.op} without a key")
        where = key_col == _coerce(change.key, key_col)
        stmt: Any
        if change.op == UPDATE:
            if not values:
                return WriteResult(key=change.key)
            stmt = sa.update(table).where(where).values(values)
        elif change.op in (DEACTIVATE, ACTIVATE):
            if not s.active_column:
                raise PermanentError(f"system {self.name!r}: cannot {change.op} without an active_column")
            flag = s.active_values[0] if change.op == ACTIVATE else s.inactive_value
            values[s.active_column] = _coerce(flag, table.c[s.active_column])
            stmt = sa.update(table).where(where).values(values)
        elif change.op == DELETE:
            if not s.delete:
                raise PermanentError(f"system {self.name!r}: deletes are not allowed (set delete: true)")
            stmt = sa.delete(table).where(where)
        else:
            raise PermanentError(f"system {self.name!r}: unknown operation {change.op!r}")
        if conn.execute(stmt).rowcount == 0:
            raise PermanentError(f"system {self.name!r}: no row with {s.key} = {change.key!r}")
        return WriteResult(key=change.key, values={c: _jsonable(values[c]) for c in change.attrs})

    def close(self) -> None:
        """Connections go back to the per-process pool after each read or batch; nothing is held here."""


def _gt(a: Any, b: Any) -> bool:
    try:
        return bool(a > b)
    except TypeError:
        return str(a) > str(b)


def _reason(exc: Exception) -> str:
    """The driver's message, first line only: no statement, no parameters, no URL."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _secret_name(ref: str) -> str:
    return ref[len("secret:"):] if ref.startswith("secret:") else ref


def build(name: str, system_config: Any, attributes: Iterable[str], secrets: SecretsPort | None) -> SqlConnector:
    settings = Settings.model_validate(system_config.settings)
    credentials = None
    if system_config.credentials:
        if secrets is None:
            raise ValueError(f"system {name!r} names credentials but no secrets store was given")
        credentials = secrets.get(_secret_name(system_config.credentials))
    writable = True if system_config.writable is None else bool(system_config.writable)
    return SqlConnector(name, settings, attributes, writable=writable, credentials=credentials, secrets=secrets)
