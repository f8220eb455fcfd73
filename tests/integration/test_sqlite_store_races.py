"""SqliteStore shared by several writers (two CLI runs, or threads) on one file: no update is ever lost."""

from __future__ import annotations

import threading

import pytest

from peoplesync.adapters.sqlite_store import SqliteStore
from peoplesync.model import RecordState
from peoplesync.ports import VersionConflict


def test_given_two_stores_on_one_file_when_both_save_the_same_version_then_the_second_is_refused(tmp_path):
    path = tmp_path / "state.sqlite3"
    one, two = SqliteStore(path), SqliteStore(path)
    one.save(RecordState(id="p1", golden={"n": 0}))
    a, b = one.load("p1"), two.load("p1")

    a.golden["n"] = 1
    one.save(a)
    b.golden["n"] = 2
    with pytest.raises(VersionConflict):
        two.save(b)

    assert two.load("p1").golden == {"n": 1}
    one.close()
    two.close()


def test_given_four_writers_incrementing_one_record_with_retries_then_every_increment_counts(tmp_path):
    path = tmp_path / "state.sqlite3"
    SqliteStore(path).save(RecordState(id="p1", golden={"n": 0}))

    def writer() -> None:
        store = SqliteStore(path)
        for _ in range(25):
            while True:
                state = store.load("p1")
                state.golden["n"] += 1
                try:
                    store.save(state)
                    break
                except VersionConflict:
                    continue  # another writer won: read again and redo
        store.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    final = SqliteStore(path).load("p1")
    assert final.golden == {"n": 100}
    assert final.version == 101


def test_given_a_store_reopened_then_state_is_kept_between_runs(tmp_path):
    path = tmp_path / "nested" / "state.sqlite3"
    first = SqliteStore(path)
    first.save(RecordState(id="p1", golden={"title": "Engineer"}))
    first.put_cursor("ad", "usn:42")
    first.close()

    again = SqliteStore(path)
    assert again.load("p1").golden == {"title": "Engineer"}
    assert again.get_cursor("ad") == "usn:42"
    again.close()
