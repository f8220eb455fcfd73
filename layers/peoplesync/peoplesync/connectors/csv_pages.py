"""The CSV connector's paged read: rows streamed from the file, a page at a time, never the whole file in memory.

The position after a page is the byte offset of the next row, the rows read so far and the file's tag (size,
modification time and inode: its fingerprint). A position taken on another version of the file is not
trusted: the read begins again from the top (`ReadPage.restarted`), and nothing read before counts. A file
that changes while a page is read fails the read (nothing is concluded; the next poll resumes or restarts).
The checks of a whole read hold per page: every row has the header's number of fields, no quoted field is
left open; on the last page the last line is ended (`require_final_newline`). A row whose state is unknown is
held back and makes the read not complete. Exports with a `trailer`, and files in S3, are read whole (one page).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from ..model import Observation
from ..ports import ReadFailed, ReadPage
from . import csv_whole, paging

if TYPE_CHECKING:
    from .csv_file import CsvConnector


class _Lines:
    """The file's lines, decoded, counting the bytes handed out: after the csv reader yields a row, `offset`
    is where the next row begins (the reader pulls lines only as a row needs them)."""

    def __init__(self, f: IO[bytes], encoding: str) -> None:
        self.f, self.encoding, self.offset = f, encoding, f.tell()

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.f.readline()
        if not line:
            raise StopIteration
        self.offset += len(line)
        return line.decode(self.encoding)


def decode_position(text: str | None) -> dict[str, Any] | None:
    pos = paging.decode_position(text)
    return pos if pos is not None and {"tag", "byte", "rows", "unknown"} <= pos.keys() else None


def read_pages(conn: CsvConnector, page_size: int, start: str | None, tag_of: Any) -> Iterator[ReadPage]:
    """The file's accounts in pages of `page_size` rows (see the module's docstring)."""
    s = conn.s
    try:
        tag = tag_of(s.path).tag
    except FileNotFoundError:  # said as the whole read says it
        raise ReadFailed(f"{conn.name}: {s.path} not found") from None
    pos = decode_position(start)
    restarted = pos is not None and pos["tag"] != tag
    if pos is None or restarted:
        pos = {"tag": tag, "byte": None, "rows": 0, "unknown": 0}
    with open(s.path, "rb") as f:
        lines = _Lines(f, s.encoding)
        columns = _header(conn, csv.reader(lines, delimiter=s.delimiter, strict=True))
        if pos["byte"] is not None:
            f.seek(pos["byte"])
            lines.offset = pos["byte"]
        reader = csv.reader(lines, delimiter=s.delimiter, strict=True)
        while True:
            page, ended = _page(conn, reader, columns, page_size, pos)
            if tag_of(s.path).tag != tag:
                raise ReadFailed(f"{conn.name}: {s.path} changed while it was read; nothing is concluded from it")
            pos["byte"] = lines.offset
            if not ended:
                yield ReadPage(page, position=paging.encode_position(pos), restarted=restarted)
                restarted = False
                continue
            _check_end(conn, f, pos)
            yield ReadPage(page, last=True, complete=pos["unknown"] == 0, restarted=restarted)
            return


def _header(conn: CsvConnector, reader: Any) -> list[str]:
    s = conn.s
    columns: list[str] = next((r for r in _records(conn, reader) if r), [])
    if not columns:
        raise ReadFailed(f"{conn.name}: {s.path} has no rows; refusing to conclude that everyone left")
    if s.key not in columns:
        raise ReadFailed(f"{conn.name}: key column {s.key!r} is not in {s.path} ({columns})")
    if s.active_column and s.active_column not in columns:
        raise ReadFailed(f"{conn.name}: active column {s.active_column!r} is not in {s.path}: nobody's state is "
                         "known; nothing is concluded from it")
    return columns


def _records(conn: CsvConnector, reader: Any) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise ReadFailed(f"{conn.name}: {conn.s.path} is not taken as whole: it does not parse as CSV ({exc}); "
                         "nothing is concluded from it") from None


def _page(conn: CsvConnector, reader: Any, columns: list[str], size: int,
          pos: dict[str, Any]) -> tuple[list[Observation], bool]:
    """(the next page's observations, whether the file ended)."""
    out: list[Observation] = []
    formulas = conn.s.neutralise_formulas
    for record in _records(conn, reader):
        if not record:
            continue  # a blank line is no row
        if len(record) != len(columns):
            raise ReadFailed(f"{conn.name}: {conn.s.path} is not taken as whole: row {pos['rows'] + 1} has "
                             f"{len(record)} fields where the header has {len(columns)}")
        row = dict(zip(columns, [csv_whole.restore(c) for c in record] if formulas else record, strict=True))
        pos["rows"] += 1
        if conn._active(row) is None:
            pos["unknown"] += 1  # held back: the read cannot say who is gone
        else:
            out.append(conn._observation(row))
        if pos["rows"] % size == 0:
            return out, False
    return out, True


def _check_end(conn: CsvConnector, f: IO[bytes], pos: dict[str, Any]) -> None:
    if pos["rows"] == 0:
        raise ReadFailed(f"{conn.name}: {conn.s.path} has no rows; refusing to conclude that everyone left")
    if conn.s.require_final_newline:
        f.seek(-1, 2)
        if f.read(1) not in (b"\n", b"\r"):
            raise ReadFailed(f"{conn.name}: {conn.s.path} is not taken as whole: its last line has no line break: "
                             "the file may have been cut in its last row")
