"""SPEC 17 through the deployed shape (the Lambda handlers over DynamoDB and SQS on moto) with a real directory as
the `ad` system: Samba AD driving an in-memory cloud group, and OpenLDAP driving a Genesys Cloud stand-in group.
Here, beside the directory servers' fixtures (tests/integration/ldap/conftest.py), so that one test session
starts each server once; the in-memory cases are tests/e2e/test_groups_through_handlers.py."""

from __future__ import annotations

from peoplesync.connectors import ldap as ldap_connector
from tests.e2e.conftest import Cloud, aws_env  # noqa: F401
from tests.e2e.test_groups_through_handlers import group_config
from tests.integration.ldap.conftest import FakeSecrets
from tests.integration.ldap.test_ldap_groups import add_group, members


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
