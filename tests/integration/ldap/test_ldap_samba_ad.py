"""The LDAP connector against a real Samba AD domain controller (flavor active_directory)."""

from __future__ import annotations

import uuid

import pytest

from peoplesync.connectors import ldap as ldap_connector
from peoplesync.model import Write
from peoplesync.ports import PermanentError, ReadFailed

ATTRS = ["cn", "title", "department", "mail", "telephoneNumber", "manager", "employeeID", "proxyAddresses"]
PW = "Str0ng!Passw0rd-for-tests"


class by_ref(dict):
    """Observations by DN, looked up the way a directory compares DNs (the server may escape differently)."""

    def __init__(self, result) -> None:
        super().__init__({ldap_connector.dn_key(o.ref): o for o in result.observations})

    def __getitem__(self, dn):
        return super().__getitem__(ldap_connector.dn_key(dn))

    def refs(self):
        return {o.ref for o in self.values()}


def test_given_ad_users_when_full_read_then_guid_anchor_usn_marker_and_disabled_flag(make_ad, ad_console, ad_ou):
    on = ad_console.add_user(ad_ou, "Ann On", password=PW, title="Agent", employeeID="E100")
    off = ad_console.add_user(ad_ou, "Bob Off", password=PW, disabled=True)
    conn = make_ad(ATTRS)

    result = conn.read()

    assert result.complete is True
    obs = by_ref(result)
    assert set(obs) == {ldap_connector.dn_key(on), ldap_connector.dn_key(off)}
    ann = obs[on]
    raw_guid = ad_console.conn.search(on, "(objectClass=*)", "BASE", attributes=["objectGUID"]) and \
        ad_console.conn.response[0]["raw_attributes"]["objectGUID"][0]
    assert ann.key == str(uuid.UUID(bytes_le=raw_guid))
    assert ann.marker == int(ad_console.one(on, "uSNChanged"))
    assert ann.attrs["title"] == "Agent" and ann.attrs["employeeID"] == "E100" and ann.attrs["mail"] is None
    assert ann.active is True and obs[off].active is False


def test_given_a_cursor_when_two_change_and_one_is_deleted_then_the_delta_reads_them_and_the_tombstone(
        make_ad, ad_console, ad_ou):
    dns = [ad_console.add_user(ad_ou, f"Delta {i}", title="Agent") for i in range(8)]
    conn = make_ad(ATTRS)
    first = conn.read()
    key_of = {o.ref: o.key for o in first.observations}
    ad_console.set(dns[1], title="Lead")
    ad_console.set(dns[5], department="Sales")
    ad_console.delete(dns[6])
    before = conn.stats["entries"]

    delta = conn.read(first.cursor)

    assert delta.complete is False
    live = {o.ref: o for o in delta.observations if not o.removed}
    assert set(live) == {dns[1], dns[5]}
    assert live[dns[1]].attrs["title"] == "Lead" and live[dns[5]].attrs["department"] == "Sales"
    removed = [o for o in delta.observations if o.removed]
    assert [o.key for o in removed] == [key_of[dns[6]]]
    assert removed[0].marker > first.observations[0].marker
    assert conn.stats["entries"] - before == 3  # two changed entries and one tombstone, not the whole OU
    assert conn.read(delta.cursor).observations == []


def test_given_a_cursor_from_another_dc_or_a_restore_then_the_poll_is_a_safe_full_read(make_ad, ad_console, ad_ou):
    ad_console.add_user(ad_ou, "Restore Me")
    conn = make_ad(ATTRS)
    cursor = ldap_connector.decode_cursor(conn.read().cursor)
    other_dc = ldap_connector.encode_cursor({**cursor, "inv": str(uuid.uuid4())})
    restored = ldap_connector.encode_cursor({**cursor, "usn": cursor["usn"] + 10_000_000})

    for stale in (other_dc, restored):
        result = conn.read(stale)
        assert result.complete is True and len(result.observations) == 1
        assert ldap_connector.decode_cursor(result.cursor)["inv"] == cursor["inv"]


def test_given_an_account_when_deactivated_and_activated_then_the_uac_disable_bit_follows(
        make_ad, ad_console, ad_ou):
    dn = ad_console.add_user(ad_ou, "Life Cycle", password=PW)
    conn = make_ad(ATTRS)
    key = conn.read().observations[0].key

    conn.write(Write("ad", "deactivate", "r1", key, {}))
    assert int(ad_console.one(dn, "userAccountControl")) & 2
    assert conn.read().observations[0].active is False

    conn.write(Write("ad", "activate", "r1", key, {}))
    assert int(ad_console.one(dn, "userAccountControl")) == 0x200
    assert conn.read().observations[0].active is True

    modifies = conn.stats["modifies"]
    conn.write(Write("ad", "activate", "r1", key, {}))  # already active: nothing sent
    assert conn.stats["modifies"] == modifies


def test_given_manager_dns_then_they_read_as_the_managers_ref_and_write_as_plain_dns(make_ad, ad_console, ad_ou):
    boss = ad_console.add_user(ad_ou, "Boss, The #1")
    staff = ad_console.add_user(ad_ou, "Staff Member", manager=boss)
    conn = make_ad(ATTRS)
    obs = by_ref(conn.read())
    assert obs[staff].attrs["manager"] == obs[boss].ref

    other = ad_console.add_user(ad_ou, "Other Boss")
    conn.write(Write("ad", "update", "r1", obs[staff].key, {"manager": other}))
    assert ad_console.one(staff, "manager") == other
    conn.write(Write("ad", "update", "r1", obs[staff].key, {"manager": None}))
    assert ad_console.one(staff, "manager") is None


def test_given_create_in_a_container_then_the_account_is_there_disabled_with_its_guid(make_ad, ad_console, ad_ou):
    conn = make_ad(ATTRS, create_container=ad_ou)

    made = conn.write(Write("ad", "create", "r1", None, {"cn": 'Zoë O"Brien, #2 *()\\', "title": "Agent",
                                                         "employeeID": "E7", "proxyAddresses": ("SMTP:z@x.test",
                                                                                                "smtp:zo@x.test")}))

    assert ldap_connector.dn_within(made.ref, ad_ou)
    assert ad_console.one(made.ref, "cn") == 'Zoë O"Brien, #2 *()\\'
    assert int(ad_console.one(made.ref, "userAccountControl")) & 2  # no password: AD keeps it disabled
    obs = by_ref(conn.read())[made.ref]
    assert obs.key == made.key and obs.attrs["title"] == "Agent"
    assert sorted(obs.attrs["proxyAddresses"]) == ["SMTP:z@x.test", "smtp:zo@x.test"]


def test_given_a_value_over_the_schema_limit_then_a_clear_error_and_nothing_is_sent(make_ad, ad_console, ad_ou):
    dn = ad_console.add_user(ad_ou, "Limits", employeeID="E1")
    conn = make_ad(ATTRS)
    key = conn.read().observations[0].key
    with pytest.raises(PermanentError, match="employeeID is 17 characters; the directory allows 16"):
        conn.write(Write("ad", "update", "r1", key, {"employeeID": "E" * 17, "title": "ok"}))
    assert ad_console.one(dn, "title") is None  # one modify per entry: nothing partial


def test_given_a_big_multi_valued_attribute_then_it_is_read_whole_through_range_retrieval(make_ad, ad_console,
                                                                                            ad_ou):
    addresses = [f"smtp:a{i}@x.test" for i in range(1203)]
    ad_console.add_user(ad_ou, "Many Addresses", proxyAddresses=addresses)
    conn = make_ad(ATTRS, range_attributes=["proxyAddresses"], range_size=500)

    obs = conn.read().observations[0]

    assert sorted(obs.attrs["proxyAddresses"]) == sorted(addresses)
    assert conn.stats["searches"] >= 4  # the entry's page, then ranges 500-999 and 1000-1499


def test_given_the_same_values_then_no_write_reaches_ad(make_ad, ad_console, ad_ou):
    dn = ad_console.add_user(ad_ou, "Quiet", title="Agent", proxyAddresses=["SMTP:q@x.test", "smtp:q2@x.test"])
    conn = make_ad(ATTRS)
    key = conn.read().observations[0].key
    usn = ad_console.one(dn, "uSNChanged")
    conn.write(Write("ad", "update", "r1", key, {"title": "Agent",
                                                 "proxyAddresses": ("smtp:q2@x.test", "SMTP:q@x.test")}))
    assert conn.stats["modifies"] == 0 and ad_console.one(dn, "uSNChanged") == usn


def test_given_an_account_outside_base_dn_then_it_is_not_touched(make_ad, ad_console, ad_ou, samba):
    outside = ad_console.add_user(samba.users, f"Outsider {uuid.uuid4().hex[:6]}", title="Keep")
    guid = uuid.UUID(bytes_le=ad_console.conn.search(outside, "(objectClass=*)", "BASE", attributes=["objectGUID"])
                     and ad_console.conn.response[0]["raw_attributes"]["objectGUID"][0])
    conn = make_ad(ATTRS)
    with pytest.raises(PermanentError, match="outside base_dn"):
        conn.write(Write("ad", "update", "r1", str(guid), {"title": "changed"}))
    assert ad_console.one(outside, "title") == "Keep"


def test_given_starttls_on_389_with_the_samba_ca_then_it_connects(make_ad, ad_console, ad_ou, samba):
    ad_console.add_user(ad_ou, "Tls User")
    assert len(make_ad(ATTRS, url=samba.url, start_tls=True).read().observations) == 1


def test_given_the_certificate_names_another_host_then_the_read_fails(make_ad, ad_console, ad_ou):
    ad_console.add_user(ad_ou, "Name Check")
    with pytest.raises(ReadFailed):  # Samba's certificate names DC1.example.test, not 127.0.0.1
        make_ad(ATTRS, tls_server_name=None).read()
    assert len(make_ad(ATTRS, insecure_skip_tls_verify_for_tests_only=True).read().observations) == 1
