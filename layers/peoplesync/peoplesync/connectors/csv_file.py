"""CSV files: an HR export dropped on a share or in S3, or a file a downstream system imports.

Reads a local path or `s3://bucket/key`. The delta is by content hash per row: the cursor (the base's,
compressed) remembers a short hash of every row, so a poll reports only rows that changed, appeared or
disappeared (the file itself is read whole; it is the reconcile work that follows the number of changes).
Writable when `writable: true`: rows are updated in place (only the mapped columns), created rows are
appended, and the file is replaced atomically (locally by rename; in S3 by a PutObject conditional on the
ETag read, so two deliveries never lose each other's rows: the later one retries).
An empty file is a failed read, never "everyone left" (SPEC 20).

A read takes the file as whole only when it can tell (see `csv_whole.py` and docs/csv.md): the trailer the
export declares is there and counts the rows found (`trailer`), the last line is ended (`require_final_newline`),
no quoted field is left open, every row has the header's number of fields, and the file did not change while
it was read, nor in the `settle_seconds` before (a file changed more recently is waited for, then stat'ed
again). A file that fails any of these is a `ReadFailed` naming the reason: nothing is concluded from it, no
leaver and no changed value (the truncated e-mail of a cut last row is not a value). Writes refuse such a file
with a `TransientError` (they would write the cut file back). A row whose `active_column` is empty or NULL has
an unknown state, never "inactive": it is held back (not observed, its cursor entry kept) and a full read
holding one is not complete; a file without the `active_column` is a failed read. Cells are written with
OWASP's rule against formulas and read back as written (`csv_whole.neutralise` / `restore`).

`find_account(match)` scans the rows for the one whose mapped cells equal the values (a create that may have
landed is linked, not appended twice). Observations carry no change marker (a file has no per-row version), so
writes return `WriteResult.marker = None`.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..model import Observation
from ..ports import (
    Capabilities,
    PeoplesyncError,
    ReadFailed,
    ReadPage,
    ReadResult,
    TransientError,
)
from . import csv_pages, csv_rows, csv_whole
from .base import BaseConnector, Harvest
from .checked_settings import settings_model
from .csv_rows import Layout as _Layout
from .csv_writes import CsvWrites
from .csv_writes import cell as _cell

if TYPE_CHECKING:
    from .csv_settings import CsvSettings
    from .csv_settings import CsvSettings as Settings

log = logging.getLogger(__name__)

#: what an `active_column` cell holding no value looks like in exports (besides an empty cell)
NULLS = frozenset({"null", "none", "\\n", "nil"})


class CsvSettingsProps:
    """The properties of the settings, checked now (`csv_settings.CsvSettings`) or before (`checked_settings`).
    No annotations: pydantic would take an annotated name for a field."""

    @property
    def deactivated(self) -> str:
        s: Any = self
        return str(s.inactive_value if s.inactive_value is not None else s.inactive_values[0])


def __getattr__(name: str) -> Any:
    """`Settings` (and `CsvSettings`): the pydantic model, imported when asked for (`csv_settings.py`)."""
    if name in ("Settings", "CsvSettings"):
        from .csv_settings import CsvSettings

        return CsvSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CsvConnector(csv_rows.CursorMemo, CsvWrites, BaseConnector):
    Settings = settings_model("peoplesync.connectors.csv_settings:CsvSettings")
    settings_props = CsvSettingsProps
    writable_by_default = False  # an export is a source: written to only with `writable: true`

    @classmethod
    def capabilities(cls, settings: Mapping[str, Any]) -> Capabilities:
        if settings.get("active_column"):
            return Capabilities()
        return Capabilities(deactivate=False, why={"deactivate": "set active_column, where a deactivation "
                                                                 "writes inactive_value"})
    cursor_compress = True  # a short hash per row
    cursor_version = 2  # rows hashed as `csv_rows.parse_items` does (1: JSON per row): an old cursor, a full read

    def __init__(self, name: str, settings: CsvSettings, attributes: Iterable[str], *, writable: bool = False,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 **kw: Any) -> None:
        """`clock` (wall-clock seconds, compared with the file's modification time) and `sleep`: injectable."""
        super().__init__(name, settings, attributes, writable=writable, **kw)
        self.s: Settings = self.settings
        self._clock, self._sleep = clock, sleep
        self._version: str | None = None  # the S3 object's ETag as last read: writes are conditional on it
        self._mine: str | None = None  # the file's tag as our last write left it: no need to wait for it
        self._inactive = frozenset(v.strip().lower() for v in self.s.inactive_values)  # compared lower-cased

    # --- file access --------------------------------------------------------------------------------------
    def _load(self, suspect: type[PeoplesyncError] = ReadFailed, *,
              parse: Callable[..., tuple[list[str], Any]] = csv_whole.parse) -> tuple[list[str], Any]:
        """(columns, rows) of the whole file (`parse`: rows as dicts, or `csv_whole.parse_records`: as lists);
        a file not known to be whole raises `suspect` with the reason."""
        try:
            text = self._steady_text()
            columns, rows = parse(text, delimiter=self.s.delimiter, trailer=self.s.trailer,
                                  require_final_newline=self.s.require_final_newline,
                                  formulas=self.s.neutralise_formulas)
        except FileNotFoundError as exc:
            raise ReadFailed(f"{self.name}: {self.s.path} not found") from exc
        except csv_whole.Suspect as exc:
            raise suspect(f"{self.name}: {self.s.path} is not taken as whole: {exc}; nothing is concluded "
                          "from it") from None
        except OSError as exc:
            raise TransientError(f"{self.name}: cannot read {self.s.path}: {type(exc).__name__} {exc.strerror or ''}"
                                 ) from None
        if self.s.key not in columns:
            raise ReadFailed(f"{self.name}: key column {self.s.key!r} is not in {self.s.path} ({columns})")
        return columns, rows

    def _steady_text(self) -> str:
        """The file's text, read while it stood still: unchanged since `settle_seconds` (waited for when it
        changed more recently) and unchanged by the end of the read."""
        path, settle = self.s.path, self.s.settle_seconds
        before = _stat(path)
        if settle and before.tag != self._mine:
            age = self._clock() - before.mtime
            if age < settle:
                self._sleep(min(settle, settle - age))
                if _stat(path).tag != before.tag:
                    raise csv_whole.Suspect(f"it changed again within {settle:g} s: it is still being written")
        text, self._version = _read_text(path, self.s.encoding)
        after = self._version if path.startswith("s3://") else _stat(path).tag
        if after != before.tag:
            raise csv_whole.Suspect("it changed while it was read")
        return text

    def _save(self, columns: list[str], rows: list[dict[str, str]], lines: dict[str, str] | None = None) -> str:
        """Replace the file with these rows (`lines`: rows' lines rendered before, by key; filled in here)."""
        text = csv_whole.render(columns, rows, delimiter=self.s.delimiter, formulas=self.s.neutralise_formulas,
                                lines=lines, key=self.s.key)
        self._mine = _write_text(self.s.path, text, self.s.encoding, self._version)
        return self._mine

    def _tag(self) -> str:
        return _stat(self.s.path).tag

    # --- reads ---------------------------------------------------------------------------------------------
    def _active(self, row: dict[str, str]) -> bool | None:
        """The row's state; None: unknown (an empty or NULL cell), never taken as inactive."""
        if not self.s.active_column:
            return True
        return self._state(row.get(self.s.active_column) or "")

    def _observation(self, row: dict[str, str]) -> Observation:
        # a column the file lacks is absent from the read, not blank (absent says nothing; blank may clear)
        attrs = {a: (row.get(a) or None) for a in self.attributes if a in row}
        return Observation(self.name, row[self.s.key], attrs, active=self._active(row) is not False)

    def _records(self, cursor: dict[str, Any] | None = None
                 ) -> tuple[_Layout, dict[str, Any], list[tuple[list[str], bool]], set[str]]:
        """(cell places; the cursor: "h" key -> hash of each row of known state, "k" their kind, "f" the text's
        digest; records of known state, with it; keys of unknown state). Not parsed: a line `cursor` holds."""
        c = cursor or {}
        before = c.get("h") or {}
        columns, (kind, items, whole) = self._load(
            parse=lambda text, **kw: csv_rows.parse_items(text, skip=set(before.values()), same=c.get("f"), **kw))
        if items is None:
            return _Layout(self, columns), {**c, "h": dict(before)}, [], set()
        if not items:
            raise ReadFailed(f"{self.name}: {self.s.path} has no rows; refusing to conclude that everyone left")
        if self.s.active_column and self.s.active_column not in columns:
            raise ReadFailed(f"{self.name}: active column {self.s.active_column!r} is not in {self.s.path}: "
                             "nobody's state is known; nothing is concluded from it")
        if (cursor or {}).get("k") != kind and any(cells is None for _, cells in items):
            return self._records(None)  # hashes of another kind matched by chance: parse every line
        layout = _Layout(self, columns)
        hashes, parsed, unknown = layout.split(items, before, self._state)
        if unknown:
            log.warning("%s: %d row(s) with no value in %r: state unknown, held back until it is known",
                        self.name, len(unknown), self.s.active_column)
        return layout, {"h": hashes, "k": kind, **({"f": whole} if whole and not unknown else {})}, parsed, unknown

    def _state(self, cell: str) -> bool | None:
        value = cell.strip().lower()
        return None if not value or value in NULLS else value not in self._inactive

    def _scope(self) -> str:
        return json.dumps([self.s.path, self.s.key, self.s.active_column, self.attributes])
    def _read_full(self) -> ReadResult:
        layout, state, parsed, unknown = self._records()  # a row held back is unlisted: who is gone is unknown
        return Harvest([layout.observation(r, a) for r, a in parsed], complete=not unknown, state=state)

    def _read_delta(self, state: dict[str, Any]) -> ReadResult | None:
        before = state.get("h")
        if not isinstance(before, dict):
            return None
        layout, cursor, parsed, unknown = self._records(state)
        now, k = cursor["h"], layout.key
        changed = [layout.observation(r, a) for r, a in parsed if before.get(r[k]) != now[r[k]]]
        now.update({k: before[k] for k in unknown if k in before})  # held back: neither changed nor gone
        gone = [Observation(self.name, k, {}, active=False, removed=True) for k in before
                if k not in now and k not in unknown]
        return Harvest(changed + gone, state=cursor)

    def read_pages(self, cursor: str | None = None, *, full: bool = False, page_size: int | None = None,
                   start: str | None = None) -> Iterator[ReadPage]:
        """Native pages (`csv_pages.py`) for a local file without trailer when `page_size` is given."""
        if page_size is None or self.s.trailer or self.s.path.startswith("s3://"):
            return super().read_pages(cursor, full=full, page_size=page_size, start=start)
        return csv_pages.read_pages(self, page_size, start, _stat)

    def find_account(self, match: Mapping[str, Any]) -> Observation | None:
        """The one row whose cells equal these values (compared as the text a write would put there), or
        None: no row, several, or a column the file does not have. The file must be whole, as for a write
        (else `TransientError`: a cut file cannot say the row is absent, and the create waits)."""
        allowed = {self.s.key, *self.attributes}
        if not match or any(attr not in allowed for attr in match):
            return None
        columns, rows = self._load(suspect=TransientError)
        if any(attr not in columns for attr in match):
            return None
        wanted = {attr: _cell(value) for attr, value in match.items()}
        found = [r for r in rows if all((r.get(a) or "") == v for a, v in wanted.items())]
        return self._observation(found[0]) if len(found) == 1 else None

def _s3_parts(path: str) -> tuple[str, str]:
    bucket, _, key = path[len("s3://"):].partition("/")
    return bucket, key


class FileStat(NamedTuple):
    size: int
    mtime: float  # seconds since the epoch
    tag: str  # changes whenever the file does: size, mtime and inode; the ETag in S3


def _stat(path: str) -> FileStat:
    if path.startswith("s3://"):
        import boto3
        from botocore.exceptions import ClientError

        bucket, key = _s3_parts(path)
        try:
            head = boto3.client("s3").head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(path) from None
            raise
        return FileStat(int(head["ContentLength"]), head["LastModified"].timestamp(), str(head.get("ETag")))
    st = os.stat(path)
    return FileStat(st.st_size, st.st_mtime, f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}")


def _read_text(path: str, encoding: str) -> tuple[str, str | None]:
    """The file's text, and for S3 the object's ETag (the version a write must still find)."""
    if path.startswith("s3://"):
        import boto3

        bucket, key = _s3_parts(path)
        s3 = boto3.client("s3")
        try:
            answer = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(path) from exc
        return str(answer["Body"].read().decode(encoding)), answer.get("ETag")
    return Path(path).read_bytes().decode(encoding), None  # bytes: a CR inside a quoted cell stays a CR


def _write_text(path: str, text: str, encoding: str, version: str | None = None) -> str:
    """Replace the file atomically; returns its new tag (`FileStat.tag`)."""
    data = text.encode(encoding.replace("-sig", ""))
    if path.startswith("s3://"):
        import boto3
        from botocore.exceptions import ClientError

        bucket, key = _s3_parts(path)
        s3: Any = boto3.client("s3")
        extra = {"IfMatch": version} if version else {}
        try:
            answer = s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="text/csv", **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                # another delivery wrote the file since we read it: nothing of ours was written; try again
                raise TransientError(f"{path} changed while we were writing it; will retry") from None
            raise
        return str(answer.get("ETag"))
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)  # atomic: a reader sees the old file or the new one, never half of it
    return _stat(path).tag


CONNECTOR = CsvConnector
