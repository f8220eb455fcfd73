"""SPEC 17 through `peoplesync sync` (the local run: poll, reconcile, deliver) with a real Samba AD DC: group
membership sourced from AD reaches the matching cloud group, and a distribution group in AD receives members
sourced from another system. HR and the cloud are in-memory systems (MemoryConnector); AD is built from the
configuration through the registry. The deployed shape (handlers on moto): test_ldap_spec17_handlers.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.connectors.ldap.search import Directory
from peoplesync_dev.memory import MemoryConnector
from tests.integration.ldap.test_ldap_groups import add_group, members

PW = "Str0ng!Passw0rd-for-tests"
PEOPLE: dict[str, Any] = {
    "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID",
                                             "cloud": "employerInfo.employeeId"}},
    "email.work": {"source": "hr", "normalize": ["trim", "lower"],
                   "map": {"hr": "Work_Email", "ad": "mail", "cloud": "email"}},
}


def groups_section(source: str, apply: str = "always") -> dict[str, Any]:
    return {"source": source, "match": ["mail", "name"], "fields": {
        "name": {"map": {"ad": "cn", "cloud": "name"}},
        "mail": {"normalize": ["trim", "lower"], "map": {"ad": "mail", "cloud": "mail"}},
        "members": {"map": {"ad": "member", "cloud": "members"}, "reference": "person", "multi": True,
                    "apply": apply}}}


class GroupWorld:
    def __init__(self, ad_system: dict[str, Any], secrets: Any, console: Any, ou: str, *, source: str = "ad",
                 apply: str = "always", **ad_settings: Any) -> None:
        self.console, self.ou = console, ou
        config = {"systems": {"hr": {"connector": "memory", "writable": False},
                              "ad": {**ad_system, "groups": {}, **ad_settings}, "cloud": {"connector": "memory"}},
                  "fields": copy.deepcopy(PEOPLE), "match": ["employee_id", "email.work"],
                  "lifecycle": {"source": "hr"}, "policies": {"max_changes_per_run": None},
                  "groups": groups_section(source, apply)}
        self.hr = MemoryConnector("hr", ["Employee_ID", "Work_Email"], writable=False)
        self.cloud = MemoryConnector("cloud", ["employerInfo.employeeId", "email", "name", "mail", "members"])
        self.bridge = bootstrap.local(config, store=MemoryStore(), secrets=secrets,
                                      connectors={"hr": self.hr, "cloud": self.cloud}, sleep=lambda s: None)
        self.dn: dict[int, str] = {}

    def hire(self, n: int) -> None:
        self.hr.put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@example.test")
        self.dn[n] = self.console.add_user(self.ou, f"Person {n}", password=PW, employeeID=f"E{n}",
                                           mail=f"p{n}@example.test")
        self.cloud.put(f"u{n}", **{"employerInfo.employeeId": f"E{n}", "email": f"p{n}@example.test"})

    def sync(self) -> Any:
        return self.bridge.sync()

    def cloud_members(self, key: str = "grp-1") -> set[str]:
        return self.cloud.members(key, "members")


@pytest.fixture
def world(ad_system, ad_secrets, ad_console, ad_ou) -> GroupWorld:
    w = GroupWorld(ad_system, ad_secrets, ad_console, ad_ou)
    for n in (1, 2, 3):
        w.hire(n)
    return w


def test_17_a_member_added_to_an_ad_group_appears_in_the_cloud_group_and_a_removed_one_disappears(
        world: GroupWorld) -> None:
    group = add_group(world.console, world.ou, "Agents", [world.dn[1]], mail="agents@example.test")
    world.cloud.put("grp-1", kind="group", name="Agents", mail="agents@example.test", members=("u1",))
    world.sync()
    assert world.cloud_members() == {"u1"}

    world.console.conn.modify(group, {"member": [("MODIFY_ADD", [world.dn[2], world.dn[3]])]})
    report = world.sync()  # a delta read of AD (uSNChanged)
    assert world.cloud_members() == {"u1", "u2", "u3"}
    assert [w.delta for w in world.cloud.writes if w.kind == "group"] == [
        {"members": {"add": ["u2", "u3"], "remove": []}}]
    assert any("members: add [u2, u3]" in line for line in report.decisions)

    world.console.conn.modify(group, {"member": [("MODIFY_DELETE", [world.dn[1]])]})
    world.sync()
    assert world.cloud_members() == {"u2", "u3"}
    assert world.sync().total_writes == 0  # a second sync writes nothing
    assert members(world.console, group) == {world.dn[2].lower(), world.dn[3].lower()}  # AD never written


def test_17_add_only_keeps_the_cloud_members_the_bridge_did_not_add(ad_system, ad_secrets, ad_console,
                                                                    ad_ou) -> None:
    world = GroupWorld(ad_system, ad_secrets, ad_console, ad_ou, apply="add_only")
    for n in (1, 2, 3):
        world.hire(n)
    group = add_group(world.console, world.ou, "Leads", [world.dn[1]], mail="leads@example.test")
    world.cloud.put("grp-1", kind="group", name="Leads", mail="leads@example.test", members=("u3", "robot"))
    world.sync()
    assert world.cloud_members() == {"u1", "u3", "robot"}
    world.console.conn.modify(group, {"member": [("MODIFY_DELETE", [world.dn[1]])]})
    world.sync()
    assert world.cloud_members() == {"u3", "robot"}  # u1 was the bridge's to remove; u3 and robot were not


def test_17_a_failed_member_read_removes_nobody(ad_system, ad_secrets, ad_console, ad_ou, monkeypatch) -> None:
    world = GroupWorld(ad_system, ad_secrets, ad_console, ad_ou, range_attributes=["member"], range_size=1)
    for n in (1, 2, 3):
        world.hire(n)
    group = add_group(world.console, world.ou, "Crowd", [world.dn[n] for n in (1, 2, 3)], mail="crowd@example.test")
    world.cloud.put("grp-1", kind="group", name="Crowd", mail="crowd@example.test", members=("u1", "u2", "u3"))
    world.sync()
    original = Directory.one
    monkeypatch.setattr(Directory, "one", lambda self, dn, attrs: {} if any(";range=" in a for a in attrs)
                        else original(self, dn, attrs))  # the DC stops answering after the first range
    world.console.conn.modify(group, {"member": [("MODIFY_DELETE", [world.dn[3]])]})
    report = world.sync()
    assert "cut short" in report.read_failures["ad"]
    assert world.cloud_members() == {"u1", "u2", "u3"}  # nobody removed because of it
    monkeypatch.undo()
    world.sync()
    assert world.cloud_members() == {"u1", "u2"}


def test_17_a_distribution_group_in_samba_ad_receives_members_sourced_from_the_cloud(
        ad_system, ad_secrets, ad_console, ad_ou) -> None:
    world = GroupWorld(ad_system, ad_secrets, ad_console, ad_ou, source="cloud")
    for n in (1, 2, 3):
        world.hire(n)
    dl = add_group(world.console, world.ou, "Sales", [], mail="sales@example.test", groupType="8",
                   proxyAddresses=["SMTP:sales@example.test"])  # universal distribution: an Exchange list
    world.cloud.put("grp-1", kind="group", name="Sales team", mail="Sales@example.test", members=("u1", "u2"))
    world.sync()
    # matched by mail; its name follows the cloud's (a rename: cn is the group's RDN)
    [(dl, _)] = world.console.find(world.ou, "(mail=sales@example.test)", "cn")
    assert dl.lower().startswith("cn=sales team,")
    assert members(world.console, dl) == {world.dn[1].lower(), world.dn[2].lower()}
    world.cloud.set("grp-1", members=("u2", "u3"))
    world.sync()
    assert members(world.console, dl) == {world.dn[2].lower(), world.dn[3].lower()}
    assert world.sync().total_writes == 0


def test_13_4_a_scim_group_pushed_by_the_idp_reaches_the_samba_ad_group_and_the_cloud_group(
        ad_system, ad_secrets, ad_console, ad_ou) -> None:
    import json

    from peoplesync.scim.app import build_app
    from peoplesync.scim.http import ScimRequest
    from peoplesync.scim.repository import MemoryScimRepository

    config = {"systems": {"ad": {**ad_system, "groups": {}}, "cloud": {"connector": "memory"},
                          "idp": {"connector": "scim", "tokens": "secret:scim"}},
              "fields": {"email.work": {"source": "ad", "normalize": ["trim", "lower"],
                                        "map": {"ad": "mail", "cloud": "email", "idp": "userName"}}},
              "match": ["email.work"], "policies": {"max_changes_per_run": None},
              "groups": {"source": "idp", "match": ["name"], "fields": {
                  "name": {"map": {"idp": "displayName", "ad": "cn", "cloud": "name"}},
                  "members": {"map": {"idp": "members", "ad": "member", "cloud": "members"},
                              "reference": "person", "multi": True}}}}
    cloud = MemoryConnector("cloud", ["email", "name", "members"])
    bridge = bootstrap.local(config, store=MemoryStore(), secrets=ad_secrets, connectors={"cloud": cloud},
                             sleep=lambda s: None)
    dns = {n: ad_console.add_user(ad_ou, f"Person {n}", mail=f"p{n}@example.test") for n in (1, 2)}
    for n in (1, 2):
        cloud.put(f"u{n}", email=f"p{n}@example.test")
    group = add_group(ad_console, ad_ou, "Agents", [])
    cloud.put("grp-1", kind="group", name="Agents", members=())
    bridge.sync()
    app = build_app(MemoryScimRepository(), ["t0k3n"], system="idp", attributes=["userName", "displayName",
                    "members"], on_change=bridge.receive)

    def idp(method: str, path: str, body: Any) -> Any:
        response = app.handle(ScimRequest(method, path, {}, {"Authorization": "Bearer t0k3n"},
                                          json.dumps(body).encode()))
        assert response.status < 300, response.body
        bridge.deliver_owed()
        return response.body

    ids = [idp("POST", "/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                  "userName": f"p{n}@example.test"})["id"] for n in (1, 2)]
    idp("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Agents",
                            "members": [{"value": i} for i in ids]})
    assert members(ad_console, group) == {dns[1].lower(), dns[2].lower()}
    assert cloud.members("grp-1", "members") == {"u1", "u2"}


class _Secrets:
    def __init__(self, *stores: Any, **more: dict[str, Any]) -> None:
        self.stores, self.more = stores, more

    def get(self, name: str) -> dict[str, Any]:
        if name in self.more:
            return dict(self.more[name])
        return next(s.get(name) for s in self.stores if name in getattr(s, "secrets", {}))


def test_17_an_ad_group_in_samba_drives_a_genesys_cloud_group_and_a_graph_group_through_the_stand_ins(
        ad_system, ad_secrets, ad_console, ad_ou) -> None:
    directory_drives_genesys(ad_system, ad_secrets, ad_console, ad_ou)


def test_17_an_openldap_group_drives_a_genesys_cloud_group_and_a_graph_group_through_the_stand_ins(
        slapd, ol_secrets, ol_console, ol_ou) -> None:
    system = {"connector": "ldap", "credentials": "secret:peoplesync/ol", "url": slapd.ldaps_url,
              "flavor": "openldap", "base_dn": ol_ou, "ca_file": slapd.ca_file}
    directory_drives_genesys(system, ol_secrets, ol_console, ol_ou)


def directory_drives_genesys(ad_system: dict[str, Any], ad_secrets: Any, ad_console: Any, ad_ou: str) -> None:
    """Given people in HR, the directory, Genesys Cloud and Entra (Microsoft Graph), and an `Agents` group in
    the directory, the cloud and Entra (a Microsoft 365 group): both cloud groups follow the directory group's
    members, as adds and removes (SPEC 17 with both cloud connectors over HTTP)."""
    from peoplesync.connectors.base import forget_tokens
    from peoplesync.connectors.genesys_api import reset_caches
    from peoplesync_dev.standins import genesys_groups as gg
    from peoplesync_dev.standins.genesys import start_standin
    from peoplesync_dev.standins.graph import start_standin as start_graph

    employee_attr = "employeeID" if ad_console.flavor == "ad" else "employeeNumber"
    people = copy.deepcopy(PEOPLE)
    people["employee_id"]["map"]["ad"] = employee_attr
    people["employee_id"]["map"]["entra"] = "employeeId"
    reset_caches()
    forget_tokens()
    base_url, server = start_standin(clients={"bridge": "bridge-secret"})
    graph_url, graph_server = start_graph(clients={"app": "app-secret"})
    try:
        standin, entra = server.standin, graph_server.standin
        entra_users = {n: entra.add_user(displayName=f"Person {n}", employeeId=f"E{n}") for n in (1, 2, 3)}
        team = entra.add_group("Agents", mailEnabled=False, securityEnabled=True, groupTypes=["Unified"],
                               members=[entra_users[3]])
        config = {"systems": {"hr": {"connector": "memory", "writable": False}, "ad": {**ad_system, "groups": {}},
                              "cloud": {"connector": "genesys_cloud", "base_url": base_url,
                                        "credentials": "secret:genesys", "groups": {"names": ["Agents"]}},
                              "entra": {"connector": "graph", "tenant_id": entra.tenant, "credentials": "secret:graph",
                                        "graph_url": f"{graph_url}/v1.0", "login_url": graph_url,
                                        "groups": {"ids": [team]}}},
                  "fields": people, "match": ["employee_id", "email.work"],
                  "lifecycle": {"source": "hr"}, "policies": {"max_changes_per_run": None},
                  "groups": {"source": "ad", "match": ["name"], "fields": {
                      "name": {"map": {"ad": "cn", "cloud": "name", "entra": "displayName"}},
                      "members": {"map": {"ad": "member", "cloud": "members", "entra": "members"},
                                  "reference": "person", "multi": True}}}}
        hr = MemoryConnector("hr", ["Employee_ID", "Work_Email"], writable=False)
        secrets = _Secrets(ad_secrets, genesys={"client_id": "bridge", "client_secret": "bridge-secret"},
                           graph={"client_id": "app", "client_secret": "app-secret"})
        bridge = bootstrap.local(config, store=MemoryStore(), secrets=secrets, connectors={"hr": hr},
                                 sleep=lambda s: None)
        dns, uids = {}, {}
        for n in (1, 2, 3):
            hr.put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@example.test")
            dns[n] = ad_console.add_user(ad_ou, f"Person {n}", mail=f"p{n}@example.test",
                                         **{employee_attr: f"E{n}"})
            uids[n] = standin.add_user(f"Person {n}", f"p{n}@example.test",
                                       employerInfo={"employeeId": f"E{n}"})
        group = add_group(ad_console, ad_ou, "Agents", [dns[1], dns[2]])
        gid = gg.add_group(standin, "Agents", members=[uids[1]])
        first = bridge.sync()
        assert not first.errors and not first.read_failures
        assert set(gg.group(standin, gid)["members"]) == {uids[1], uids[2]}
        assert set(entra.member_ids(team)) == {entra_users[1], entra_users[2]}

        ad_console.conn.modify(group, {"member": [("MODIFY_ADD", [dns[3]]), ("MODIFY_DELETE", [dns[1]])]})
        bridge.sync()
        assert set(gg.group(standin, gid)["members"]) == {uids[2], uids[3]}
        assert set(entra.member_ids(team)) == {entra_users[2], entra_users[3]}
        assert bridge.sync().total_writes == 0
    finally:
        server.stop()
        graph_server.stop()
