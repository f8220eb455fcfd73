"""Through the bridge and the real SQL connector (PostgreSQL the suite starts, and SQLite): a badge table without
an `active_column` cannot record that someone left, so no deactivation is planned toward it and nothing is
dead-lettered, at every sync (issue 12.6: 60 letters at 2,000 people before); with `active_column` the row is
deactivated, and a second sync writes nothing."""

from __future__ import annotations

from typing import Any

from peoplesync import bootstrap
from peoplesync_dev.memory import MemoryConnector
from tests.integration.sql.sql_fixtures import Db


def bridge(db: Db, hr: MemoryConnector | None = None, store: Any = None, **badges: Any
           ) -> tuple[Any, MemoryConnector]:
    if hr is None:
        hr = MemoryConnector("hr", ["employeeID", "name"], writable=False)
        for i in range(1, 6):
            hr.put(f"w{i}", employeeID=f"E{i:03d}", name=f"Person {i}")
    system = {"connector": "sql", "url": db.url, "table": "badge_holders", "key": "badge_holder_id", **badges}
    if db.kind == "pg":
        system["credentials"] = "secret:peoplesync/badges"
    config = {
        "systems": {"hr": {"connector": "memory", "writable": False}, "badges": system},
        "fields": {"employee_id": {"source": "hr", "map": {"hr": "employeeID", "badges": "employee_id"}},
                   "name": {"source": "hr", "map": {"hr": "name", "badges": "display_name"}}},
        "match": ["employee_id"], "lifecycle": {"source": "hr"},
        "policies": {"removed": "deactivate", "max_changes_per_run": None},
    }
    local = bootstrap.local(config, connectors={"hr": hr}, secrets=db.secrets, sleep=lambda s: None, store=store)
    first = local.sync()
    assert not first.errors and first.dead_letters == 0
    return local, hr


def test_a_leaver_toward_a_table_without_active_column_dead_letters_nothing(db: Db) -> None:
    local, hr = bridge(db)
    assert not local.plan.systems["badges"].deactivate
    hr.disable("w2")

    report = local.sync()

    assert report.dead_letters == 0 and not report.errors and report.writes.get("badges", 0) == 0
    assert db.rows()[2]["active"] is True  # nowhere to say it: left as it was
    hr.disable("w3")
    again = local.sync(full=True)
    assert again.dead_letters == 0 and again.total_writes == 0


def test_the_control_with_active_column_the_row_is_deactivated_once(db: Db) -> None:
    local, hr = bridge(db, active_column="active")
    hr.disable("w2")

    report = local.sync()

    assert report.writes["badges"] == 1 and report.dead_letters == 0
    assert db.rows()[2]["active"] is False
    assert local.sync(full=True).total_writes == 0  # read back as inactive: not deactivated again


def test_once_active_column_is_configured_the_leaver_is_deactivated_there(db: Db) -> None:
    """No remap is needed: the connector's read covers the new column (its cursor's scope moved), so every row
    is read again with its state, and the one active row of a person who left is deactivated."""
    local, hr = bridge(db)
    hr.disable("w2")
    assert local.sync().writes.get("badges", 0) == 0

    later, _ = bridge(db, hr=hr, store=local.store, active_column="active")

    assert db.rows()[2]["active"] is False and [r["active"] for r in db.rows().values()].count(False) == 1
    assert later.sync(full=True).total_writes == 0
