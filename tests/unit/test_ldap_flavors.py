"""The LDAP flavour objects and delta modes, without a server: what differs between Active Directory, OpenLDAP
and other directories, and cursors the connector cannot go on from (a full read, never a crash)."""

from __future__ import annotations

import pytest

from peoplesync.connectors.ldap import ActiveDirectory, Generic, LdapConnector, OpenLdap, Settings, flavor_of
from peoplesync.model import Observation
from peoplesync.ports import PermanentError


def settings(flavor: str, **kw) -> Settings:
    return Settings.model_validate({"url": "ldaps://dc.example", "base_dn": "ou=People,dc=example", "flavor": flavor,
                                    **kw})


def test_given_each_flavour_then_anchor_marker_delta_mode_and_default_filter_are_its_own():
    kinds = {name: flavor_of(name)(settings(name), "dir") for name in ("active_directory", "openldap", "generic")}
    assert {n: (f.anchor, f.marker, f.delta.mode) for n, f in kinds.items()} == {
        "active_directory": ("objectGUID", "uSNChanged", "usn"),
        "openldap": ("entryUUID", "entryCSN", "csn"),
        "generic": ("entryUUID", "modifyTimestamp", "timestamp")}
    assert settings("active_directory").filter == "(&(objectCategory=person)(objectClass=user))"
    assert settings("openldap").filter == "(objectClass=inetOrgPerson)"
    assert isinstance(kinds["openldap"], OpenLdap) and isinstance(kinds["generic"], Generic)


def test_given_ad_then_the_uac_bit_says_active_and_deactivate_sets_it_only_when_needed():
    ad = ActiveDirectory(settings("active_directory"), "ad")
    assert ad.active({"useraccountcontrol": [b"512"]}) is True
    assert ad.active({"useraccountcontrol": [b"514"]}) is False
    assert ad.switch({"useraccountcontrol": [b"512"]}, activate=False) == {"userAccountControl": ("replace", ["514"])}
    assert ad.switch({"useraccountcontrol": [b"512"]}, activate=True) == {}
    assert ad.marker_value(b"12345") == 12345
    new: dict = {"cn": ["Ann"]}
    ad.complete_new(new, "Ann")
    assert new["userAccountControl"] == ["514"]  # created disabled: no password is set


def test_given_openldap_without_disable_attribute_then_deactivate_is_refused_and_everyone_is_active():
    ol = OpenLdap(settings("openldap"), "dir")
    assert ol.active({}) is True
    with pytest.raises(PermanentError, match="disable_attribute"):
        ol.switch({}, activate=False)
    configured = OpenLdap(settings("openldap", disable_attribute="pwdAccountLockedTime",
                                   disabled_value="000001010000Z"), "dir")
    assert configured.active({"pwdaccountlockedtime": [b"000001010000Z"]}) is False
    assert configured.switch({}, activate=False) == {"pwdAccountLockedTime": ("replace", ["000001010000Z"])}
    assert configured.switch({"pwdaccountlockedtime": [b"000001010000Z"]}, activate=True) == \
        {"pwdAccountLockedTime": ("replace", [])}
    new: dict = {"cn": ["Ann"]}
    configured.complete_new(new, "Ann")
    assert new["sn"] == ["Ann"]  # person requires a surname


def test_given_disable_attribute_on_ad_then_the_settings_are_refused():
    with pytest.raises(ValueError, match="userAccountControl"):
        settings("active_directory", disable_attribute="x")


def test_given_delta_modes_then_filters_escape_the_mark_and_the_csn_cursor_moves_past_what_was_seen():
    ol = OpenLdap(settings("openldap"), "dir")
    exact = ol.delta.changed("(objectClass=inetOrgPerson)", {"csn": "2024*", "exact": True})
    assert exact == "(&(objectClass=inetOrgPerson)(entryCSN>=2024\\2a)(!(entryCSN=2024\\2a)))"
    seen = [Observation("dir", "k", {}, marker="20240101120000.000000Z#000000#000#000000")]
    assert ol.delta.advance({"mode": "csn", "csn": None, "exact": False}, seen)["csn"] == seen[0].marker
    ad = ActiveDirectory(settings("active_directory"), "ad")
    assert ad.delta.changed("(f=1)", {"usn": 41}) == "(&(f=1)(uSNChanged>=42))"
    assert ad.delta.unusable({"usn": 50, "inv": "a"}, {"usn": 41, "inv": "b"}) is not None  # another DC
    assert ad.delta.unusable({"usn": 40, "inv": "a"}, {"usn": 41, "inv": "a"}) is not None  # restored
    assert ad.delta.unusable({"usn": 50, "inv": "a"}, {"usn": 41, "inv": "a"}) is None


@pytest.mark.parametrize("state", [{}, {"mode": "csn"}, {"mode": "usn", "usn": 1, "inv": "x", "full_at": 0.0},
                                   {"mode": "csn", "csn": "x", "full_at": "soon"}])
def test_given_a_cursor_state_it_did_not_write_then_the_delta_declines_without_touching_the_server(state):
    conn = LdapConnector("dir", settings("openldap"), ["cn"])  # no server: any search would fail
    assert conn._read_delta(state) is None  # the base then reads everything


def test_given_an_old_format_cursor_then_it_is_not_trusted():
    conn = LdapConnector("dir", settings("openldap"), ["cn"])
    assert conn._decode("ldap1:eyJtb2RlIjogImNzbiJ9") is None
    assert conn._decode("not json at all") is None


def test_given_mapped_anchor_or_uac_then_construction_refuses_them():
    with pytest.raises(ValueError, match="managed by the ldap connector"):
        LdapConnector("ad", settings("active_directory"), ["cn", "objectGUID"])
    with pytest.raises(ValueError, match="managed by the ldap connector"):
        LdapConnector("dir", settings("generic"), ["userAccountControl"])
