"""A delivery loads only the records that owe its target a write (`StateStore.owing`; SQLite: the `owes` column
written with each save). The local run queues a delivery per target a record owes when it is reconciled, and
by the time the deliveries run most of them are moot (the person's account was linked by the next system's
poll). What a user checks: the files end right, a crash mid-delivery ends as an uncrashed run would, an
older state file works, and the moot deliveries load no record.

Uses the three CSV systems of `test_digest_index.py`: HR, a writable directory (some titles stale) and a
writable, provisioned badge system that starts empty.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.sqlite_store import SqliteStore
from peoplesync.service import reconcile
from tests.unit.test_digest_index import PEOPLE, edit, files, rows, sync


def test_given_a_first_sync_then_deliveries_load_only_the_records_owing_their_target(tmp_path, monkeypatch) -> None:
    config = files(tmp_path)
    pending: list[tuple[str, str]] = []  # (record, target) whose writes a delivery looked up
    looked_up = reconcile.Reconciler.pending
    monkeypatch.setattr(reconcile.Reconciler, "pending",
                        lambda self, rid, system: pending.append((rid, system)) or looked_up(self, rid, system))

    first, _ = sync(config)

    # every person was queued for the directory (HR created them), but only the stale titles owed it a write
    assert first.writes == {"badges": PEOPLE, "directory": PEOPLE // 3}
    assert sorted(s for _, s in pending) == ["badges"] * PEOPLE + ["directory"] * (PEOPLE // 3)
    assert rows(config, "directory")["E3"]["title"] == "Title 3" and rows(config, "badges")["E5"]["phone"]
    echo, _ = sync(config)
    assert echo.total_writes == 0


def test_given_a_state_file_from_before_the_owes_column_then_it_is_migrated_and_deliveries_still_land(
        tmp_path) -> None:
    config = files(tmp_path)
    sync(config, deliver=False)  # everyone created and linked; the writes owed are queued, kept in the state
    db = sqlite3.connect(config.parent / "state.sqlite3")
    db.execute("ALTER TABLE records DROP COLUMN owes")  # the file as an earlier version left it
    db.commit()
    db.close()

    report, _ = sync(config)  # every record may owe anything until it is saved again: each is looked at

    assert report.writes == {"badges": PEOPLE, "directory": PEOPLE // 3}
    assert rows(config, "directory")["E6"]["title"] == "Title 6"
    columns = [r[1] for r in sqlite3.connect(config.parent / "state.sqlite3").execute("PRAGMA table_info(records)")]
    assert "owes" in columns
    edit(config, "hr", "E2", title="Chief")
    again, _ = sync(config)
    assert again.writes == {"directory": 1} and rows(config, "directory")["E2"]["title"] == "Chief"


class Crash(BaseException):
    """A kill (not an Exception: nothing in the flow catches it)."""


@pytest.mark.parametrize("at", range(1, 7))
def test_given_a_crash_at_each_owing_question_then_the_next_sync_ends_as_an_uncrashed_one(tmp_path, at) -> None:
    """The process dies when a delivery chunk asks which records owe its target (before any write of that
    chunk, or between two targets' chunks): the chunk is undone and kept queued; the next sync delivers it."""
    config = files(tmp_path)
    inner = SqliteStore(config.parent / "state.sqlite3")
    asked = 0
    owing = inner.owing

    def dying(system: str, record_ids: Any) -> set[str]:
        nonlocal asked
        asked += 1
        if asked == at:
            raise Crash(f"killed at owing question {at}")
        return owing(system, record_ids)

    inner.owing = dying  # type: ignore[method-assign]
    crashed = at <= 2  # two targets, one chunk each: the later questions are never asked
    try:
        bootstrap.local_from_file(config, store=inner).sync()
        assert not crashed
    except Crash:
        assert crashed
    finally:
        inner.close()

    report, _ = sync(config)
    echo, _ = sync(config)

    assert rows(config, "directory")["E3"]["title"] == "Title 3" and len(rows(config, "badges")) == PEOPLE
    assert sorted(rows(config, "badges")) == sorted(f"E{n}" for n in range(1, PEOPLE + 1))  # each badge once
    assert echo.total_writes == 0 and (report.total_writes > 0) == crashed
