"""The SQLite store answers `by_value` of a field from a copy in memory: a small field from its first look-up
in a batch, a larger one once it has been asked `ASKED` times (then read whole), and the copies outlive the
batch. Whatever the copy, every answer must be what SQLite holds with the batch's saves applied: across
batches, after a batch rolled back, and after another process changed the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from peoplesync.adapters import sqlite_values
from peoplesync.adapters.sqlite_store import SqliteStore
from peoplesync.model import PERSON, RecordState


def _person(store: SqliteStore, rid: str, *ids: str) -> None:
    state = store.load(rid) or RecordState(id=rid)
    state.keys = {"employee_id": list(ids)} if ids else {}
    store.save(state)


def _asked_by_sql(store: SqliteStore, value: str) -> set[str]:
    rows = store._db.execute("SELECT rid FROM vals WHERE kind = ? AND field = ? AND value = ?",
                             (PERSON, "employee_id", value)).fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SqliteStore:
    monkeypatch.setattr(sqlite_values, "SMALL", 3)  # employee_id is a larger field here
    monkeypatch.setattr(sqlite_values, "ASKED", 4)
    s = SqliteStore(tmp_path / "s.sqlite3")
    for n in range(1, 9):
        _person(s, f"p{n}", f"E{n}")
    return s


def test_given_a_larger_field_asked_often_then_it_is_read_whole_and_answers_as_sqlite(store: SqliteStore) -> None:
    with store.batch():
        assert [store.by_value(PERSON, "employee_id", f"E{n}") for n in range(1, 6)] == [{f"p{n}"} for n in range(1, 6)]
        assert store._held.get((PERSON, "employee_id")) is not None  # read whole at the fifth look-up
        _person(store, "p1", "E9")  # released E1, took E9: the copy follows the save
        _person(store, "p10", "E1")
        assert store.by_value(PERSON, "employee_id", "E1") == {"p10"}
        assert store.by_value(PERSON, "employee_id", "E9") == {"p1"}
    with store.batch():  # the next batch answers from the copy kept, as SQLite now holds it
        for value in ("E1", "E2", "E9", "E10"):
            assert store.by_value(PERSON, "employee_id", value) == _asked_by_sql(store, value)
        _person(store, "p2")  # gives up E2
        assert store.by_value(PERSON, "employee_id", "E2") == set()
    assert _asked_by_sql(store, "E2") == set()
    store.close()


def test_given_a_batch_rolled_back_then_the_copy_does_not_keep_its_saves(store: SqliteStore) -> None:
    with store.batch():
        for n in range(1, 6):
            store.by_value(PERSON, "employee_id", f"E{n}")
    with pytest.raises(RuntimeError), store.batch():
        _person(store, "p3", "E33")
        assert store.by_value(PERSON, "employee_id", "E33") == {"p3"}
        raise RuntimeError("crash mid-chunk")
    with store.batch():
        assert store.by_value(PERSON, "employee_id", "E33") == set()
        assert store.by_value(PERSON, "employee_id", "E3") == {"p3"}
    store.close()


def test_given_another_process_changed_the_file_then_the_copy_is_read_again(store: SqliteStore, tmp_path: Path) -> None:
    with store.batch():
        for n in range(1, 6):
            store.by_value(PERSON, "employee_id", f"E{n}")
    other = SqliteStore(tmp_path / "s.sqlite3")
    with other.batch():
        _person(other, "p4", "E44")  # another `peoplesync` process, committed
    with store.batch():
        assert store.by_value(PERSON, "employee_id", "E44") == {"p4"}
        assert store.by_value(PERSON, "employee_id", "E4") == set()
    other.close()
    store.close()


def test_given_a_field_larger_than_whole_then_it_is_asked_entry_by_entry(store: SqliteStore,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_values, "WHOLE", 5)
    with store.batch():
        answers = [store.by_value(PERSON, "employee_id", f"E{n}") for n in range(1, 9)]
        assert answers == [{f"p{n}"} for n in range(1, 9)]
        assert store._held.get((PERSON, "employee_id")) is None  # 8 entries: not read whole
    store.close()
