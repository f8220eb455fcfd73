"""The SQLite store writes a batch's saves when the batch ends (`adapters/sqlite_pending.py`), in its
transaction. A failure part-way through that write (the disk full after the records, before their links)
must leave the file as the batch found it, and the store usable: the chunk is then reconciled again."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from peoplesync.adapters.sqlite_store import SqliteStore
from peoplesync.model import PERSON, RecordState, Shadow


class DiskFull:
    """The store's connection, failing the statements whose text holds `failing` (an executemany)."""

    def __init__(self, db: sqlite3.Connection, failing: str) -> None:
        self._db, self.failing = db, failing

    def executemany(self, sql: str, rows: Any) -> Any:
        if self.failing in sql:
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.executemany(sql, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@pytest.mark.parametrize("failing", ["INTO links", "UPDATE links", "INTO refs", "INTO vals", "INTO decisions"])
def test_given_the_write_of_a_batch_failing_part_way_then_nothing_of_it_is_stored_and_it_can_be_done_again(
        tmp_path, failing) -> None:
    store = SqliteStore(tmp_path / "state.sqlite3")
    store.save(RecordState(id="p1", golden={"title": "Nurse"}, shadows={"hr": Shadow(key="E1")},
                           keys={"employee_id": ["E1"]}))
    real = store._db

    def chunk() -> None:
        with store.batch():
            p1 = store.load("p1")
            p1.golden["title"] = "Matron"
            p1.shadows["ad"] = Shadow(key="u1", ref="CN=Ann")
            store.save(p1)
            store.save(RecordState(id="p2", shadows={"hr": Shadow(key="E2")}, keys={"employee_id": ["E2"]}))
            store.record_decisions("p1", [{"field": "title", "rule": "source"}], at=1.0)

    store._db = DiskFull(real, failing)  # type: ignore[assignment]
    with pytest.raises(sqlite3.OperationalError):
        chunk()
    store._db = real

    p1 = store.load("p1")
    assert p1 is not None and p1.version == 1 and p1.golden["title"] == "Nurse" and "ad" not in p1.shadows
    assert store.load("p2") is None and store.by_link(PERSON, "ad", "u1") is None
    assert store.by_link(PERSON, "hr", "E2") is None and store.by_value(PERSON, "employee_id", "E2") == set()
    assert store.by_ref(PERSON, "ad", "cn=ann") is None and store.decisions("p1") == []

    chunk()  # the chunk handed back and done again: all of it, once
    assert store.load("p1").version == 2 and store.load("p1").golden["title"] == "Matron"
    assert store.by_link(PERSON, "ad", "u1") == "p1" and store.by_ref(PERSON, "ad", "CN=Ann") == "p1"
    assert store.by_value(PERSON, "employee_id", "E2") == {"p2"} and len(store.decisions("p1")) == 1
    store.close()
