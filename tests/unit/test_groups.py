"""SPEC 17 at engine level, through the local run: group membership sourced from one system reaches the matching
group elsewhere, written as adds and removes (docs/groups.md). AD and the cloud are in-memory systems here; the
LDAP connector's part is tested against real OpenLDAP and Samba AD in tests/integration/ldap/test_ldap_groups.py."""

from __future__ import annotations

from typing import Any

from peoplesync.model import Observation
from peoplesync.report import Resolver, groups_missing
from tests.unit.conftest import World, config, hire

DN = "CN=Person {n},OU=Staff,DC=corp"


def group_world(*, apply: str = "always", provision: list[str] | None = None, guard: Any = None,
                source: Any = "ad") -> World:
    cfg = config()
    cfg["groups"] = {"source": source, "winner": "ad" if isinstance(source, list) else None, "match": ["name"],
                     "provision": provision or [], "fields": {
        "name": {"map": {"ad": "cn", "cloud": "name"}},
        "members": {"map": {"ad": "member", "cloud": "members"}, "reference": "person", "multi": True,
                    "apply": apply},
    }}
    if guard is not None:
        cfg["policies"] = {"max_changes_per_run": guard}
    w = World(cfg)
    for n in (1, 2, 3):
        hire(w, n)
    return w


def ad_group(w: World, *members: int, key: str = "G1", name: str = "Agents") -> None:
    w["ad"].put(key, kind="group", ref=f"CN={name},OU=Groups,DC=corp", cn=name,
                member=tuple(DN.format(n=n) for n in members))


def set_ad_members(w: World, *members: int, key: str = "G1") -> None:
    w["ad"].set(key, member=tuple(DN.format(n=n) for n in members))


def cloud_group(w: World, *users: str, key: str = "grp-1", name: str = "Agents") -> None:
    w["cloud"].put(key, kind="group", name=name, members=tuple(users))


def group_writes(w: World) -> list[Any]:
    return [x for x in w["cloud"].writes if x.kind == "group"]


def test_a_member_added_to_an_ad_group_reaches_the_matching_cloud_group_as_an_add() -> None:
    w = group_world()
    ad_group(w, 1)
    cloud_group(w, "u1")
    w.sync()
    assert group_writes(w) == []  # already in agreement
    set_ad_members(w, 1, 2)
    report = w.sync()
    assert report.writes == {"cloud": 1}
    write = group_writes(w)[-1]
    assert write.delta == {"members": {"add": ["u2"], "remove": []}} and "members" not in write.attrs
    assert w["cloud"].members("grp-1", "members") == {"u1", "u2"}
    assert any("members: add [u2]" in line for line in report.decisions)  # plan/sync say who and why
    assert w.sync().total_writes == 0  # a second sync writes nothing


def test_a_member_removed_from_the_ad_group_disappears_from_the_cloud_group() -> None:
    w = group_world()
    ad_group(w, 1, 2)
    cloud_group(w, "u1", "u2")
    w.sync()
    set_ad_members(w, 1)
    w.sync()
    assert group_writes(w)[-1].delta == {"members": {"add": [], "remove": ["u2"]}}
    assert w["cloud"].members("grp-1", "members") == {"u1"}
    assert w.sync().total_writes == 0


def test_add_only_keeps_members_the_bridge_did_not_add_and_removes_those_it_did() -> None:
    w = group_world(apply="add_only")
    ad_group(w, 1)
    cloud_group(w, "u1", "svc-robot")  # svc-robot: put there by another process
    w.sync()
    set_ad_members(w, 1, 2)
    w.sync()
    assert w["cloud"].members("grp-1", "members") == {"u1", "u2", "svc-robot"}
    set_ad_members(w)  # everyone leaves the AD group
    w.sync()
    # u2 was added by the bridge: removed; u1 and svc-robot were there before it: kept
    assert w["cloud"].members("grp-1", "members") == {"u1", "svc-robot"}
    assert group_writes(w)[-1].delta == {"members": {"add": [], "remove": ["u2"]}}
    assert w.sync().total_writes == 0


def test_a_cloud_side_edit_of_an_ad_sourced_group_is_put_back_with_one_remove() -> None:
    w = group_world()
    ad_group(w, 1)
    cloud_group(w, "u1")
    w.sync()
    w["cloud"].set("grp-1", members=("u1", "u3"))  # someone adds u3 in the cloud
    w.sync()
    assert group_writes(w)[-1].delta == {"members": {"add": [], "remove": ["u3"]}}
    assert w["cloud"].members("grp-1", "members") == {"u1"}


def test_a_failed_member_read_removes_nobody_and_is_reported() -> None:
    w = group_world()
    ad_group(w, 1, 2)
    cloud_group(w, "u1", "u2")
    w.sync()
    w["ad"].fail_member_reads = "range retrieval cut short"
    report = w.sync()
    assert "ad" in report.read_failures
    assert w["cloud"].members("grp-1", "members") == {"u1", "u2"} and group_writes(w) == []


def test_a_member_without_a_cloud_account_is_owed_and_written_once_they_have_one() -> None:
    w = group_world()
    w["ad"].put("guid-4", ref=DN.format(n=4), employeeID="E4", mail="p4@corp.example")
    w["hr"].put("W4", Employee_ID="E4", Work_Email="p4@corp.example")
    ad_group(w, 1, 4)
    cloud_group(w, "u1")
    w.sync()
    assert group_writes(w) == []  # person 4 has no cloud account: nothing to write yet, nobody dropped
    w["cloud"].put("u4", **{"employerInfo.employeeId": "E4", "email": "p4@corp.example"})
    w.sync()
    assert w["cloud"].members("grp-1", "members") == {"u1", "u4"}
    assert group_writes(w)[-1].delta == {"members": {"add": ["u4"], "remove": []}}


def test_a_member_the_source_names_before_their_account_is_linked_is_added_once_it_is() -> None:
    w = group_world()
    ad_group(w, 1)
    cloud_group(w, "u1")
    w.sync()
    set_ad_members(w, 1, 5)  # person 5's AD account is read in the same poll, after the group
    w["ad"].put("zz-guid-5", ref=DN.format(n=5), employeeID="E5", mail="p5@corp.example")
    w["hr"].put("W5", Employee_ID="E5", Work_Email="p5@corp.example")
    w["cloud"].put("u5", **{"employerInfo.employeeId": "E5", "email": "p5@corp.example"})
    w.sync()
    assert w["cloud"].members("grp-1", "members") == {"u1", "u5"}


def test_a_group_missing_in_the_target_is_reported_unless_provision_names_it() -> None:
    w = group_world()
    ad_group(w, 1, 2)
    report = w.sync()
    assert not [a for a in w["cloud"].accounts.values() if a["kind"] == "group"]
    assert report.total_writes == 0
    assert groups_missing(Resolver(w.plan, w.store)) == [  # what `peoplesync plan` reports
        "group Agents: no cloud group matches it; not created there (groups.provision does not name cloud)"]

    w = group_world(provision=["cloud"])
    ad_group(w, 1, 2)
    w.sync()
    created = [k for k, a in w["cloud"].accounts.items() if a["kind"] == "group"]
    assert len(created) == 1 and w["cloud"].members(created[0], "members") == {"u1", "u2"}
    set_ad_members(w, 2)  # the bridge added u1 when it created the group: it may remove it
    w.sync()
    assert w["cloud"].members(created[0], "members") == {"u2"}
    assert w.sync().total_writes == 0


def test_a_nested_group_is_mirrored_as_the_targets_counterpart_group() -> None:
    w = group_world()
    ad_group(w, 1, key="G2", name="Leads")
    cloud_group(w, "u1", key="grp-2", name="Leads")
    w["ad"].put("G1", kind="group", ref="CN=Agents,OU=Groups,DC=corp", cn="Agents",
                member=(DN.format(n=2), "CN=Leads,OU=Groups,DC=corp"))
    cloud_group(w, "u2")
    w.sync()
    w.sync()
    assert w["cloud"].members("grp-1", "members") == {"u2", "grp-2"}


def test_membership_removals_count_toward_the_change_guard() -> None:
    w = group_world(guard=2)
    for n in range(4, 8):
        hire(w, n)
    ad_group(w, *range(1, 8))
    cloud_group(w, *(f"u{n}" for n in range(1, 8)))
    w.sync(approve=True)  # the first sync links everyone (a count guard would hold that too)
    set_ad_members(w, 1)  # six people would leave the cloud group at once: above 2
    report = w.sync()
    assert report.held_by_guard and "6 people" in report.held_by_guard
    assert len(w["cloud"].members("grp-1", "members")) == 7
    w.sync(approve=True)
    assert w["cloud"].members("grp-1", "members") == {"u1"}


def test_a_membership_write_delivered_twice_or_out_of_order_changes_nothing_more() -> None:
    w = group_world()
    ad_group(w, 1)
    cloud_group(w, "u1")
    w.sync()
    set_ad_members(w, 1, 2)
    old = w["ad"].observation("G1")
    w.sync()
    b = w.bridge
    rid = w.store.by_link("group", "cloud", "grp-1")
    assert b.reconciler.pending(rid, "cloud") == []  # nothing owed after the write was confirmed
    # the same delta applied again by a redelivery: adding a present member is no error, and no change
    w["cloud"].write(group_writes(w)[-1])
    assert w["cloud"].members("grp-1", "members") == {"u1", "u2"}
    # an older read of the AD group arriving late changes nothing (no member goes back in time)
    b.receive(Observation("ad", "G1", old.attrs, marker=0, ref=old.ref, kind="group"))
    assert b.deliver_owed().total_writes == 0 and w["cloud"].members("grp-1", "members") == {"u1", "u2"}


def test_two_way_membership_with_a_winner_carries_either_sides_change_to_the_other() -> None:
    w = group_world(source=["ad", "cloud"])
    ad_group(w, 1)
    cloud_group(w, "u1")
    w.sync()
    w["cloud"].set("grp-1", members=("u1", "u3"))  # added in the cloud
    w.sync()
    assert {m.lower() for m in w["ad"].members("G1", "member")} == {DN.format(n=1).lower(), DN.format(n=3).lower()}
    assert [x.delta for x in w["ad"].writes if x.kind == "group"] == [
        {"member": {"add": [DN.format(n=3)], "remove": []}}]
    set_ad_members(w, 3)  # removed in AD
    w.sync()
    assert w["cloud"].members("grp-1", "members") == {"u3"}
    assert w.sync().total_writes == 0
