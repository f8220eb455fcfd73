"""SPEC 17 end to end through the deployed shape: the poll, reconcile and deliver handlers over DynamoDB and SQS
(moto). First with in-memory systems (faults: a failed member read, SQS delivering a group's observation twice
and out of order, a delivery message redelivered). With a real Samba AD DC or OpenLDAP as the `ad` system (and
the Genesys Cloud stand-in's groups): tests/integration/ldap/test_ldap_spec17_handlers.py (beside the directory
servers' fixtures, so one test session starts each server once)."""

from __future__ import annotations

from typing import Any

from peoplesync.model import observation_to_dict
from tests.e2e.conftest import Cloud
from tests.unit.conftest import config, hire

DN = "CN=Person {n},OU=Staff,DC=corp"


def group_config(apply: str = "always") -> dict[str, Any]:
    cfg = config()
    cfg["groups"] = {"source": "ad", "match": ["name"], "fields": {
        "name": {"map": {"ad": "cn", "cloud": "name"}},
        "members": {"map": {"ad": "member", "cloud": "members"}, "reference": "person", "multi": True,
                    "apply": apply}}}
    return cfg


def given(cloud: Cloud, ad_members: tuple[int, ...], cloud_members: tuple[str, ...]) -> None:
    for n in (1, 2, 3):
        hire(cloud, n)
    cloud["ad"].put("G1", kind="group", ref="CN=Agents,OU=Groups,DC=corp", cn="Agents",
                    member=tuple(DN.format(n=n) for n in ad_members))
    cloud["cloud"].put("grp-1", kind="group", name="Agents", members=cloud_members)
    cloud.sync()


def set_members(cloud: Cloud, *ns: int) -> None:
    cloud["ad"].set("G1", member=tuple(DN.format(n=n) for n in ns))


def group_writes(cloud: Cloud) -> list[Any]:
    return [w for w in cloud["cloud"].writes if w.kind == "group"]


def test_17_a_member_added_and_one_removed_reach_the_cloud_group_and_a_second_sync_writes_nothing(
        aws_env: None) -> None:
    cloud = Cloud(group_config())
    given(cloud, (1,), ("u1",))
    set_members(cloud, 1, 2)
    cloud.sync()
    assert cloud["cloud"].members("grp-1", "members") == {"u1", "u2"}
    set_members(cloud, 2)
    cloud.sync()
    assert cloud["cloud"].members("grp-1", "members") == {"u2"}
    assert [w.delta for w in group_writes(cloud)] == [{"members": {"add": ["u2"], "remove": []}},
                                                     {"members": {"add": [], "remove": ["u1"]}}]
    before = cloud.writes()
    cloud.sync()
    assert cloud.writes() == before


def test_17_add_only_keeps_members_the_bridge_did_not_add(aws_env: None) -> None:
    cloud = Cloud(group_config("add_only"))
    given(cloud, (1,), ("u1", "u3"))
    set_members(cloud, 1, 2)
    cloud.sync()
    set_members(cloud)
    cloud.sync()
    assert cloud["cloud"].members("grp-1", "members") == {"u1", "u3"}  # only u2 was the bridge's


def test_17_a_failed_member_read_removes_nobody(aws_env: None) -> None:
    cloud = Cloud(group_config())
    given(cloud, (1, 2), ("u1", "u2"))
    cloud["ad"].fail_member_reads = "range retrieval cut short"
    set_members(cloud, 1)
    reports = cloud.sync()
    assert any(r.get("failed") for r in reports)
    assert cloud["cloud"].members("grp-1", "members") == {"u1", "u2"}


def test_17_a_group_observation_delivered_twice_and_out_of_order_writes_once(aws_env: None) -> None:
    cloud = Cloud(group_config())
    given(cloud, (1,), ("u1",))
    old = cloud["ad"].observation("G1")
    set_members(cloud, 1, 2)
    new = cloud["ad"].observation("G1")
    for obs in (new, new, old):  # at-least-once delivery, and the older read last
        cloud.send("reconcile", {"type": "observation", "observation": observation_to_dict(obs)})
    cloud.drain()
    assert cloud["cloud"].members("grp-1", "members") == {"u1", "u2"}
    assert len(group_writes(cloud)) == 1
    rid = cloud.store.by_link("group", "cloud", "grp-1")
    cloud.send("deliver:cloud", {"type": "deliver", "record_id": rid, "system": "cloud"})  # redelivered
    cloud.drain()
    assert len(group_writes(cloud)) == 1 and cloud["cloud"].members("grp-1", "members") == {"u1", "u2"}
