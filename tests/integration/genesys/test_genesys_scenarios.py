"""SPEC scenarios with Genesys Cloud (the stand-in, over HTTP) as target and as source.

AD and HR are in-memory systems; the cloud is the real connector against the stand-in. Each `sync()` is one
scheduled run of the local bridge: poll every system, reconcile, deliver.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.config import compile_config, load_config, system_attributes
from peoplesync.connectors.genesys_events import reread_requests
from peoplesync.model import Observation
from peoplesync_dev.memory import MemoryConnector

from .conftest import CLIENT_ID, Cloud

PHONE = "addresses[mediaType=PHONE,type=WORK]"
HOME_EMAIL = "addresses[mediaType=EMAIL,type=HOME]"
DEPT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"

CONFIG: dict[str, Any] = {
    "systems": {
        "hr": {"connector": "memory", "writable": False},
        "ad": {"connector": "memory"},
        "cloud": {"connector": "genesys_cloud", "base_url": "http://127.0.0.1:1",
                  "credentials": "secret:peoplesync/genesys"},
    },
    "fields": {
        "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID",
                                                 "cloud": "employerInfo.employeeId"}},
        "email.work": {"source": "hr", "normalize": ["trim", "lower"],
                       "map": {"hr": "Work_Email", "ad": "mail", "cloud": "email"}},
        "display_name": {"source": "hr", "map": {"hr": "Name", "cloud": "name"}},
        "title": {"source": "ad", "map": {"ad": "title", "cloud": "title"}},
        "email.personal": {"source": "cloud", "map": {"cloud": HOME_EMAIL, "ad": "otherMailbox"}},
        "phone.work": {"source": ["ad", "cloud"], "winner": "ad", "normalize": "e164",
                       "map": {"ad": "telephoneNumber", "cloud": PHONE}},
        "manager": {"source": "ad", "reference": "person", "map": {"ad": "manager", "cloud": "manager"}},
    },
    "match": ["employee_id", "email.work"],
    "lifecycle": {"source": "hr"},
    "policies": {"max_changes_per_run": None},
}


class World:
    def __init__(self, cloud: Cloud, config: dict[str, Any] | None = None) -> None:
        self.cloud = cloud
        cfg = copy.deepcopy(config or CONFIG)
        cfg["systems"]["cloud"]["base_url"] = cloud.base_url
        self.plan = compile_config(load_config(cfg))
        self.hr = MemoryConnector("hr", system_attributes(self.plan, "hr"), writable=False)
        self.ad = MemoryConnector("ad", system_attributes(self.plan, "ad"))
        self.connector = cloud.connector(system_attributes(self.plan, "cloud"))
        self.store = MemoryStore()
        self.bridge = bootstrap.local(self.plan, store=self.store, sleep=lambda s: None,
                                  connectors={"hr": self.hr, "ad": self.ad, "cloud": self.connector})
        self.ids: dict[int, str] = {}

    def sync(self, **kw: Any):
        return self.bridge.sync(**kw)

    def hire(self, n: int = 1, *, ad: dict[str, Any] | None = None, cloud: bool = True) -> None:
        """Worker n in HR, AD and (unless told otherwise) the cloud, in agreement."""
        self.hr.put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@corp.example", Name=f"Person {n}")
        self.ad.put(f"guid-{n}", ref=f"CN=Person {n},OU=Staff,DC=corp", employeeID=f"E{n}",
                    mail=f"p{n}@corp.example", title=f"Title {n}", telephoneNumber="+13175550100", **(ad or {}))
        if cloud:
            self.ids[n] = self.cloud.hire(n)

    def user(self, n: int) -> dict[str, Any]:
        return self.cloud.standin.user(self.ids[n])

    def home_email(self, n: int) -> str | None:
        return next((a["address"] for a in self.user(n)["addresses"] if a["type"] == "HOME"), None)

    def work_phone(self, n: int) -> str | None:
        return next((a["address"] for a in self.user(n)["addresses"] if a["type"] == "WORK"), None)

    def agent_edits(self, n: int, **changes: Any) -> None:
        self.cloud.standin.edit_user(self.ids[n], changes)

    def writes_to_cloud(self) -> int:
        s = self.cloud.standin.stats
        return s["PATCH requests"] + s["POST requests"] + s["DELETE requests"]


@pytest.fixture
def world(cloud: Cloud) -> World:
    return World(cloud)


def phone(address: str, kind: str = "WORK", media: str = "PHONE") -> dict[str, str]:
    return {"address": address, "mediaType": media, "type": kind}


def test_01_an_ad_title_change_reaches_the_cloud_profile(world: World) -> None:
    world.hire()
    world.sync()
    world.ad.set("guid-1", title="Principal Engineer")
    report = world.sync()
    assert world.user(1)["title"] == "Principal Engineer"
    assert report.writes == {"cloud": 1}


def test_02_a_cloud_users_edit_of_the_ad_sourced_title_is_put_back(world: World) -> None:
    world.hire()
    world.sync()
    world.agent_edits(1, title="Chief Everything Officer")
    world.sync()
    assert world.user(1)["title"] == "Title 1"
    assert world.ad.get("guid-1", "title") == "Title 1"


def test_03_personal_email_edited_in_the_cloud_reaches_ad_and_an_ad_edit_is_overwritten(world: World) -> None:
    world.hire()
    world.sync()
    world.agent_edits(1, addresses=[phone("+13175550100"), phone("me@home.example", "HOME", "EMAIL")])
    world.sync()
    assert world.ad.get("guid-1", "otherMailbox") == "me@home.example"
    world.ad.set("guid-1", otherMailbox="someone@else.example")
    world.sync()
    assert world.ad.get("guid-1", "otherMailbox") == "me@home.example"
    assert world.home_email(1) == "me@home.example"


def test_04_a_two_way_phone_changed_on_either_side_reaches_the_other(world: World) -> None:
    world.hire()
    world.sync()
    world.agent_edits(1, addresses=[phone("+1 317 555 0142")])
    world.sync()
    assert world.ad.get("guid-1", "telephoneNumber") == "+13175550142"
    world.ad.set("guid-1", telephoneNumber="(317) 555-0199")
    world.sync()
    assert world.work_phone(1) == "+13175550199"


def test_05_both_sides_change_the_phone_between_syncs_and_ads_value_ends_on_both(world: World) -> None:
    world.hire()
    world.sync()
    world.ad.set("guid-1", telephoneNumber="+13175550111")
    world.agent_edits(1, addresses=[phone("+13175550222")])
    report = world.sync()
    assert world.ad.get("guid-1", "telephoneNumber") == "+13175550111"
    assert world.work_phone(1) == "+13175550111"
    assert report.conflicts == 1


def idp_world(cloud: Cloud) -> World:
    cfg = copy.deepcopy(CONFIG)
    cfg["systems"]["idp"] = {"connector": "scim", "tokens": "secret:scim-tokens"}
    cfg["fields"]["department"] = {"source": "idp", "map": {"idp": DEPT, "ad": "department",
                                                            "cloud": "department"}}
    cfg["fields"]["email.work"]["map"]["idp"] = "userName"
    w = World(cloud, cfg)
    w.hire()
    w.sync()
    return w


def push(w: World, version: int, **attrs: object) -> None:
    w.bridge.receive(Observation("idp", "scim-1", {"userName": "p1@corp.example", **attrs}, marker=version))
    w.bridge.deliver_owed()


def test_07_a_department_pushed_by_the_idp_overwrites_the_cloud_value(cloud: Cloud) -> None:
    w = idp_world(cloud)
    w.agent_edits(1, department="Old Dept")
    w.sync()
    push(w, 1, **{DEPT: "Finance"})
    assert w.user(1)["department"] == "Finance"


def test_08_a_cloud_edit_of_the_idp_department_stands_until_the_idp_syncs_that_user(cloud: Cloud) -> None:
    w = idp_world(cloud)
    push(w, 1, **{DEPT: "Finance"})
    w.agent_edits(1, department="Sales")
    w.sync()
    assert w.user(1)["department"] == "Sales"
    push(w, 2, **{DEPT: "Finance"})
    assert w.user(1)["department"] == "Finance"


def test_07c_a_create_that_collides_with_a_user_made_meanwhile_links_her_and_writes_to_her_in_a_sync(
        cloud: Cloud) -> None:
    cfg = copy.deepcopy(CONFIG)
    cfg["systems"]["cloud"]["provision"] = True
    w = World(cloud, cfg)
    w.hr.put("W1", Employee_ID="E1", Work_Email="p1@corp.example", Name="Person 1")
    made: list[str] = []

    def an_admin_makes_her_first(method: str, path: str, query: dict[str, list[str]]) -> None:
        if (method, path) == ("POST", "/api/v2/users") and not made:  # after the run read the cloud
            made.append(cloud.standin.add_user("P. One", "P1@corp.example"))

    cloud.standin.hooks.append(an_admin_makes_her_first)
    report = w.sync()
    assert list(cloud.standin.users) == made  # the create was refused (409) and she was linked instead
    assert cloud.standin.stats["answered 409"] >= 1
    her = cloud.standin.user(made[0])
    assert (her["name"], her["employerInfo"]) == ("Person 1", {"employeeId": "E1"})  # HR's values applied
    assert w.bridge.dead_letters() == [] and not report.errors
    assert w.sync().total_writes == 0


def test_10_a_second_sync_with_nothing_changed_sends_no_write_request_to_the_cloud(world: World) -> None:
    for n in range(1, 6):
        world.hire(n)
    world.agent_edits(3, title="drifted")
    first = world.sync()
    assert first.writes == {"cloud": 1}
    before = world.writes_to_cloud()
    second = world.sync()
    assert second.total_writes == 0 and world.writes_to_cloud() == before


def test_13_an_ad_manager_dn_becomes_the_managers_cloud_user_id_once_the_manager_is_known(
        world: World) -> None:
    world.hire(2, ad={"manager": "cn=person 1,ou=staff,dc=corp"})
    world.sync()
    assert "manager" not in world.user(2)
    world.hire(1)
    world.sync()
    assert world.user(2)["manager"]["id"] == world.ids[1]
    assert world.sync().total_writes == 0


def test_15_a_person_disabled_in_hr_is_deactivated_in_the_cloud_and_comes_back_when_reenabled(
        world: World) -> None:
    world.hire()
    world.sync()
    world.hr.disable("W1")
    world.sync()
    assert world.user(1)["state"] == "inactive"
    world.hr.disable("W1", active=True)
    world.sync()
    assert world.user(1)["state"] == "active"
    assert world.user(1)["title"] == "Title 1"


def test_18_a_cloud_that_keeps_failing_dead_letters_the_write_and_a_replay_loses_nothing(world: World) -> None:
    world.hire()
    world.sync()
    world.ad.set("guid-1", title="Director")
    world.cloud.standin.fail_next(100, 503, method="PATCH")
    report = world.sync()
    assert report.dead_letters == 1
    assert "503" in world.bridge.dead_letters()[0]["reason"]
    assert world.user(1)["title"] == "Title 1"
    world.cloud.standin.clear_faults()  # the cloud is back
    world.bridge.replay()
    assert world.user(1)["title"] == "Director" and world.bridge.dead_letters() == []


def test_18b_writes_to_a_rate_limiting_cloud_wait_as_told_and_all_land(cloud_factory) -> None:
    cloud = cloud_factory(budget_per_minute=3)
    w = World(cloud)
    for n in range(1, 4):
        w.hire(n)
    w.sync()
    for n in range(1, 4):
        w.ad.set(f"guid-{n}", title="Director", telephoneNumber="+13175550999")
    report = w.sync()
    assert report.dead_letters == 0
    assert [w.user(n)["title"] for n in range(1, 4)] == ["Director"] * 3
    assert cloud.standin.stats["429"] >= 1  # it was refused, waited as told, and went on


def test_19_hire_date_is_set_at_creation_only_and_location_fills_only_a_blank(cloud: Cloud) -> None:
    cfg = copy.deepcopy(CONFIG)
    cfg["systems"]["cloud"]["provision"] = True
    cfg["fields"]["hire_date"] = {"source": "hr", "apply": "on_create", "normalize": "date",
                                  "map": {"hr": "Hire_Date", "cloud": "employerInfo.dateHire"}}
    cfg["fields"]["location"] = {"source": "hr", "apply": "if_empty",
                                 "map": {"hr": "Work_Location", "cloud": "locations"}}
    for name in ("Indianapolis", "Remote"):
        cloud.standin.add_location(name)
    w = World(cloud, cfg)
    w.hr.put("W1", Employee_ID="E1", Work_Email="p1@corp.example", Name="Person 1",
             Hire_Date="2024-03-01T00:00:00", Work_Location="Indianapolis")
    w.sync()
    [uid] = cloud.standin.users
    w.ids[1] = uid
    assert w.user(1)["employerInfo"] == {"employeeId": "E1", "dateHire": "2024-03-01"}
    assert w.user(1)["locations"][0]["locationDefinition"]["name"] == "Indianapolis"
    w.hr.set("W1", Hire_Date="2024-04-01", Work_Location="Remote")
    w.sync()
    assert w.user(1)["employerInfo"]["dateHire"] == "2024-03-01"
    assert w.user(1)["locations"][0]["locationDefinition"]["name"] == "Indianapolis"
    w.agent_edits(1, locations=[])
    w.sync()
    assert w.user(1)["locations"][0]["locationDefinition"]["name"] == "Remote"


def test_an_agents_edit_arrives_through_its_audit_event_and_the_bridges_own_writes_are_not_echoed(
        world: World) -> None:
    world.hire()
    world.sync()
    world.ad.set("guid-1", title="Director")
    world.sync()  # the bridge's own PATCH: its audit event carries the bridge's OAuth client
    seen = len(world.cloud.standin.audit_events)
    world.agent_edits(1, addresses=[phone("+13175550100"), phone("me@home.example", "HOME", "EMAIL")])
    events = world.cloud.standin.audit_events
    requests = reread_requests(events, system="cloud", own_client_ids={CLIENT_ID})
    assert [r.key for r in requests] == [world.ids[1]]  # the agent's edit only, once
    assert reread_requests(events[:seen], system="cloud", own_client_ids={CLIENT_ID}) == []
    for obs in world.connector.read_keys([r.key for r in requests]).observations:
        world.bridge.receive(obs)
    world.bridge.deliver_owed()
    assert world.ad.get("guid-1", "otherMailbox") == "me@home.example"  # no poll of the cloud needed
