"""The LDAP connector against a real OpenLDAP slapd: reads, deltas, removals, writes, names, TLS, referrals."""

from __future__ import annotations

import logging
import socket
import threading
import uuid

import pytest

from peoplesync.connectors import ldap as ldap_connector
from peoplesync.model import Write
from peoplesync.ports import PermanentError, ReadFailed

ATTRS = ["cn", "mail", "telephoneNumber", "title", "manager", "employeeNumber", "mobile"]


def by_ref(result):
    return {o.ref: o for o in result.observations}


def test_given_accounts_when_full_read_then_every_account_with_only_mapped_attributes(make_ol, ol_console, ol_ou):
    for i in range(7):
        ol_console.add_user(ol_ou, f"user{i}", mail=f"u{i}@example.org", title="Agent",
                            description="unmapped, never read")
    conn = make_ol(ATTRS, page_size=3)

    result = conn.read()

    assert result.complete is True
    assert len(result.observations) == 7
    assert conn.stats["searches"] >= 3  # 7 entries in pages of 3
    obs = by_ref(result)[f"cn=user3,{ol_ou}"]
    assert set(obs.attrs) == set(ATTRS)
    assert obs.attrs["mail"] == "u3@example.org" and obs.attrs["telephoneNumber"] is None
    assert str(uuid.UUID(obs.key)) == obs.key  # entryUUID
    assert ol_console.one(obs.ref, "entryUUID") == obs.key
    assert obs.marker == ol_console.one(obs.ref, "entryCSN")
    assert obs.active is True


def test_given_a_cursor_when_two_of_ten_change_then_the_delta_reads_only_those_two(make_ol, ol_console, ol_ou):
    dns = [ol_console.add_user(ol_ou, f"d{i}", title="Agent") for i in range(10)]
    conn = make_ol(ATTRS)
    first = conn.read()
    ol_console.set(dns[2], title="Lead")
    ol_console.set(dns[7], mail="new@example.org")
    before = conn.stats["entries"]

    delta = conn.read(first.cursor)

    assert delta.complete is False
    assert conn.stats["entries"] - before == 2
    assert {o.ref: (o.attrs["title"], o.attrs["mail"]) for o in delta.observations} == {
        dns[2]: ("Lead", None), dns[7]: ("Agent", "new@example.org")}
    # and nothing changed since: the next delta is empty
    assert conn.read(delta.cursor).observations == []


def test_given_a_deleted_account_when_the_periodic_full_read_is_due_then_it_is_missing_from_a_complete_read(
        make_ol, ol_console, ol_ou):
    keep = ol_console.add_user(ol_ou, "keep")
    gone = ol_console.add_user(ol_ou, "gone")
    now = [1_000_000.0]
    conn = make_ol(ATTRS, full_read_every="6h")
    conn.clock = lambda: now[0]
    cursor = conn.read().cursor
    ol_console.delete(gone)

    delta = conn.read(cursor)  # a delta cannot see a deletion
    assert delta.complete is False and delta.observations == []

    now[0] += 6 * 3600
    full = conn.read(delta.cursor)
    assert full.complete is True
    assert [o.ref for o in full.observations] == [keep]


def test_given_same_values_when_written_then_the_entry_is_not_modified(make_ol, ol_console, ol_ou):
    dn = ol_console.add_user(ol_ou, "same", title="Agent", mail="s@example.org")
    conn = make_ol(ATTRS)
    obs = conn.read().observations[0]
    csn = ol_console.one(dn, "entryCSN")

    conn.write(Write("dir", "update", "r1", obs.key, {"title": "Agent", "mail": "s@example.org"}))

    assert conn.stats["modifies"] == 0
    assert ol_console.one(dn, "entryCSN") == csn


def test_given_an_update_then_only_the_differing_attributes_change_in_one_modify(make_ol, ol_console, ol_ou):
    dn = ol_console.add_user(ol_ou, "upd", title="Agent", mail="u@example.org", telephoneNumber="+1 555 0100",
                             description="not mapped")
    conn = make_ol(ATTRS)
    key = conn.read().observations[0].key

    conn.write(Write("dir", "update", "r1", key, {"title": "Lead", "mail": "u@example.org",
                                                  "telephoneNumber": None,
                                                  "mobile": ("+1 555 0101", "+1 555 0102")}))

    assert conn.stats["modifies"] == 1
    got = ol_console.get(dn, "title", "mail", "telephoneNumber", "description", "mobile")
    assert got["title"] == ["Lead"] and got["mail"] == ["u@example.org"]
    assert "telephoneNumber" not in got
    assert got["description"] == ["not mapped"]
    assert sorted(got["mobile"]) == ["+1 555 0101", "+1 555 0102"]


def test_given_an_unmapped_attribute_in_a_write_then_it_is_refused(make_ol, ol_console, ol_ou):
    ol_console.add_user(ol_ou, "unm")
    conn = make_ol(ATTRS)
    key = conn.read().observations[0].key
    with pytest.raises(PermanentError):
        conn.write(Write("dir", "update", "r1", key, {"description": "x"}))


def test_given_a_disable_attribute_when_deactivated_and_activated_then_reads_follow(make_ol, ol_console, ol_ou):
    dn = ol_console.add_user(ol_ou, "life")
    conn = make_ol(ATTRS, disable_attribute="employeeType", disabled_value="disabled")
    key = conn.read().observations[0].key

    conn.write(Write("dir", "deactivate", "r1", key, {}))
    assert ol_console.one(dn, "employeeType") == "disabled"
    assert conn.read().observations[0].active is False

    conn.write(Write("dir", "activate", "r1", key, {}))
    assert ol_console.one(dn, "employeeType") is None
    assert conn.read().observations[0].active is True


def test_given_no_disable_attribute_when_deactivated_then_a_clear_permanent_error(make_ol, ol_console, ol_ou):
    ol_console.add_user(ol_ou, "nodis")
    conn = make_ol(ATTRS)
    key = conn.read().observations[0].key
    with pytest.raises(PermanentError, match="disable_attribute"):
        conn.write(Write("dir", "deactivate", "r1", key, {}))


NASTY = ['O"Brien, Ann *()\\ #1', "#hash-first", "Zoë Ñúñez-Łukasz 王", " padded ", "semi;colon+plus<>="]


@pytest.mark.parametrize("name", NASTY)
def test_given_a_name_with_special_characters_when_created_then_it_round_trips(make_ol, ol_console, ol_ou, name):
    conn = make_ol(ATTRS, create_container=ol_ou)

    made = conn.write(Write("dir", "create", "r1", None, {"cn": name, "mail": "n@example.org"}))

    assert ol_console.one(made.ref, "cn") == name
    obs = by_ref(conn.read())[made.ref]
    assert obs.key == made.key and obs.attrs["cn"] == name
    # the DN the connector reports works as a reference from another account, and reads back the same
    other = conn.write(Write("dir", "create", "r2", None, {"cn": "ref holder", "manager": made.ref}))
    assert by_ref(conn.read())[other.ref].attrs["manager"] == made.ref
    conn.write(Write("dir", "update", "r1", made.key, {"title": "Renamed? no: retitled"}))
    assert ol_console.one(made.ref, "title") == "Renamed? no: retitled"


def test_given_two_people_with_the_same_name_when_created_then_the_second_gets_a_free_name(make_ol, ol_ou):
    conn = make_ol(ATTRS, create_container=ol_ou)
    a = conn.write(Write("dir", "create", "r1", None, {"cn": "Jo Smith"}))
    b = conn.write(Write("dir", "create", "r2", None, {"cn": "Jo Smith"}))
    assert a.key != b.key and a.ref != b.ref
    assert b.ref.startswith("cn=Jo Smith (2),")


def test_given_no_container_when_asked_to_create_then_it_refuses(make_ol):
    with pytest.raises(PermanentError, match="create_container"):
        make_ol(ATTRS).write(Write("dir", "create", "r1", None, {"cn": "x"}))


def test_given_a_key_that_is_a_filter_injection_then_nothing_matches(make_ol, ol_console, ol_ou):
    ol_console.add_user(ol_ou, "victim", title="Agent")
    conn = make_ol(ATTRS)
    with pytest.raises(PermanentError, match="no account"):
        conn.write(Write("dir", "update", "r1", "*)(objectClass=*", {"title": "pwned"}))
    assert conn.read().observations[0].attrs["title"] == "Agent"


def test_given_a_delete_then_the_entry_is_gone(make_ol, ol_console, ol_ou):
    ol_console.add_user(ol_ou, "del")
    conn = make_ol(ATTRS)
    key = conn.read().observations[0].key
    conn.write(Write("dir", "delete", "r1", key, {}))
    assert conn.read().observations == []


class _Listener:
    """A TCP listener that records whether anyone connected (a stand-in for a referral's foreign host)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.connections += 1
                c.close()
            except OSError:
                continue

    def close(self) -> None:
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def test_given_a_referral_to_another_host_when_read_then_it_is_not_followed(make_ol, ol_console, ol_ou):
    ol_console.add_user(ol_ou, "local")
    listener = _Listener()
    try:
        assert ol_console.conn.add(f"ou=elsewhere,{ol_ou}", ["referral", "extensibleObject"],
                                   {"ou": "elsewhere",
                                    "ref": f"ldap://127.0.0.1:{listener.port}/ou=people,dc=evil,dc=test"},
                                   controls=[(ldap_connector.MANAGE_DSA_IT_OID, True, None)])
        conn = make_ol(ATTRS)

        result = conn.read()

        assert [o.attrs["cn"] for o in result.observations] == ["local"]
        assert conn.stats["referrals"] == 1
        assert listener.connections == 0
    finally:
        listener.close()


def test_given_start_tls_with_the_ca_then_it_connects(make_ol, ol_console, ol_ou, slapd):
    ol_console.add_user(ol_ou, "tls")
    assert len(make_ol(ATTRS, url=slapd.url, start_tls=True).read().observations) == 1


def test_given_a_certificate_from_another_ca_then_the_read_fails(make_ol, ol_console, ol_ou, tmp_path):
    from tests.servers.tls import make_ca_and_server

    other = make_ca_and_server(tmp_path / "other")
    ol_console.add_user(ol_ou, "untrusted")
    with pytest.raises(ReadFailed):
        make_ol(ATTRS, ca_file=str(other["ca"])).read()


def test_given_plain_ldap_without_tls_then_the_settings_are_refused(slapd, ol_ou):
    with pytest.raises(ValueError, match="in clear"):
        ldap_connector.Settings.model_validate({"url": slapd.url, "base_dn": ol_ou})
    with pytest.raises(ValueError):
        ldap_connector.Settings.model_validate({"url": slapd.ldaps_url, "base_dn": ol_ou, "typo_key": 1})


def test_given_a_dropped_connection_when_writing_again_then_it_reconnects(make_ol, ol_console, ol_ou, slapd):
    dn = ol_console.add_user(ol_ou, "drop")
    conn = make_ol(ATTRS)
    key = conn.read().observations[0].key
    conn.write(Write("dir", "update", "r1", key, {"title": "one"}))
    binds = conn.stats["binds"]

    slapd.restart()  # every open connection is cut
    ol_console.reconnect()  # the console's own connection too
    conn.write(Write("dir", "update", "r1", key, {"title": "two"}))

    assert conn.stats["binds"] == binds + 1
    assert ol_console.one(dn, "title") == "two"


def test_given_a_wrong_password_then_the_read_fails_and_no_secret_is_logged(slapd, ol_ou, caplog):
    from tests.integration.ldap.conftest import FakeSecrets

    password = "hunter2-wrong-Password"
    secrets = FakeSecrets({"ad": {"bind_dn": slapd.admin_dn, "password": password}})
    conn = ldap_connector.LdapConnector.from_system(
        "dir", {"connector": "ldap", "credentials": "secret:ad", "url": slapd.ldaps_url, "flavor": "openldap",
                "base_dn": ol_ou, "ca_file": slapd.ca_file}, ATTRS, secrets=secrets)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ReadFailed) as failure:
        conn.read()
    assert "invalidCredentials" in str(failure.value)
    assert password not in str(failure.value) and password not in caplog.text and password not in repr(conn)
    assert secrets.asked == ["ad"]


def test_given_a_good_bind_then_the_password_is_not_kept_on_the_ldap3_connection(make_ol, ol_console, ol_ou):
    ol_console.add_user(ol_ou, "pw")
    conn = make_ol(ATTRS)
    key = conn.read().observations[0].key
    conn.write(Write("dir", "update", "r1", key, {"title": "x"}))
    assert conn._conn is not None and conn._conn.password is None
    conn.close()


def test_given_the_server_is_down_then_the_read_fails_without_concluding_anything(make_ol, ol_console, ol_ou):
    from tests.servers import free_port

    conn = make_ol(ATTRS, url=f"ldaps://127.0.0.1:{free_port()}", connect_timeout=1, retries=1)
    with pytest.raises(ReadFailed):
        conn.read()


def test_given_a_generic_server_then_the_delta_follows_modify_timestamp(make_ol, ol_console, ol_ou):
    dns = [ol_console.add_user(ol_ou, f"g{i}", title="Agent") for i in range(3)]
    conn = make_ol(ATTRS, flavor="generic")
    first = conn.read()
    assert {o.marker for o in first.observations} == {ol_console.one(dn, "modifyTimestamp") for dn in dns}
    ol_console.set(dns[1], title="Lead")

    delta = conn.read(first.cursor)

    assert delta.complete is False
    changed = {o.ref: o.attrs["title"] for o in delta.observations}
    assert changed[dns[1]] == "Lead"  # entries from the few seconds before the mark may be read again


def test_given_an_unreadable_or_foreign_cursor_then_the_poll_is_a_full_read(make_ol, ol_console, ol_ou, slapd):
    ol_console.add_user(ol_ou, "c1")
    conn = make_ol(ATTRS)
    assert conn.read("not-a-cursor").complete is True
    other_scope = make_ol([*ATTRS, "description"]).read().cursor  # another attribute list: another scope
    assert conn.read(other_scope).complete is True


def test_given_keys_when_re_read_then_current_values_and_missing_ones_as_removed(make_ol, ol_console, ol_ou):
    dn = ol_console.add_user(ol_ou, "again", title="Agent")
    gone = ol_console.add_user(ol_ou, "vanishes")
    conn = make_ol(ATTRS)
    keys = {o.ref: o.key for o in conn.read().observations}
    ol_console.set(dn, title="Lead")
    ol_console.delete(gone)

    fresh = conn.read_keys([keys[dn], keys[gone]])

    assert fresh.complete is False
    assert [(o.key, o.attrs.get("title"), o.removed) for o in fresh.observations] == [
        (keys[dn], "Lead", False), (keys[gone], None, True)]


def test_given_a_cursor_of_the_old_format_then_the_poll_is_a_full_read(make_ol, ol_console, ol_ou):
    import base64
    import json

    ol_console.add_user(ol_ou, "old cursor")
    conn = make_ol(ATTRS)
    old = "ldap1:" + base64.urlsafe_b64encode(json.dumps({"mode": "csn", "csn": "x"}).encode()).decode()

    result = conn.read(old)

    assert result.complete is True and len(result.observations) == 1
    assert conn.read(result.cursor).complete is False  # the new cursor is a delta's
