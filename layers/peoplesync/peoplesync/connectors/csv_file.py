"""CSV files: an HR export dropped on a share or in S3, or a file a downstream system imports.

Reads a local path or `s3://bucket/key`. The delta is by content hash per row: the cursor (the base's,
compressed) remembers a short hash of every row, so a poll reports only rows that changed, appeared or
disappeared (the file itself is read whole; it is the reconcile work that follows the number of changes).
Writable when `writable: true`: rows are updated in place (only the mapped columns), created rows are
appended, and the file is replaced atomically (locally by rename; in S3 by a PutObject conditional on the
ETag read, so two deliveries never lose each other's rows: the later one retries).
An empty file is a failed read, never "everyone left" (SPEC 20).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..model import CREATE, DEACTIVATE, DELETE, Observation, Write
from ..ports import (
    PeoplesyncError,
    PermanentError,
    ReadFailed,
    ReadResult,
    TransientError,
    WriteResult,
)
from .base import BaseConnector, Harvest


class CsvSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="Local path (relative to the configuration file) or s3://bucket/key")
    key: str = Field(description="Column holding each row's stable key")
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    active_column: str | None = Field(None, description="Column telling whether the row is active")
    inactive_values: list[str] = Field(default_factory=lambda: ["inactive", "terminated", "false", "0", "no"])


Settings = CsvSettings  # the name the registry and configuration checks look for


class CsvConnector(BaseConnector):
    Settings = CsvSettings
    writable_by_default = False
    cursor_compress = True  # a short hash per row

    def __init__(self, name: str, settings: CsvSettings, attributes: Iterable[str], *, writable: bool = False,
                 **kw: Any) -> None:
        super().__init__(name, settings, attributes, writable=writable, **kw)
        self.s: Settings = self.settings
        self._version: str | None = None  # the S3 object's ETag as last read: writes are conditional on it

    # --- file access --------------------------------------------------------------------------------------
    def _load(self) -> tuple[list[str], list[dict[str, str]]]:
        try:
            text, self._version = _read_text(self.s.path, self.s.encoding)
        except FileNotFoundError as exc:
            raise ReadFailed(f"{self.name}: {self.s.path} not found") from exc
        except OSError as exc:
            raise TransientError(f"{self.name}: cannot read {self.s.path}: {exc}") from exc
        reader = csv.DictReader(io.StringIO(text), delimiter=self.s.delimiter)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
        if self.s.key not in columns:
            raise ReadFailed(f"{self.name}: key column {self.s.key!r} is not in {self.s.path} ({columns})")
        return columns, rows

    def _save(self, columns: list[str], rows: list[dict[str, str]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, delimiter=self.s.delimiter, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        _write_text(self.s.path, buffer.getvalue(), self.s.encoding, self._version)

    # --- reads ---------------------------------------------------------------------------------------------
    def _observation(self, row: dict[str, str]) -> Observation:
        attrs = {a: (row.get(a) or None) for a in self.attributes}
        active = True
        if self.s.active_column:
            active = (row.get(self.s.active_column) or "").strip().lower() not in self.s.inactive_values
        return Observation(self.name, row[self.s.key], attrs, active=active)

    def _rows(self) -> list[dict[str, str]]:
        _, rows = self._load()
        if not rows:
            raise ReadFailed(f"{self.name}: {self.s.path} has no rows; refusing to conclude that everyone left")
        return rows

    def _scope(self) -> str:
        return json.dumps([self.s.path, self.s.key, self.s.active_column, self.attributes])

    def _read_full(self) -> ReadResult:
        rows = self._rows()
        return Harvest([self._observation(r) for r in rows], complete=True, state={"h": self._hashes(rows)})

    def _read_delta(self, state: dict[str, Any]) -> ReadResult | None:
        before = state.get("h")
        if not isinstance(before, dict):
            return None
        rows = self._rows()
        now = self._hashes(rows)
        changed = [self._observation(r) for r in rows if before.get(r[self.s.key]) != now[r[self.s.key]]]
        gone = [Observation(self.name, k, {}, active=False, removed=True) for k in before if k not in now]
        return Harvest(changed + gone, state={"h": now})

    def _hashes(self, rows: list[dict[str, str]]) -> dict[str, str]:
        columns = [*self.attributes, *([self.s.active_column] if self.s.active_column else [])]
        return {r[self.s.key]: hashlib.blake2b(json.dumps([r.get(c) for c in columns]).encode(),
                                               digest_size=6).hexdigest() for r in rows}

    # --- writes --------------------------------------------------------------------------------------------
    def write_batch(self, changes: list[Write]) -> list[WriteResult | PeoplesyncError]:
        """Every change applied to one read of the file, which is then replaced once (atomically)."""
        if not self.writable:
            return [PermanentError(f"system {self.name!r} is read-only; refusing {c.op}") for c in changes]
        columns, rows = self._load()
        index = {r[self.s.key]: r for r in rows}
        out: list[WriteResult | PeoplesyncError] = []
        for change in changes:
            unknown = set(change.attrs) - set(self.attributes)
            if unknown:
                out.append(PermanentError(f"system {self.name!r}: refusing to write unmapped attributes "
                                          f"{sorted(unknown)}"))
                continue
            try:
                out.append(self._change(columns, rows, index, change))
            except PermanentError as exc:
                out.append(exc)
        self._save(columns, rows)
        return out

    def _apply(self, change: Write) -> WriteResult:
        columns, rows = self._load()
        result = self._change(columns, rows, {r[self.s.key]: r for r in rows}, change)
        self._save(columns, rows)
        return result

    def _change(self, columns: list[str], rows: list[dict[str, str]], index: dict[str, dict[str, str]],
                change: Write) -> WriteResult:
        for attr in change.attrs:
            if attr not in columns:
                columns.append(attr)
        if change.op == CREATE:
            key = change.attrs.get(self.s.key) or f"new-{change.record_id[-10:]}"
            if str(key) in index:
                raise PermanentError(f"{self.name}: a row with {self.s.key}={key!r} already exists")
            rows.append(new := {self.s.key: str(key), **{k: _cell(v) for k, v in change.attrs.items()}})
            index[str(key)] = new
            return WriteResult(key=str(key))
        row = index.get(str(change.key))
        if row is None:
            raise PermanentError(f"{self.name}: no row with {self.s.key}={change.key!r}")
        if change.op == DELETE:
            rows.remove(row)
            del index[str(change.key)]
        elif change.op in (DEACTIVATE, "activate"):
            if not self.s.active_column:
                raise PermanentError(f"{self.name}: no active_column configured to {change.op} a row")
            if self.s.active_column not in columns:
                columns.append(self.s.active_column)
            row[self.s.active_column] = "active" if change.op == "activate" else "inactive"
        else:
            row.update({k: _cell(v) for k, v in change.attrs.items()})
        return WriteResult(key=change.key)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list | tuple):
        return ";".join(map(str, v))
    return str(v)


def _s3_parts(path: str) -> tuple[str, str]:
    bucket, _, key = path[len("s3://"):].partition("/")
    return bucket, key


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
    return Path(path).read_text(encoding=encoding), None


def _write_text(path: str, text: str, encoding: str, version: str | None = None) -> None:
    data = text.encode(encoding.replace("-sig", ""))
    if path.startswith("s3://"):
        import boto3
        from botocore.exceptions import ClientError

        bucket, key = _s3_parts(path)
        s3: Any = boto3.client("s3")
        extra = {"IfMatch": version} if version else {}
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="text/csv", **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                # another delivery wrote the file since we read it: nothing of ours was written; try again
                raise TransientError(f"{path} changed while we were writing it; will retry") from None
            raise
        return
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)  # atomic: a reader sees the old file or the new one, never half of it


CONNECTOR = CsvConnector
