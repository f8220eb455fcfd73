"""Writes to a CSV file (`CsvConnector`, mixed in): every change of a batch applied to one read of the file,
which is then replaced once, atomically (`csv_file._write_text`).

The rows as this process last wrote a local file are kept, with each row's rendered line (`Written`): the next
batch, while the file is still exactly as that write left it (its tag: size, modification time, inode), neither
reads nor parses it again, and renders only the rows it changes. The local run delivers a target in chunks, and
a file of 20,000 rows was parsed and rendered whole for each. The text written is the same either way. Anything
else (a file someone else wrote since, S3, a trailer, an error while writing) reads the file as before.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..model import CREATE, DEACTIVATE, DELETE, Write
from ..ports import PeoplesyncError, PermanentError, TransientError, WriteResult


class Written(NamedTuple):
    """A local file as this process last wrote it: its tag then, its columns and rows, each row's line."""

    tag: str
    columns: list[str]
    rows: list[dict[str, str]]
    lines: dict[str, str]  # row key -> its line as rendered (rows a batch changes are dropped before it renders)


class CsvWrites:
    """Mixed into `CsvConnector`, whose settings, file access and attributes it uses."""

    s: Any
    name: str
    writable: bool
    attributes: list[str]
    _written: Written | None = None

    _load: Any  # (suspect=...) -> (columns, rows as dicts): the whole file, read and parsed

    def _save(self, columns: list[str], rows: list[dict[str, str]], lines: dict[str, str] | None = None) -> str:
        raise NotImplementedError

    def _tag(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        self._written = None  # the end of a run (`Runtime.close`): a later one reads the file again

    def write_batch(self, changes: list[Write]) -> list[WriteResult | PeoplesyncError]:
        """Every change applied to one read of the file, which is then replaced once (atomically)."""
        if not self.writable:
            return [PermanentError(f"system {self.name!r} is read-only; refusing {c.op}") for c in changes]
        columns, rows, lines = self._rows()
        index = {r[self.s.key]: r for r in rows}
        out: list[WriteResult | PeoplesyncError] = []
        for change in changes:
            unknown = set(change.attrs) - set(self.attributes)
            if unknown:
                out.append(PermanentError(f"system {self.name!r}: refusing to write unmapped attributes "
                                          f"{sorted(unknown)}"))
                continue
            width = len(columns)
            lines.pop(str(change.key), None)
            try:
                out.append(result := self._change(columns, rows, index, change))
                lines.pop(str(result.key), None)
            except PermanentError as exc:
                out.append(exc)
            if len(columns) != width:  # a column added: every line changes
                lines.clear()
        self._keep(columns, rows, lines)
        return out

    def _apply(self, change: Write) -> WriteResult:
        columns, rows, lines = self._rows()
        lines.pop(str(change.key), None)
        result = self._change(columns, rows, {r[self.s.key]: r for r in rows}, change)
        lines.pop(str(result.key), None)
        self._keep(columns, rows, lines)
        return result

    def _rows(self) -> tuple[list[str], list[dict[str, str]], dict[str, str]]:
        """(columns, rows, lines kept) to change: as this process last wrote them if the file is still exactly
        that, else read (and parsed) again. Whatever happens next, the kept copy is no longer trusted until
        the file is written (the rows are about to change)."""
        kept, self._written = self._written, None
        if kept is not None and self._tag() == kept.tag:
            return kept.columns, kept.rows, kept.lines
        columns, rows = self._load(suspect=TransientError)
        return columns, rows, {}

    def _keep(self, columns: list[str], rows: list[dict[str, str]], lines: dict[str, str]) -> None:
        """Write the rows; keep them (with their lines) for the next batch when that is safe: a local file
        without trailer, and no key held by two rows (a line is kept by its row's key)."""
        unique = len({r.get(self.s.key) for r in rows}) == len(rows)
        tag = self._save(columns, rows, lines if unique else None)
        if unique and not self.s.path.startswith("s3://") and not self.s.trailer:
            self._written = Written(tag, columns, rows, lines)

    def _change(self, columns: list[str], rows: list[dict[str, str]], index: dict[str, dict[str, str]],
                change: Write) -> WriteResult:
        for attr in change.attrs:
            if attr not in columns:
                columns.append(attr)
        if change.op == CREATE:
            key = change.attrs.get(self.s.key) or f"new-{change.record_id[-10:]}"
            if str(key) in index:
                raise PermanentError(f"{self.name}: a row with {self.s.key}={key!r} already exists")
            rows.append(new := {self.s.key: str(key), **{k: cell(v) for k, v in change.attrs.items()}})
            if self.s.active_column:  # a created account is active (an empty state would be unknown)
                if self.s.active_column not in columns:
                    columns.append(self.s.active_column)
                new.setdefault(self.s.active_column, self.s.active_value)
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
            row[self.s.active_column] = self.s.active_value if change.op == "activate" else self.s.deactivated
        else:
            row.update({k: cell(v) for k, v in change.attrs.items()})
        return WriteResult(key=change.key)


def cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list | tuple):
        return ";".join(map(str, v))
    return str(v)
