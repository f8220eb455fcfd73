"""The SQLite store keeps the decisions of one `record_decisions` call in one row (a first sight makes eight:
one row, not eight). A state file written before keeps its rows of one decision each: `peoplesync explain`
reads both, oldest first, whole or for one field."""

from __future__ import annotations

import json

from peoplesync.adapters.sqlite_store import SqliteStore


def test_given_decisions_from_before_and_after_the_grouped_rows_then_explain_reads_them_all_in_order(tmp_path):
    store = SqliteStore(tmp_path / "state.sqlite3")
    old = [{"field": "title", "rule": "source", "value": "Nurse", "at": 1.0},
           {"field": "name", "rule": "source", "value": "Ann", "at": 1.0}]
    with store._transaction() as db:  # rows as an earlier version wrote them: one decision each
        db.executemany("INSERT INTO decisions (rid, field, data) VALUES (?, ?, ?)",
                       [("p1", d["field"], json.dumps(d)) for d in old])
    store.record_decisions("p1", [{"field": "title", "rule": "conflict", "value": "Matron"},
                                  {"field": "phone", "rule": "source", "value": "+1"}], at=2.0)
    with store.batch():
        store.record_decisions("p1", [{"field": "title", "rule": "source", "value": "Head"}], at=3.0)
        store.record_decisions("p1", [], at=3.5)  # nothing decided: nothing recorded
        store.record_decisions("p2", [{"field": "title", "rule": "source", "value": "Clerk"}], at=4.0)
        inside = store.decisions("p1", "title")

    assert [(d["value"], d["at"]) for d in store.decisions("p1")] == [
        ("Nurse", 1.0), ("Ann", 1.0), ("Matron", 2.0), ("+1", 2.0), ("Head", 3.0)]
    assert [(d["rule"], d["value"]) for d in store.decisions("p1", "title")] == [
        ("source", "Nurse"), ("conflict", "Matron"), ("source", "Head")] == [(d["rule"], d["value"]) for d in inside]
    assert store.decisions("p1", "email") == [] and [d["value"] for d in store.decisions("p2")] == ["Clerk"]
    assert store._all("SELECT COUNT(*) FROM decisions", ()) == [(5,)]  # 2 old rows, then one per call
    store.close()
