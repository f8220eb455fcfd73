"""A delivery's confirm on the SQLite store is handed the record its writes were worked out on (`Reconciler.pending`
hands it back with `keep`) instead of decoding the stored record a second time, unless working the writes out
noted something on it (a create noting that the manager it names has no account there yet): the confirm then
loads the record as stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from peoplesync.adapters.sqlite_store import SqliteStore
from peoplesync.engine.core import Engine
from tests.unit.conftest import World, config


def _world(tmp_path: Path, people: int = 3) -> World:
    cfg = config()
    cfg["systems"]["cloud"]["provision"] = True
    w = World(cfg, SqliteStore(tmp_path / "s.sqlite3"))  # type: ignore[arg-type]
    for i in range(1, people + 1):
        w["hr"].put(f"W{i}", Employee_ID=f"E{i}", Work_Email=f"p{i}@corp.example")
        w["ad"].put(f"guid-{i}", ref=f"CN=Person {i},OU=Staff,DC=corp", employeeID=f"E{i}", mail=f"p{i}@corp.example",
                    title="Engineer")
    return w


def test_given_creates_owed_then_their_delivery_decodes_no_record_and_lands(tmp_path: Path, monkeypatch) -> None:
    w = _world(tmp_path)
    w.sync(deliver=False)  # reconciled: every record kept decoded, each owing the cloud a create
    monkeypatch.setattr(w.store, "_decode", lambda *a: pytest.fail("a record decoded again for its delivery"))
    report = w.bridge.deliver_owed()
    assert report.writes["cloud"] == 3 and not report.errors
    assert sorted(a["attrs"]["email"] for a in w["cloud"].accounts.values()) == [
        "p1@corp.example", "p2@corp.example", "p3@corp.example"]
    monkeypatch.undo()
    assert w.sync().total_writes == 0  # the confirms were saved: nothing owed again
    w.store.close()  # type: ignore[attr-defined]


def test_given_working_out_the_writes_noted_something_then_the_confirm_loads_the_record_as_stored(
        tmp_path: Path, monkeypatch) -> None:
    w = _world(tmp_path, people=1)
    w.sync(deliver=False)
    rid = w.store.by_link("person", "hr", "W1")
    assert rid is not None
    writes_for = Engine.writes_for

    def noting(self, state, system, index):  # as a create whose manager has no account there notes it
        state.waiting["manager"] = ["cloud|cn=nobody"]
        return writes_for(self, state, system, index)

    monkeypatch.setattr(Engine, "writes_for", noting)
    reconciler = w.bridge.reconciler
    with w.store.batch():
        assert reconciler.pending(rid, "cloud")
        loaded = w.store.load(rid)  # what the confirm would be handed
        assert loaded is not None and "manager" not in loaded.waiting
    w.store.close()  # type: ignore[attr-defined]


def test_given_creates_delivered_then_their_new_links_are_read_in_one_go(tmp_path: Path) -> None:
    """Each create's confirm links the new account (its save checks nobody holds it): the batch's new links are
    read in one query (`expect_links`), not one each."""
    w = _world(tmp_path, people=5)
    w.sync(deliver=False)
    asked: list[str] = []
    w.store._db.set_trace_callback(asked.append)  # type: ignore[attr-defined]
    assert w.bridge.deliver_owed().writes["cloud"] == 5
    assert not [q for q in asked if q.startswith("SELECT rid FROM links")]
    assert sum(q.startswith("SELECT key, rid FROM links") for q in asked) == 1
    assert len({w.store.by_link("person", "cloud", key) for key in w["cloud"].accounts}) == 5
    w.store.close()  # type: ignore[attr-defined]
