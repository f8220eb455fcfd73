"""SPEC 17 end to end through the deployed shape: the poll, reconcile and deliver handlers over DynamoDB and SQS
(moto). First with in-memory systems (faults: a failed member read, SQS delivering a group's observation twice
and out of order, a delivery message redelivered), then with a real Samba AD DC as the `ad` system."""

from __future__ import annotations

from typing import Any

from peoplesync.connectors import ldap as ldap_connector
from peoplesync.model import observation_to_dict
from tests.e2e.conftest import Cloud
from tests.integration.ldap.conftest import (  # noqa: F401
    FakeSecrets,
    ad_console,
    ad_ou,
    ad_secrets,
    ad_system,
    ol_console,
    ol_ou,
    ol_secrets,
    samba,
    slapd,
)
from tests.integration.ldap.test_ldap_groups import add_group, members
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


def test_17_with_samba_ad_a_member_added_to_an_ad_group_reaches_the_cloud_group(
        aws_env: None, ad_system, ad_secrets, ad_console, ad_ou) -> None:  # noqa: F811
    cfg = group_config()
    cfg["systems"]["ad"] = {**ad_system, "groups": {}}
    cloud = Cloud(cfg)
    ad = ldap_connector.LdapConnector.from_system("ad", cfg["systems"]["ad"], cloud.systems["ad"].attributes,
                                                  secrets=ad_secrets)
    cloud.systems["ad"] = ad  # type: ignore[assignment]
    cloud.runtime = cloud._runtime()
    dns = {n: ad_console.add_user(ad_ou, f"Person {n}", employeeID=f"E{n}", mail=f"p{n}@corp.example")
           for n in (1, 2)}
    for n in (1, 2):
        cloud["hr"].put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@corp.example")
        cloud["cloud"].put(f"u{n}", **{"employerInfo.employeeId": f"E{n}", "email": f"p{n}@corp.example"})
    group = add_group(ad_console, ad_ou, "Agents", [dns[1]])
    cloud["cloud"].put("grp-1", kind="group", name="Agents", members=("u1",))
    cloud.sync()
    ad_console.conn.modify(group, {"member": [("MODIFY_ADD", [dns[2]])]})
    cloud.sync()
    assert cloud["cloud"].members("grp-1", "members") == {"u1", "u2"}
    ad_console.conn.modify(group, {"member": [("MODIFY_DELETE", [dns[1]])]})
    cloud.sync()
    assert cloud["cloud"].members("grp-1", "members") == {"u2"}
    before, modifies = len(cloud["cloud"].writes), ad.stats["modifies"]
    cloud.sync()
    assert len(cloud["cloud"].writes) == before and ad.stats["modifies"] == modifies  # a second sync writes 0
    assert members(ad_console, group) == {dns[2].lower()}



def test_17_an_openldap_group_drives_a_genesys_cloud_group_through_the_handlers(
        aws_env: None, slapd, ol_console, ol_ou, ol_secrets) -> None:  # noqa: F811
    from peoplesync.connectors.genesys import GenesysConnector
    from peoplesync.connectors.genesys_api import reset_caches
    from peoplesync_dev.standins import genesys_groups as gg
    from peoplesync_dev.standins.genesys import start_standin

    reset_caches()
    base_url, server = start_standin(clients={"bridge": "bridge-secret"})
    try:
        cfg = group_config()
        cfg["fields"]["employee_id"]["map"]["ad"] = "employeeNumber"
        cfg["systems"]["ad"] = {"connector": "ldap", "credentials": "secret:peoplesync/ol", "url": slapd.ldaps_url,
                                "flavor": "openldap", "base_dn": ol_ou, "ca_file": slapd.ca_file, "groups": {}}
        cfg["systems"]["cloud"] = {"connector": "genesys_cloud", "base_url": base_url, "credentials": "secret:genesys",
                                   "groups": {"names": ["Agents"]}}
        cloud = Cloud(cfg)
        cloud.systems["ad"] = ldap_connector.LdapConnector.from_system(  # type: ignore[assignment]
            "ad", cfg["systems"]["ad"], cloud.systems["ad"].attributes, secrets=ol_secrets)
        cloud.systems["cloud"] = GenesysConnector.from_system(  # type: ignore[assignment]
            "cloud", cfg["systems"]["cloud"], cloud.systems["cloud"].attributes,
            secrets=FakeSecrets({"genesys": {"client_id": "bridge", "client_secret": "bridge-secret"}}))
        cloud.runtime = cloud._runtime()
        standin = server.standin
        dns, uids = {}, {}
        for n in (1, 2, 3):
            cloud["hr"].put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@corp.example")
            dns[n] = ol_console.add_user(ol_ou, f"Person {n}", employeeNumber=f"E{n}", mail=f"p{n}@corp.example")
            uids[n] = standin.add_user(f"Person {n}", f"p{n}@corp.example", employerInfo={"employeeId": f"E{n}"})
        group = add_group(ol_console, ol_ou, "Agents", [dns[1], dns[2]])
        gid = gg.add_group(standin, "Agents", members=[uids[1]])
        cloud.sync()
        assert set(gg.group(standin, gid)["members"]) == {uids[1], uids[2]}
        ol_console.conn.modify(group, {"member": [("MODIFY_ADD", [dns[3]]), ("MODIFY_DELETE", [dns[1]])]})
        cloud.sync()
        assert set(gg.group(standin, gid)["members"]) == {uids[2], uids[3]}
    finally:
        server.stop()
