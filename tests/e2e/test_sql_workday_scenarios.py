"""SPEC scenarios 6, 12, 15, 16, 19 and 20 with the real Workday and SQL connectors.

HR is the Workday connector reading the RaaS stand-in over HTTP on 127.0.0.1 (its clock injected, so
terminations can be dated); the badge system is the SQL connector on a SQLite file (a `badge_holders` table,
delta by row hashes); AD and the cloud are in-memory systems. Each `sync()` is one scheduled run of the local
bridge: poll every system, reconcile, deliver.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.config import SystemConfig, compile_config, load_config, system_attributes
from peoplesync.connectors import sql, workday
from peoplesync_dev.memory import MemoryConnector
from peoplesync_dev.standins.workday import start_standin

WD_SECRET = {"username": "ISU_PeopleSync", "password": "wd-pass"}

CONFIG: dict[str, Any] = {
    "systems": {
        "hr": {"connector": "workday_raas", "url": "http://127.0.0.1:1/ccx/service/customreport2/acme/o/r",
               "credentials": "secret:peoplesync/workday"},
        "badges": {"connector": "sql", "url": "sqlite://", "table": "badge_holders", "key": "badge_holder_id",
                   "active_column": "active"},
        "ad": {"connector": "memory"},
        "cloud": {"connector": "memory"},
    },
    "fields": {
        "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID",
                                                 "cloud": "employerInfo.employeeId", "badges": "employee_id"}},
        "email.work": {"source": "hr", "normalize": ["trim", "lower"],
                       "map": {"hr": "Email_-_Work", "ad": "mail", "cloud": "email", "badges": "email"}},
        "display_name": {"source": "hr", "map": {"hr": "Worker", "cloud": "name", "badges": "display_name"}},
        "badge_id": {"source": "badges", "map": {"badges": "badge_number", "ad": "extensionAttribute5"}},
        "emergency_phone": {"source": "hr", "map": {"hr": "Emergency_Contacts_group[Relationship=Spouse].Phone",
                                                     "cloud": "emergencyPhone"}},
    },
    "match": ["employee_id", "email.work"],
    "lifecycle": {"source": "hr"},
    "policies": {"max_changes_per_run": None},
}


def worker(n: int, **extra: Any) -> dict[str, Any]:
    return {"Employee_ID": f"{21000 + n}", "Worker": f"Person {n}", "Email_-_Work": f"p{n}@corp.example",
            "Hire_Date": "2020-03-02-08:00", "Worker_Status": "Active",
            "Emergency_Contacts_group": [{"Name": f"Kin {n}", "Relationship": "Spouse",
                                          "Phone": f"+1 317 555 01{n:02d}"}],
            **extra}


class World:
    def __init__(self, tmp: Path, config: dict[str, Any] | None = None) -> None:
        self.hr_url, self.hr_server = start_standin([])
        self.today = date(2024, 6, 1)
        self.db_url = f"sqlite:///{tmp / 'badges.db'}"
        self.db = sa.create_engine(self.db_url)
        md = sa.MetaData()
        self.table = sa.Table("badge_holders", md,
                              sa.Column("badge_holder_id", sa.Integer, primary_key=True),
                              sa.Column("employee_id", sa.String(20)), sa.Column("email", sa.String(100)),
                              sa.Column("badge_number", sa.String(20)), sa.Column("display_name", sa.String(100)),
                              sa.Column("site", sa.String(20)),
                              sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()))
        md.create_all(self.db)
        cfg = copy.deepcopy(config or CONFIG)
        cfg["systems"]["hr"]["url"] = self.hr_url
        cfg["systems"]["badges"]["url"] = self.db_url
        self.plan = compile_config(load_config(cfg))
        secrets = _Secrets({"peoplesync/workday": WD_SECRET})
        hr_conf = SystemConfig.model_validate(cfg["systems"]["hr"])
        self.hr = workday.WorkdayConnector.from_system("hr", hr_conf, system_attributes(self.plan, "hr"),
                                                       secrets=secrets, now=self.now)
        self.ad = MemoryConnector("ad", system_attributes(self.plan, "ad"))
        self.cloud = MemoryConnector("cloud", system_attributes(self.plan, "cloud"))
        self.store = MemoryStore()
        # the badge system is built from the configuration through the registry, as in production
        self.bridge = bootstrap.local(self.plan, store=self.store, secrets=secrets, sleep=lambda s: None,
                                  connectors={"hr": self.hr, "ad": self.ad, "cloud": self.cloud})
        self.badges = self.bridge.connectors["badges"]
        assert isinstance(self.badges, sql.SqlConnector)

    def now(self) -> datetime:
        return datetime(self.today.year, self.today.month, self.today.day, 12, tzinfo=UTC)

    def close(self) -> None:
        self.hr_server.stop()
        self.db.dispose()
        sql.dispose_engines()

    @property
    def workers(self) -> list[dict[str, Any]]:
        return self.hr_server.standin.workers

    def hr_worker(self, n: int) -> dict[str, Any]:
        return next(w for w in self.workers if w["Employee_ID"] == f"{21000 + n}")

    def sync(self, **kw: Any):
        return self.bridge.sync(**kw)

    def hire(self, n: int, *, ad: dict[str, Any] | None = None, cloud: dict[str, Any] | None = None,
             badge: dict[str, Any] | None = None, everywhere: bool = True) -> None:
        """Worker n in Workday and, unless told otherwise, with accounts in AD, the cloud and the badge DB."""
        self.workers.append(worker(n))
        if not everywhere:
            return
        self.ad.put(f"guid-{n}", **{"employeeID": f"{21000 + n}", "mail": f"p{n}@corp.example",
                                    "extensionAttribute5": f"B-{n}", **(ad or {})})
        self.cloud.put(f"u{n}", **{"employerInfo.employeeId": f"{21000 + n}", "email": f"p{n}@corp.example",
                                   "name": f"Person {n}", "emergencyPhone": f"+1 317 555 01{n:02d}", **(cloud or {})})
        self.insert_badge(n, **{"employee_id": f"{21000 + n}", "email": f"p{n}@corp.example",
                                "badge_number": f"B-{n}", "display_name": f"Person {n}", **(badge or {})})

    def insert_badge(self, holder_id: int, **values: Any) -> None:
        with self.db.begin() as c:
            c.execute(sa.insert(self.table).values(badge_holder_id=holder_id, site="HQ", **values))

    def badge_rows(self) -> dict[int, dict[str, Any]]:
        with self.db.connect() as c:
            return {r.badge_holder_id: dict(r._mapping) for r in c.execute(sa.select(self.table))}

    def set_badge(self, holder_id: int, **values: Any) -> None:
        with self.db.begin() as c:
            c.execute(sa.update(self.table).where(self.table.c.badge_holder_id == holder_id).values(**values))


class _Secrets:
    def __init__(self, values: dict[str, dict[str, Any]]) -> None:
        self.values = values

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.values[name])


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.close()


def test_06_ad_cloud_and_the_badge_db_all_take_hr_s_values(world: World) -> None:
    # Given: three workers whose AD, cloud and badge records disagree with Workday about e-mail and name
    for n in (1, 2, 3):
        world.hire(n, ad={"mail": f"old{n}@corp.example"}, cloud={"email": f"stale{n}@corp.example"},
                   badge={"display_name": f"P. {n}", "email": None})
    # When: a sync runs
    report = world.sync()
    # Then: every system holds HR's value, and AD holds the badge DB's badge numbers
    assert not report.read_failures and not report.errors
    for n in (1, 2, 3):
        assert world.ad.get(f"guid-{n}", "mail") == f"p{n}@corp.example"
        assert world.cloud.get(f"u{n}", "email") == f"p{n}@corp.example"
        assert world.badge_rows()[n]["display_name"] == f"Person {n}"
        assert world.badge_rows()[n]["email"] == f"p{n}@corp.example"
        assert world.badge_rows()[n]["site"] == "HQ"  # unmapped: untouched
    # And: a badge re-issued in the badge DB reaches AD; a second quiet sync writes nothing anywhere
    world.set_badge(2, badge_number="B-2-NEW")
    world.sync()
    assert world.ad.get("guid-2", "extensionAttribute5") == "B-2-NEW"
    assert world.sync().total_writes == 0


def test_06b_a_workday_contact_phone_addressed_by_relationship_reaches_the_cloud(world: World) -> None:
    world.hire(1, cloud={"emergencyPhone": None})
    world.sync()
    assert world.cloud.get("u1", "emergencyPhone") == "+1 317 555 0101"
    world.hr_worker(1)["Emergency_Contacts_group"] = [
        {"Name": "Parent 1", "Relationship": "Parent", "Phone": "+1 317 555 0999"},
        {"Name": "Kin 1", "Relationship": "Spouse", "Phone": "+1 317 555 0202"}]
    world.sync()
    assert world.cloud.get("u1", "emergencyPhone") == "+1 317 555 0202"


def test_12_existing_badge_rows_are_linked_not_duplicated_and_an_ambiguous_row_is_held(world: World) -> None:
    # Given: workers with accounts everywhere, and a badge row with no employee id and an e-mail two workers share
    world.hire(1)
    world.hire(2)
    for n in (3, 4):
        world.workers.append(worker(n, **{"Email_-_Work": "shared@corp.example"}))
    world.insert_badge(99, email="Shared@Corp.example", badge_number="B-99", display_name="Mystery")
    # When: the first sync runs
    report = world.sync()
    # Then: one person per worker, their badge rows linked to them, nothing inserted or created
    assert len(list(world.store.all_ids("person"))) == 4
    rid = world.store.by_link("person", "badges", "1")
    assert rid is not None and rid == world.store.by_link("person", "ad", "guid-1")
    assert sorted(world.badge_rows()) == [1, 2, 99] and sorted(world.cloud.accounts) == ["u1", "u2"]
    # And: the ambiguous row is held for review and left as it was
    assert report.held_for_review == 1 and [r["key"] for r in world.store.reviews()] == ["99"]
    assert world.store.by_link("person", "badges", "99") is None
    assert world.badge_rows()[99]["display_name"] == "Mystery"


def test_15_a_terminated_worker_is_deactivated_everywhere_and_a_rehire_brings_them_back(world: World) -> None:
    for n in (1, 2):
        world.hire(n)
    world.sync()
    # When: Workday terminates worker 1 with a past date, and worker 2 with a future date
    world.hr_worker(1)["Termination_Date"] = "2024-05-20-07:00"
    world.hr_worker(2)["Termination_Date"] = "2024-06-30-07:00"
    world.sync()
    # Then: worker 1 is deactivated (not deleted) in AD, the cloud and the badge DB; worker 2 is untouched
    assert world.ad.accounts["guid-1"]["active"] is False and world.cloud.accounts["u1"]["active"] is False
    assert world.badge_rows()[1]["active"] is False and 1 in world.badge_rows()
    assert world.ad.accounts["guid-2"]["active"] is True and world.badge_rows()[2]["active"] is True
    # When: the future termination date passes
    world.today = date(2024, 7, 1)
    world.sync()
    assert world.badge_rows()[2]["active"] is False and world.cloud.accounts["u2"]["active"] is False
    # When: worker 1 is rehired (a hire date after the termination)
    world.hr_worker(1)["Hire_Date"] = "2024-06-15-07:00"
    world.sync()
    assert world.badge_rows()[1]["active"] is True and world.ad.accounts["guid-1"]["active"] is True


def test_16_terminating_more_than_the_allowed_share_at_once_is_held_and_reported(tmp_path: Path) -> None:
    cfg = copy.deepcopy(CONFIG)
    cfg["policies"] = {"max_changes_per_run": "10%"}
    w = World(tmp_path, cfg)
    try:
        for n in range(1, 21):
            w.hire(n)
        w.sync()
        for n in range(1, 6):  # 5 of 20 people = 25% > 10%
            w.hr_worker(n)["Termination_Date"] = "2024-05-01"
        report = w.sync()
        assert report.held_by_guard and "5 people" in report.held_by_guard
        assert report.total_writes == 0 and all(r["active"] for r in w.badge_rows().values())
        approved = w.sync(approve=True)
        assert approved.writes["badges"] == 5
        assert [n for n, r in sorted(w.badge_rows().items()) if not r["active"]] == [1, 2, 3, 4, 5]
    finally:
        w.close()


def test_19_hire_date_is_set_on_create_only_and_location_fills_only_a_blank(tmp_path: Path) -> None:
    cfg = copy.deepcopy(CONFIG)
    cfg["systems"]["cloud"]["provision"] = True
    cfg["systems"]["badges"].update(provision=True, insert=True)
    cfg["fields"]["hire_date"] = {"source": "hr", "apply": "on_create", "normalize": "date",
                                  "map": {"hr": "Hire_Date", "cloud": "employerInfo.dateHire"}}
    cfg["fields"]["location"] = {"source": "hr", "apply": "if_empty",
                                 "map": {"hr": "Work_Location", "cloud": "locations"}}
    w = World(tmp_path, cfg)
    try:
        # Given: a new hire in Workday only
        w.workers.append(worker(1, Hire_Date="2024-03-01-08:00", Work_Location="Indianapolis"))
        # When: a sync runs, the cloud account and the badge row are created
        report = w.sync()
        assert not report.errors, report.errors
        [key] = w.cloud.accounts
        assert w.cloud.get(key, "employerInfo.dateHire") == "2024-03-01"
        assert w.cloud.get(key, "locations") == "Indianapolis"
        [row] = w.badge_rows().values()
        assert row["employee_id"] == "21001" and row["display_name"] == "Person 1" and row["active"] is True
        # When: HR later changes both
        w.hr_worker(1).update({"Hire_Date": "2024-04-01", "Work_Location": "Remote"})
        w.sync()
        # Then: the hire date stays as created, the location is kept while it is not blank
        assert w.cloud.get(key, "employerInfo.dateHire") == "2024-03-01"
        assert w.cloud.get(key, "locations") == "Indianapolis"
        w.cloud.set(key, locations=None)
        w.sync()
        assert w.cloud.get(key, "locations") == "Remote"
        assert len(w.badge_rows()) == 1
    finally:
        w.close()


def test_20_an_unreachable_empty_or_refused_workday_deactivates_nobody(world: World) -> None:
    for n in (1, 2):
        world.hire(n)
    world.sync()
    saved = list(world.workers)
    # When: the report comes back empty
    world.workers.clear()
    report = world.sync()
    assert "hr" in report.read_failures
    # When: Workday keeps failing, or refuses the credentials
    world.workers.extend(saved)
    world.hr_server.standin.fail_next(500, times=10)
    assert "500" in world.sync().read_failures["hr"]
    world.hr_server.standin.users["ISU_PeopleSync"] = "rotated"
    assert "credentials" in world.sync().read_failures["hr"]
    # Then: nobody was deactivated anywhere
    assert all(a["active"] for a in world.ad.accounts.values())
    assert all(a["active"] for a in world.cloud.accounts.values())
    assert all(r["active"] for r in world.badge_rows().values())


def test_20b_a_badge_db_that_cannot_be_read_blanks_nothing_in_ad(world: World) -> None:
    world.hire(1)
    world.sync()
    with world.db.begin() as c:
        c.exec_driver_sql("ALTER TABLE badge_holders RENAME TO badge_holders_old")
    world.badges._table = world.badges._source = None  # a fresh process would reflect again
    report = world.sync(full=True)
    assert "badges" in report.read_failures
    assert world.ad.get("guid-1", "extensionAttribute5") == "B-1"
