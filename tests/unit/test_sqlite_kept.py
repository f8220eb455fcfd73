"""The SQLite store keeps a record its caller handed back (`keep`, after a save) decoded between batches, and
hands it to the next load instead of decoding the stored text again. What it keeps must never be older than
the file: another process's commit, a batch rolled back, or a save of the record by another way (`load_many`)
drops it."""

from __future__ import annotations

from pathlib import Path

import pytest

from peoplesync.adapters.sqlite_store import SqliteStore
from peoplesync.model import RecordState, Shadow
from peoplesync.ports import VersionConflict


def _saved(store: SqliteStore, title: str = "Engineer") -> RecordState:
    with store.batch():
        state = store.load("p1") or RecordState(id="p1", shadows={"ad": Shadow(key="u1")})
        state.golden["title"] = title
        store.save(state)
        store.keep(state)
    return state


def test_given_a_kept_record_then_the_next_batch_loads_that_object_without_decoding(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    kept = _saved(store)
    monkeypatch.setattr(store, "_decode", lambda *a: pytest.fail("decoded again"))
    with store.batch():
        assert store.load("p1") is kept  # handed over: the caller owns it now
    store.close()


def test_given_another_process_saved_the_record_then_the_kept_one_is_not_loaded(tmp_path: Path) -> None:
    mine, theirs = SqliteStore(tmp_path / "s.sqlite3"), SqliteStore(tmp_path / "s.sqlite3")
    _saved(mine)
    _saved(theirs, "Manager")  # another process's run, committed to the same file (version 2)
    with mine.batch():
        loaded = mine.load("p1")
        assert loaded is not None and (loaded.version, loaded.golden["title"]) == (2, "Manager")
        loaded.golden["title"] = "Director"
        mine.save(loaded)  # at the file's version: not refused, nothing of theirs lost
    assert theirs.load("p1").golden["title"] == "Director"  # type: ignore[union-attr]
    mine.close()
    theirs.close()


def test_given_a_kept_record_saved_again_by_a_listing_then_the_kept_one_is_dropped(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    stale = _saved(store)
    with store.batch():
        listed = store.load_many(["p1"])["p1"]  # not from what is kept: read from the file
        listed.golden["title"] = "Manager"
        store.save(listed)
    with store.batch():
        loaded = store.load("p1")
        assert loaded is not stale and loaded is not None and loaded.golden["title"] == "Manager"
        with pytest.raises(VersionConflict):
            store.save(stale)  # the old object is at version 1; the file at 2
    store.close()


def test_given_a_batch_rolled_back_then_nothing_kept_is_loaded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    _saved(store)
    with pytest.raises(RuntimeError), store.batch():
        state = store.load("p1")
        assert state is not None
        state.golden["title"] = "Manager"
        store.save(state)
        store.keep(state)  # kept at version 2, which the rollback undoes
        raise RuntimeError("crash inside the chunk")
    with store.batch():
        loaded = store.load("p1")
        assert loaded is not None and (loaded.version, loaded.golden["title"]) == (1, "Engineer")
    store.close()


def test_given_a_kept_record_loaded_twice_in_a_batch_then_the_second_is_decoded_from_the_file(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    kept = _saved(store)
    with store.batch():
        first, second = store.load("p1"), store.load("p1")
        assert first is kept and second is not kept and second is not None
        assert second.to_dict() == kept.to_dict()
    store.close()


def test_given_a_record_looked_for_and_absent_then_a_save_of_it_is_checked_as_new(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    with store.batch():
        assert store.load("p1") is None
        store.save(RecordState(id="p1"))
        with pytest.raises(VersionConflict):
            store.save(RecordState(id="p1"))  # version 0 again: the record exists now
    assert store.load("p1").version == 1  # type: ignore[union-attr]
    store.close()


def test_given_a_chunk_of_records_expected_then_loading_them_asks_sqlite_nothing_more(tmp_path: Path) -> None:
    """`expect_records`: the records a chunk will load (and the new ones it will find absent) read in one query
    per 500 ids, not one each."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    with store.batch():
        for i in range(3):
            store.save(RecordState(id=f"p{i}", shadows={"ad": Shadow(key=f"u{i}")}))
    store2 = SqliteStore(tmp_path / "s.sqlite3")  # another process: nothing kept from those saves
    asked: list[str] = []
    store2._db.set_trace_callback(asked.append)
    with store2.batch():
        store2.expect_records([f"p{i}" for i in range(6)])
        queries = len(asked)
        loaded = [store2.load(f"p{i}") for i in range(6)]
        assert len(asked) == queries  # every load answered from what the hint read
    assert [s.shadows["ad"].key if s else None for s in loaded] == ["u0", "u1", "u2", None, None, None]
    assert sum("FROM records WHERE id IN" in q for q in asked) == 1
    store.close()
    store2.close()
