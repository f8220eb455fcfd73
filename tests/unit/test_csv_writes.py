"""Writes to a CSV file in several batches (the local run delivers a target in chunks): the rows as this
process last wrote the file are kept, so the next batch neither reads nor parses it again and renders only the
rows it changes (`connectors/csv_writes.py`). The file written must be the one a fresh read would have given,
and anything the kept copy cannot vouch for (someone else's edit, a failed write) is read again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from peoplesync.connectors import csv_file
from peoplesync.connectors.csv_file import CsvConnector, Settings
from peoplesync.model import CREATE, DEACTIVATE, UPDATE, Write

ATTRS = ["Name", "Title", "Phone"]
TEXT = ("Employee_ID,Name,Title,Phone,Status\n"
        + "".join(f"E{n},Person {n},Title {n},+1 317 555 {n:04d},active\n" for n in range(1, 41))
        + 'E41,"Smith,  Jr.",=cmd(),"line\rbreak",active\n')


def connector(path: Path) -> CsvConnector:
    return CsvConnector("directory", Settings(path=str(path), key="Employee_ID", active_column="Status",
                                              settle_seconds=0), ATTRS, writable=True)


class Counting(CsvConnector):
    """Counts the reads of the whole file a write makes."""

    loads = 0

    def _load(self, *args: Any, **kw: Any) -> Any:
        self.loads += 1
        return super()._load(*args, **kw)


def counting(path: Path) -> Counting:
    return Counting("directory", Settings(path=str(path), key="Employee_ID", active_column="Status",
                                          settle_seconds=0), ATTRS, writable=True)


def batches() -> list[list[Write]]:
    return [
        [Write("directory", UPDATE, "p2", "E2", {"Title": "Nurse"}),
         Write("directory", CREATE, "p50", None, {"Name": "New =one", "Title": "Clerk"})],
        [Write("directory", UPDATE, "p2", "E2", {"Title": "Head Nurse"}),  # a row changed again
         Write("directory", DEACTIVATE, "p3", "E3", {}),
         Write("directory", UPDATE, "p50", "new-p50", {"Phone": "-12"}),  # the row created by the batch before
         Write("directory", UPDATE, "p41", "E41", {"Title": "+SUM(A1)"})],
        [Write("directory", UPDATE, "p9", "E9", {"Title": "Analyst"}),
         Write("directory", UPDATE, "p99", "E99", {"Title": "Nobody"})],  # refused: no such row
    ]


def fresh_each_time(path: Path) -> list[Any]:
    """What the batches give when every one reads the file anew (a new connector each time)."""
    return [connector(path).write_batch(changes) for changes in batches()]


def test_given_batches_on_one_connector_then_the_file_is_the_one_fresh_reads_give_and_read_once(
        tmp_path: Path) -> None:
    kept, fresh = tmp_path / "kept.csv", tmp_path / "fresh.csv"
    kept.write_text(TEXT)
    fresh.write_text(TEXT)
    c = counting(kept)

    results = [c.write_batch(changes) for changes in batches()]

    expected = fresh_each_time(fresh)
    assert kept.read_bytes() == fresh.read_bytes()
    assert [[type(r).__name__ for r in batch] for batch in results] == \
        [[type(r).__name__ for r in batch] for batch in expected]
    assert "no row with Employee_ID='E99'" in str(results[2][1])
    assert c.loads == 1  # the first batch read the file; the others trusted what it wrote
    rows = {o.key: o for o in connector(kept).read().observations}  # and it reads back as written
    assert rows["E2"].attrs["Title"] == "Head Nurse" and not rows["E3"].active
    assert rows["E41"].attrs == {"Name": "Smith,  Jr.", "Title": "+SUM(A1)", "Phone": "line\rbreak"}
    assert rows["new-p50"].attrs["Phone"] == "-12" and rows["new-p50"].attrs["Name"] == "New =one"


def test_given_someone_else_edits_the_file_between_batches_then_the_next_batch_keeps_the_edit(
        tmp_path: Path) -> None:
    path = tmp_path / "directory.csv"
    path.write_text(TEXT)
    c = counting(path)
    c.write_batch(batches()[0])
    path.write_text(path.read_text().replace("Title 7,", "Edited by hand,"))

    c.write_batch(batches()[1])

    assert c.loads == 2
    rows = {o.key: o for o in connector(path).read().observations}
    assert rows["E7"].attrs["Title"] == "Edited by hand" and rows["E2"].attrs["Title"] == "Head Nurse"


def test_given_a_write_of_the_file_fails_then_the_next_batch_reads_it_again_and_the_failed_changes_are_not_in_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "directory.csv"
    path.write_text(TEXT)
    c = counting(path)
    c.write_batch(batches()[0])
    real = csv_file._write_text

    def full_disk(*args: Any, **kw: Any) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv_file, "_write_text", full_disk)
    with pytest.raises(OSError):
        c.write_batch(batches()[1])  # the batch fails as a whole (the flow sends it back, to be re-read first)
    monkeypatch.setattr(csv_file, "_write_text", real)

    c.write_batch(batches()[2])

    assert c.loads == 2
    rows = {o.key: o for o in connector(path).read().observations}
    assert rows["E2"].attrs["Title"] == "Nurse" and rows["E3"].active  # the failed batch's changes: not there
    assert rows["E9"].attrs["Title"] == "Analyst"


def test_given_a_write_adding_a_column_then_every_row_is_written_with_it(tmp_path: Path) -> None:
    path = tmp_path / "directory.csv"
    path.write_text("Employee_ID,Name,Title,Status\n" + "".join(f"E{n},Person {n},Title {n},active\n"
                                                                 for n in range(1, 6)))
    c = connector(path)
    c.write_batch([Write("directory", UPDATE, "p2", "E2", {"Title": "Nurse"})])
    c.write_batch([Write("directory", UPDATE, "p4", "E4", {"Phone": "+13175550004"})])  # a column added

    lines = path.read_text().splitlines()
    assert lines[0] == "Employee_ID,Name,Title,Status,Phone"
    assert lines[2] == "E2,Person 2,Nurse,active," and lines[4] == "E4,Person 4,Title 4,active,+13175550004"


def test_given_a_file_holding_one_key_twice_then_each_row_is_written_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "directory.csv"
    path.write_text(TEXT + "E5,Another five,Other title,,active\n")
    c = counting(path)

    c.write_batch([Write("directory", UPDATE, "p2", "E2", {"Title": "Nurse"})])
    c.write_batch([Write("directory", UPDATE, "p9", "E9", {"Title": "Analyst"})])

    text = path.read_text()
    assert "E5,Person 5,Title 5,+1 317 555 0005,active\n" in text and "E5,Another five,Other title,,active\n" in text
    assert c.loads == 2  # two rows under one key: nothing kept, read each time
