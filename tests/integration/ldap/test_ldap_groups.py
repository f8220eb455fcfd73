"""LDAP groups against the real servers (13.1): read groups and members (AD range retrieval), delta by the change
marker, member adds and removes as one modify, a delivery made twice, an Exchange distribution group in Samba."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from ldap3.utils.dn import escape_rdn

from peoplesync.connectors.ldap.search import Directory
from peoplesync.model import Write
from peoplesync.ports import ReadFailed

ATTRS = ["cn", "mail", "member"]
DISTRIBUTION_UNIVERSAL = 8  # groupType: universal, no security bit (0x80000000): an Exchange distribution list


def add_group(console: Any, parent: str, name: str, members: list[str], **attrs: Any) -> str:
    ad = console.flavor == "ad"
    dn = f"{'CN' if ad else 'cn'}={escape_rdn(name)},{parent}"
    values = {k: v for k, v in attrs.items() if v is not None}
    if members:
        values["member"] = members
    if ad:  # unique in the domain: tests in other OUs use the same group names
        values.setdefault("sAMAccountName", f"{name.replace(' ', '')[:12]}-{uuid.uuid4().hex[:6]}")
    assert console.conn.add(dn, ["top", "group"] if ad else ["top", "groupOfNames"], values), console.conn.result
    return dn


def members(console: Any, dn: str) -> set[str]:
    return {m.lower() for m in console.get(dn, "member").get("member", [])}


def groups_of(result: Any) -> dict[str, Any]:
    return {o.attrs["cn"]: o for o in result.observations if o.kind == "group"}


@pytest.fixture(params=["openldap", "samba"])
def directory(request: Any) -> tuple[Any, Any, str]:
    """(make connector, console, ou) on each real server."""
    if request.param == "openldap":
        return (request.getfixturevalue("make_ol"), request.getfixturevalue("ol_console"),
                request.getfixturevalue("ol_ou"))
    return request.getfixturevalue("make_ad"), request.getfixturevalue("ad_console"), request.getfixturevalue("ad_ou")


def test_groups_are_read_with_their_members_after_the_people_and_a_delta_sees_a_member_added(directory) -> None:
    make, console, ou = directory
    people = [console.add_user(ou, f"Member {i}", mail=f"m{i}@example.org") for i in range(3)]
    group = add_group(console, ou, "Agents", people[:2])
    add_group(console, ou, "Out of scope", people[:1])
    conn = make(ATTRS, groups={"names": ["Agents"]})

    first = conn.read()

    kinds = [o.kind for o in first.observations]
    assert kinds == sorted(kinds, key=lambda k: k == "group")  # people first, then the groups naming them
    found = groups_of(first)
    assert list(found) == ["Agents"] and found["Agents"].ref.lower() == group.lower()
    assert {m.lower() for m in found["Agents"].attrs["member"]} == {p.lower() for p in people[:2]}
    console.conn.modify(group, {"member": [("MODIFY_ADD", [people[2]])]})
    delta = conn.read(first.cursor)
    assert set(groups_of(delta)) == {"Agents"} and len(groups_of(delta)["Agents"].attrs["member"]) == 3


def test_member_adds_and_removes_are_one_modify_and_a_second_delivery_changes_nothing(directory) -> None:
    make, console, ou = directory
    people = [console.add_user(ou, f"Person {i}") for i in range(4)]
    group = add_group(console, ou, "Leads", people[:2])
    conn = make(ATTRS, groups={})
    key = groups_of(conn.read())["Leads"].key
    write = Write("dir", "update", "g-1", key, {}, "group",
                  {"member": {"add": [people[2], people[3]], "remove": [people[0]]}})

    before = conn.stats["modifies"]
    result = conn.write(write)
    assert conn.stats["modifies"] - before == 1  # one modify: MODIFY_ADD and MODIFY_DELETE together
    assert members(console, group) == {p.lower() for p in people[1:]}
    assert result.marker is not None

    # the same delivery again (SQS at-least-once): already members, already gone: done, nothing changes
    conn.write(write)
    assert members(console, group) == {p.lower() for p in people[1:]}
    # a delta half done by someone else: the rest is still made
    console.conn.modify(group, {"member": [("MODIFY_DELETE", [people[3]])]})
    conn.write(write)
    assert members(console, group) == {p.lower() for p in people[1:]}


def test_a_member_list_cut_short_fails_the_read(make_ad, ad_console, ad_ou, monkeypatch) -> None:
    people = [ad_console.add_user(ad_ou, f"Ranged {i}") for i in range(5)]
    add_group(ad_console, ad_ou, "Big", people)
    conn = make_ad(ATTRS, groups={}, range_attributes=["member"], range_size=2)
    assert len(groups_of(conn.read())["Big"].attrs["member"]) == 5  # read whole, range by range

    original = Directory.one

    def cut(self, dn, attrs):  # the server stops answering ranges after the first
        return {} if any(";range=" in a for a in attrs) else original(self, dn, attrs)

    monkeypatch.setattr(Directory, "one", cut)
    with pytest.raises(ReadFailed, match="cut short"):
        conn.read()


def test_samba_ad_reads_a_large_group_through_member_range_retrieval(make_ad, ad_console, ad_ou) -> None:
    people = [ad_console.add_user(ad_ou, f"Crowd {i}") for i in range(7)]
    add_group(ad_console, ad_ou, "Crowd", people)
    conn = make_ad(ATTRS, groups={}, range_attributes=["member"], range_size=3)
    before = conn.stats["searches"]
    group = groups_of(conn.read())["Crowd"]
    assert {m.lower() for m in group.attrs["member"]} == {p.lower() for p in people}
    assert conn.stats["searches"] - before >= 4  # mark, people, groups, then member;range=3-5 and 6-8


def test_an_exchange_distribution_group_in_samba_is_read_and_its_members_written(make_ad, ad_console, ad_ou) -> None:
    people = [ad_console.add_user(ad_ou, f"Seller {i}", mail=f"s{i}@example.test") for i in range(2)]
    dl = add_group(ad_console, ad_ou, "Sales DL", [people[0]], mail="sales@example.test",
                   groupType=str(DISTRIBUTION_UNIVERSAL),
                   proxyAddresses=["SMTP:sales@example.test", "smtp:sales-team@example.test"])
    conn = make_ad(ATTRS, groups={})
    found = groups_of(conn.read())["Sales DL"]
    assert found.attrs["mail"] == "sales@example.test"
    assert int(ad_console.one(dl, "groupType")) & 0x80000000 == 0  # a distribution list, not a security group
    conn.write(Write("ad", "update", "g-1", found.key, {}, "group", {"member": {"add": [people[1]], "remove": []}}))
    assert members(ad_console, dl) == {p.lower() for p in people}


def test_range_retrieval_is_refused_for_a_directory_without_it(make_ol) -> None:
    with pytest.raises(ValueError, match="range_attributes is for Active Directory"):
        make_ol(ATTRS, range_attributes=["member"])  # OpenLDAP would answer member;range=0-1 with nothing


def test_a_group_is_created_in_the_groups_container_when_provisioned(directory) -> None:
    make, console, ou = directory
    people = [console.add_user(ou, f"Founder {i}") for i in range(2)]
    conn = make(ATTRS, groups={"create_container": ou})
    made = conn.write(Write("dir", "create", "g-1", None, {"cn": "New Team", "member": tuple(people)}, "group"))
    assert made.key and made.ref
    assert members(console, made.ref) == {p.lower() for p in people}
    assert groups_of(conn.read())["New Team"].key == made.key
    again = conn.write(Write("dir", "create", "g-1", None, {"cn": "New Team", "member": tuple(people)}, "group"))
    assert again.key == made.key  # a create delivered twice finds the group it made
