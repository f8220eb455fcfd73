"""Creates safe to retry and reads older than our writes, on real PostgreSQL and SQLite.

- `find_account`: the one row whose columns hold the record's match keys (bound values, reflected columns);
  through the bridge, a create that landed before the function died is linked when its delivery comes back,
  never inserted twice.
- `WriteResult.marker`: the row's watermark read back after the write (a trigger that bumps it included), the
  same marker reads carry; through the bridge, a read taken before our write is stale after confirm.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from peoplesync import bootstrap
from peoplesync.connectors import sql
from peoplesync.model import Write
from peoplesync.ports import Connector
from peoplesync.service.reconcile import STALE
from peoplesync_dev.memory import MemoryConnector
from tests.integration.sql.sql_fixtures import Db

INJECTIONS = ["E001' OR '1'='1", "E001'; DROP TABLE badge_holders; --", "%", "E00_", "E001\x00"]


def create(employee_id: str, name: str = "New Person") -> Write:
    return Write("badges", "create", "rec-" + employee_id, None,
                 {"employee_id": employee_id, "badge_number": "B-" + employee_id, "display_name": name})


def bump_watermark_on_update(db: Db) -> None:
    """What a badge system's own trigger does: every UPDATE moves `updated_at` one hour on."""
    with db.admin.begin() as c:
        if db.kind == "pg":
            c.exec_driver_sql(
                "CREATE OR REPLACE FUNCTION bump_updated_at() RETURNS trigger AS $$ BEGIN "
                "NEW.updated_at := COALESCE(OLD.updated_at, TIMESTAMP '2024-01-01 09:00:00') + INTERVAL '1 hour'; "
                "RETURN NEW; END $$ LANGUAGE plpgsql")
            c.exec_driver_sql("CREATE TRIGGER badge_holders_bump BEFORE UPDATE ON badge_holders "
                              "FOR EACH ROW EXECUTE FUNCTION bump_updated_at()")
        else:
            c.exec_driver_sql(
                "CREATE TRIGGER badge_holders_bump AFTER UPDATE OF employee_id, badge_number, display_name, active "
                "ON badge_holders BEGIN UPDATE badge_holders SET updated_at = "
                "datetime(COALESCE(OLD.updated_at, '2024-01-01 09:00:00'), '+1 hour') "
                "WHERE badge_holder_id = NEW.badge_holder_id; END")


def rows_of(db: Db, employee_id: str) -> list[dict[str, Any]]:
    return [r for r in db.rows().values() if r["employee_id"] == employee_id]


# --- find_account ----------------------------------------------------------------------------------------
def test_a_created_row_is_found_by_its_match_keys_from_another_process(db: Db) -> None:
    result = db.connector(insert=True, active_column="active").write(create("E900"))

    found = db.connector(active_column="active").find_account({"employee_id": "E900"})  # a fresh connector

    assert found is not None and found.key == result.key and found.active
    assert found.attrs == {"badge_number": "B-E900", "display_name": "New Person", "employee_id": "E900"}
    assert db.connector().find_account({"employee_id": "E901"}) is None


def test_two_rows_holding_the_match_keys_find_none(db: Db) -> None:
    c = db.connector()
    assert c.find_account({"employee_id": "E002"}).key == "2"

    db.execute(sa.insert(db.table).values(badge_holder_id=50, employee_id="E002", display_name="Twin"))

    assert c.find_account({"employee_id": "E002"}) is None
    assert c.find_account({"employee_id": "E002", "display_name": "Twin"}).key == "50"


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_in_a_match_value_is_bound_not_executed(db: Db, value: str) -> None:
    before = db.rows()

    assert db.connector().find_account({"employee_id": value}) is None  # compared as a value: no row holds it

    assert db.rows() == before


def test_only_the_key_and_mapped_columns_can_be_looked_up_and_values_are_typed(db: Db) -> None:
    c = db.connector()
    assert c.find_account({"site": "HQ"}) is None  # unmapped: never a lookup column
    assert c.find_account({"employee_id = 'E001' OR 1=1 --": "x"}) is None
    assert c.find_account({}) is None
    assert c.find_account({"badge_holder_id": "3"}).key == "3"  # text to integer
    assert c.find_account({"badge_holder_id": "3 OR 1=1"}) is None  # no integer column holds it
    assert c.find_account({"badge_holder_id": "9" * 30}) is None  # nor this one (out of range)


def test_a_configured_query_is_searched_as_read(db: Db) -> None:
    c = db.connector(table=None, query="SELECT * FROM badge_holders WHERE site = 'HQ'")
    assert c.find_account({"badge_number": "B-1004"}).key == "4"


# --- the marker after a write -----------------------------------------------------------------------------
def test_a_write_returns_the_watermark_a_read_after_it_carries(db: Db) -> None:
    bump_watermark_on_update(db)
    c = db.connector(watermark="updated_at", active_column="active")
    before = {o.key: o.marker for o in c.read().observations}

    results = c.write_batch([Write("badges", "update", "r2", "2", {"display_name": "Two"}),
                             Write("badges", "deactivate", "r3", "3", {})])

    after = {o.key: o.marker for o in db.connector(watermark="updated_at", active_column="active")
             .read().observations}
    assert [r.marker for r in results] == [after["2"], after["3"]]
    assert after["2"] > before["2"] and after["3"] > before["3"]


def test_without_a_trigger_the_marker_is_the_unmoved_watermark_and_without_a_watermark_none(db: Db) -> None:
    c = db.connector(watermark="updated_at")
    before = {o.key: o.marker for o in c.read().observations}
    assert c.write(Write("badges", "update", "r2", "2", {"display_name": "Two"})).marker == before["2"]
    assert db.connector().write(Write("badges", "update", "r2", "2", {"display_name": "Deux"})).marker is None


# --- through the bridge --------------------------------------------------------------------------------------
def bridge(db: Db, hr: MemoryConnector, **badges: Any) -> Any:
    system: dict[str, Any] = {"connector": "sql", "url": db.url, "table": "badge_holders", "key": "badge_holder_id",
                              "active_column": "active", **badges}
    if db.kind == "pg":
        system["credentials"] = "secret:peoplesync/badges"
    config = {
        "systems": {"hr": {"connector": "memory"}, "badges": system},
        "fields": {"employee_id": {"source": "hr", "map": {"hr": "employeeID", "badges": "employee_id"}},
                   "display_name": {"source": "hr", "map": {"hr": "name", "badges": "display_name"}}},
        "match": ["employee_id"],
        "lifecycle": {"source": "hr"},
        "policies": {"max_changes_per_run": None},
    }
    return bootstrap.local(config, connectors={"hr": hr}, secrets=db.secrets, sleep=lambda s: None)


def crash_first_confirm(local: Any) -> dict[str, int]:
    real, calls = local.reconciler.confirm, {"n": 0}

    def crash_once(*a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the function died after the INSERT committed, before recording it")
        return real(*a, **k)

    local.reconciler.confirm = crash_once
    return calls


def test_a_create_that_landed_before_a_crash_is_linked_when_its_delivery_comes_back(db: Db) -> None:
    hr = MemoryConnector("hr", ["employeeID", "name"])
    hr.put("w900", employeeID="E900", name="New Person")
    local = bridge(db, hr, provision=True, insert=True)
    calls = crash_first_confirm(local)

    report = local.sync()

    assert calls["n"] >= 1 and not report.errors and report.dead_letters == 0
    [row] = rows_of(db, "E900")  # exactly one row: the retried delivery found it and linked it
    record = local.store.load(local.store.by_link("person", "hr", "w900"))
    assert record.shadows["badges"].key == str(row["badge_holder_id"]) and not record.create_pending
    assert local.sync().total_writes == 0 and len(rows_of(db, "E900")) == 1


def test_without_the_lookup_the_same_crash_inserts_a_second_row(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: what the lookup prevents."""
    monkeypatch.setattr(sql.SqlConnector, "find_account", Connector.find_account)
    hr = MemoryConnector("hr", ["employeeID", "name"])
    hr.put("w900", employeeID="E900", name="New Person")
    local = bridge(db, hr, provision=True, insert=True)
    crash_first_confirm(local)

    local.sync()

    assert len(rows_of(db, "E900")) == 2


def test_a_read_taken_before_our_write_is_stale_after_confirm(db: Db) -> None:
    bump_watermark_on_update(db)
    hr = MemoryConnector("hr", ["employeeID", "name"])
    hr.put("w1", employeeID="E001", name="Person 1")
    local = bridge(db, hr, watermark="updated_at")
    local.sync()
    [stale] = [o for o in local.connectors["badges"].read(full=True).observations if o.key == "1"]

    hr.set("w1", name="Renamed One")
    assert local.sync().writes["badges"] == 1  # our UPDATE; its trigger moved updated_at on

    result = local.reconciler.observation(stale)  # the poll before our write, delivered late
    assert result.status == STALE and not result.writes and not result.owed
    report = local.sync()
    assert report.total_writes == 0 and not report.errors
    assert db.rows()[1]["display_name"] == "Renamed One" and hr.get("w1", "name") == "Renamed One"
