"""SPEC scenarios with a real Samba AD domain controller as the `ad` system, through the whole local pipeline.

The bridge (LocalBridge: poll, reconcile, deliver) builds the `ad` connector from the configuration through the
registry, with its bind credentials from the secrets port; HR and the cloud are in-memory systems
(MemoryConnector). Each sync after the first polls AD with the saved cursor, so these runs use delta reads.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.connectors import ldap as ldap_connector
from peoplesync_dev.memory import MemoryConnector

PHONE = "addresses[mediaType=PHONE,type=WORK]"
PW = "Str0ng!Passw0rd-for-tests"

FIELDS: dict[str, Any] = {
    "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID",
                                             "cloud": "employerInfo.employeeId"}},
    "email.work": {"source": "hr", "normalize": ["trim", "lower"],
                   "map": {"hr": "Work_Email", "ad": "mail", "cloud": "email"}},
    "title": {"source": "ad", "map": {"ad": "title", "cloud": "title"}},
    "phone.work": {"source": ["ad", "cloud"], "winner": "ad", "normalize": "e164",
                   "map": {"ad": "telephoneNumber", "cloud": PHONE}},
    "manager": {"source": "ad", "reference": "person", "map": {"ad": "manager", "cloud": "manager"}},
}


class AdWorld:
    """HR and cloud in memory, AD for real; `sync()` is one scheduled run of the whole bridge."""

    def __init__(self, ad_system: dict[str, Any], secrets: Any, console: Any, ou: str,
                 lifecycle: str = "hr") -> None:
        self.console, self.ou = console, ou
        self.config = {"systems": {"hr": {"connector": "memory", "writable": False}, "ad": dict(ad_system),
                                   "cloud": {"connector": "memory"}},
                       "fields": copy.deepcopy(FIELDS), "match": ["employee_id", "email.work"],
                       "lifecycle": {"source": lifecycle}, "policies": {"max_changes_per_run": None}}
        self.hr = MemoryConnector("hr", ["Employee_ID", "Work_Email"], writable=False)
        self.cloud = MemoryConnector("cloud", ["employerInfo.employeeId", "email", "title", PHONE, "manager"])
        self.store = MemoryStore()
        self.bridge = bootstrap.local(self.config, store=self.store, secrets=secrets,
                                  connectors={"hr": self.hr, "cloud": self.cloud}, sleep=lambda s: None)
        self.ad = self.bridge.connectors["ad"]
        assert isinstance(self.ad, ldap_connector.LdapConnector)  # built through the registry
        self.dn: dict[int, str] = {}

    def hire(self, n: int, *, ad: dict[str, Any] | None = None, cloud: dict[str, Any] | None = None,
             in_cloud: bool = True) -> None:
        """Given: worker n exists in HR, AD and (by default) the cloud, already in agreement."""
        self.hr.put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@corp.example")
        attrs = {"employeeID": f"E{n}", "mail": f"p{n}@corp.example", "title": f"Title {n}",
                 "telephoneNumber": "+13175550100", **(ad or {})}
        self.dn[n] = self.console.add_user(self.ou, f"Person {n}", password=PW, **attrs)
        if in_cloud:
            self.cloud.put(f"u{n}", **{"employerInfo.employeeId": f"E{n}", "email": f"p{n}@corp.example",
                                       "title": f"Title {n}", PHONE: "+13175550100", **(cloud or {})})

    def sync(self, **kw: Any):
        return self.bridge.sync(**kw)

    def ad_value(self, n: int, attr: str) -> str | None:
        return self.console.one(self.dn[n], attr)

    def usn(self, n: int) -> int:
        return int(self.console.one(self.dn[n], "uSNChanged"))


@pytest.fixture
def world(ad_system, ad_secrets, ad_console, ad_ou) -> AdWorld:
    return AdWorld(ad_system, ad_secrets, ad_console, ad_ou)


def test_01_an_ad_title_change_reaches_the_cloud(world: AdWorld) -> None:
    world.hire(1)
    world.sync()
    world.console.set(world.dn[1], title="Principal Engineer")
    report = world.sync()
    assert world.cloud.get("u1", "title") == "Principal Engineer"
    assert report.writes == {"cloud": 1}


def test_02_a_cloud_edit_of_the_ad_sourced_title_is_put_back_and_ad_is_not_written(world: AdWorld) -> None:
    world.hire(1)
    world.sync()
    usn = world.usn(1)
    world.cloud.set("u1", title="Chief Everything Officer")
    world.sync()
    assert world.cloud.get("u1", "title") == "Title 1"
    assert world.ad_value(1, "title") == "Title 1" and world.usn(1) == usn


def test_04_a_two_way_phone_edited_in_the_cloud_reaches_ad_and_back(world: AdWorld) -> None:
    world.hire(1)
    world.sync()
    world.cloud.set("u1", **{PHONE: "+1 317 555 0142"})
    world.sync()
    assert world.ad_value(1, "telephoneNumber") == "+13175550142"
    world.console.set(world.dn[1], telephoneNumber="(317) 555-0199")
    world.sync()
    assert world.cloud.get("u1", PHONE) == "+13175550199"


def test_05_both_sides_change_the_phone_ads_value_ends_on_both_and_the_conflict_is_recorded(
        world: AdWorld) -> None:
    world.hire(1)
    world.sync()
    world.console.set(world.dn[1], telephoneNumber="+13175550111")
    world.cloud.set("u1", **{PHONE: "+13175550222"})
    report = world.sync()
    assert world.ad_value(1, "telephoneNumber") == "+13175550111"
    assert world.cloud.get("u1", PHONE) == "+13175550111"
    assert report.conflicts == 1


def test_06_ad_and_the_cloud_both_take_hrs_email(world: AdWorld) -> None:
    world.hire(1, ad={"mail": "old@corp.example"}, cloud={"email": "stale@corp.example"})
    report = world.sync()
    assert world.ad_value(1, "mail") == "p1@corp.example"
    assert world.cloud.get("u1", "email") == "p1@corp.example"
    assert report.writes["ad"] == 1


def test_10_a_second_sync_with_nothing_changed_writes_nothing_and_ad_is_untouched(world: AdWorld) -> None:
    for n in range(1, 5):
        world.hire(n)
    world.cloud.set("u3", title="drifted")
    world.console.set(world.dn[2], mail="drifted@corp.example")
    first = world.sync()
    assert first.total_writes == 2
    usns = {n: world.usn(n) for n in world.dn}
    modifies = world.ad.stats["modifies"]

    second = world.sync()

    assert second.total_writes == 0 and second.decisions == []
    assert {n: world.usn(n) for n in world.dn} == usns
    assert world.ad.stats["modifies"] == modifies


def test_12_existing_accounts_are_linked_and_an_ambiguous_ad_account_is_held_untouched(world: AdWorld) -> None:
    world.hire(1)
    world.hire(2)
    world.hr.put("W3", Employee_ID="E3", Work_Email="shared@corp.example")
    world.hr.put("W4", Employee_ID="E4", Work_Email="shared@corp.example")
    mystery = world.console.add_user(world.ou, "Mystery", mail="Shared@Corp.example", title="Mystery")
    usn = int(world.console.one(mystery, "uSNChanged"))

    report = world.sync()

    assert len(list(world.store.all_ids("person"))) == 4
    ad_key = {o.ref: o.key for o in world.ad.read(full=True).observations}
    rid = world.store.by_link("person", "ad", ad_key[world.dn[1]])
    assert rid is not None and rid == world.store.by_link("person", "cloud", "u1")
    assert report.held_for_review == 1
    assert int(world.console.one(mystery, "uSNChanged")) == usn  # nothing written for it
    assert len(world.cloud.accounts) == 2  # no duplicate created


def test_13_an_ad_manager_dn_becomes_the_managers_cloud_id_even_when_the_manager_comes_later(
        world: AdWorld) -> None:
    world.hire(2)
    world.sync()
    world.hire(1, in_cloud=False)
    world.console.set(world.dn[2], manager=world.dn[1])
    world.sync()
    assert world.cloud.get("u2", "manager") is None  # the manager has no cloud account yet
    world.cloud.put("u1", **{"employerInfo.employeeId": "E1", "email": "p1@corp.example", "title": "Title 1",
                             PHONE: "+13175550100"})
    world.sync()
    assert world.cloud.get("u2", "manager") == "u1"
    assert world.sync().total_writes == 0


def test_14_phones_equal_after_e164_normalisation_are_no_change(world: AdWorld) -> None:
    world.hire(1, ad={"telephoneNumber": "+1 (317) 555-0100"}, cloud={PHONE: "+13175550100"})
    assert world.sync().total_writes == 0


def test_15_a_person_disabled_in_hr_is_disabled_in_ad_not_deleted_and_comes_back(world: AdWorld) -> None:
    world.hire(1)
    world.sync()
    world.hr.disable("W1")
    world.sync()
    assert int(world.ad_value(1, "userAccountControl")) & 2
    assert world.cloud.accounts["u1"]["active"] is False
    world.hr.disable("W1", active=True)
    world.sync()
    assert not int(world.ad_value(1, "userAccountControl")) & 2
    assert world.cloud.accounts["u1"]["active"] is True


def test_20_ad_unreachable_or_empty_deactivates_nobody_and_the_run_reports_it(world: AdWorld, ad_ou,
                                                                              ad_console) -> None:
    world.hire(1)
    world.sync()
    original = world.ad.s
    world.ad.s = original.model_copy(update={"url": "ldaps://127.0.0.1:1", "retries": 0, "connect_timeout": 1})
    report = world.sync(full=True)
    assert "ad" in report.read_failures
    assert world.cloud.accounts["u1"]["active"] is True and report.total_writes == 0

    empty = ad_console.add_ou(ad_ou, "empty")
    world.ad.s = original.model_copy(update={"base_dn": empty})
    report = world.sync(full=True)
    assert "ad" in report.read_failures
    assert world.cloud.accounts["u1"]["active"] is True and report.total_writes == 0
    assert not int(world.ad_value(1, "userAccountControl")) & 2


def test_15b_an_account_deleted_in_ad_is_seen_by_the_delta_read_and_the_person_is_deactivated_elsewhere(
        ad_system, ad_secrets, ad_console, ad_ou) -> None:
    world = AdWorld(ad_system, ad_secrets, ad_console, ad_ou, lifecycle="ad")
    world.hire(1)
    world.hire(2)
    world.sync()
    world.console.delete(world.dn[1])
    entries = world.ad.stats["entries"]

    world.sync()  # a delta poll: the tombstone in Deleted Objects says the account is gone

    assert world.ad.stats["entries"] - entries == 1
    assert world.cloud.accounts["u1"]["active"] is False
    assert world.cloud.accounts["u2"]["active"] is True
