"""A write's result carries the entry's change marker after it (OpenLDAP `entryCSN`, AD `uSNChanged`), read back
in the same session; confirm records it, so a read taken before our write is stale, never an edit that reverts
it (real OpenLDAP and Samba AD)."""

from __future__ import annotations

from typing import Any

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.model import Write
from peoplesync_dev.memory import MemoryConnector

from .test_ldap_scenarios import PHONE, PW, AdWorld

OL_ATTRS = ["cn", "mail", "title", "employeeNumber"]


def update(key: str, **attrs: Any) -> Write:
    return Write("dir", "update", "rec-1", key, dict(attrs))


# --- OpenLDAP: entryCSN ------------------------------------------------------------------------------------
def test_openldap_the_marker_after_a_modify_is_newer_than_a_read_taken_before_it(make_ol, ol_console, ol_ou):
    dn = ol_console.add_user(ol_ou, "Ada", mail="ada@corp.example", title="Engineer")
    conn = make_ol(OL_ATTRS)
    before = conn.read().observations[0]
    searches = conn.stats["searches"]
    result = conn.write(update(before.key, title="Principal Engineer"))
    assert result.marker == ol_console.one(dn, "entryCSN")  # as `_observe` gives it: the entryCSN string
    assert isinstance(before.marker, str) and result.marker > before.marker
    assert conn.stats["searches"] - searches == 2  # locating the entry, then one base read of entryCSN
    assert conn.read_keys([before.key]).observations[0].marker == result.marker


def test_openldap_a_write_with_nothing_to_change_returns_the_marker_without_reading_again(make_ol, ol_console,
                                                                                         ol_ou):
    ol_console.add_user(ol_ou, "Bo", mail="bo@corp.example", title="Agent")
    conn = make_ol(OL_ATTRS)
    seen = conn.read().observations[0]
    searches, modifies = conn.stats["searches"], conn.stats["modifies"]
    result = conn.write(update(seen.key, title="Agent"))
    assert result.marker == seen.marker
    assert (conn.stats["searches"] - searches, conn.stats["modifies"] - modifies) == (1, 0)


def test_openldap_a_create_returns_the_new_entrys_marker_from_the_read_it_already_makes(make_ol, ol_console,
                                                                                       ol_ou):
    conn = make_ol(OL_ATTRS, create_container=ol_ou)
    result = conn.write(Write("dir", "create", "rec-1", None, {"cn": "Cy", "mail": "cy@corp.example"}))
    assert result.marker == ol_console.one(str(result.ref), "entryCSN")
    assert conn.stats["searches"] == 1  # the base read of the new entry's anchor, which now also takes its marker


def test_openldap_a_read_taken_before_our_write_is_stale_after_confirm_never_an_edit(slapd, ol_console, ol_ou,
                                                                                    ol_secrets):
    config = {"systems": {"hr": {"connector": "memory", "writable": False},
                          "dir": {"connector": "ldap", "credentials": "secret:peoplesync/ol", "url": slapd.ldaps_url,
                                  "flavor": "openldap", "base_dn": ol_ou, "ca_file": slapd.ca_file}},
              "fields": {"employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "dir": "employeeNumber"}},
                         "title": {"source": ["hr", "dir"], "winner": "hr",
                                   "map": {"hr": "Title", "dir": "title"}}},
              "match": ["employee_id"], "policies": {"max_changes_per_run": None}}
    hr = MemoryConnector("hr", ["Employee_ID", "Title"], writable=False)
    hr.put("W1", Employee_ID="E1", Title="Engineer")
    dn = ol_console.add_user(ol_ou, "Ada", employeeNumber="E1", title="Engineer")
    bridge = bootstrap.local(config, store=MemoryStore(), secrets=ol_secrets, connectors={"hr": hr},
                             sleep=lambda s: None)
    bridge.sync()
    conn = bridge.connectors["dir"]
    before = conn.read_keys([ol_console.one(dn, "entryUUID")]).observations[0]  # a poll's read, in flight
    hr.set("W1", Title="Principal Engineer")
    assert bridge.sync().writes == {"dir": 1}
    assert bridge.reconciler.observation(before).status == "stale"  # it arrives after our write's confirm
    assert ol_console.one(dn, "title") == "Principal Engineer"
    assert not bridge.owed() and bridge.sync().writes == {}


# --- Samba AD: uSNChanged ----------------------------------------------------------------------------------
def test_ad_the_usn_after_a_modify_is_newer_than_a_read_taken_before_it(make_ad, ad_console, ad_ou):
    dn = ad_console.add_user(ad_ou, "Ada Lee", password=PW, mail="ada@corp.example", title="Engineer")
    conn = make_ad(["mail", "title"])
    before = conn.read().observations[0]
    searches = conn.stats["searches"]
    result = conn.write(Write("ad", "update", "rec-1", before.key, {"title": "Principal Engineer"}))
    assert isinstance(result.marker, int) and result.marker == int(ad_console.one(dn, "uSNChanged"))
    assert result.marker > before.marker
    # locating the entry, the schema's size limits (once a connection), then one base read of uSNChanged
    assert conn.stats["searches"] - searches == 3


def test_ad_a_cloud_phone_edit_written_to_ad_is_not_reverted_by_an_ad_read_taken_before_the_write(
        ad_system, ad_secrets, ad_console, ad_ou) -> None:
    world = AdWorld(ad_system, ad_secrets, ad_console, ad_ou)
    world.hire(1)
    world.sync()
    before = world.ad.read_keys([world.ad.read().observations[0].key]).observations[0]  # an AD poll in flight
    world.cloud.set("u1", **{PHONE: "+1 317 555 0142"})
    world.sync()
    assert world.ad_value(1, "telephoneNumber") == "+13175550142"
    assert world.bridge.reconciler.observation(before).status == "stale"  # arrives late: older than our write
    world.sync()
    assert world.cloud.get("u1", PHONE) == "+1 317 555 0142"  # the cloud's edit stands, not reverted
    assert world.ad_value(1, "telephoneNumber") == "+13175550142"
