"""SPEC 17 with the cloud connectors (issue 13.2, 13.3) through `peoplesync sync` (bootstrap.local: poll,
reconcile, deliver): membership sourced from a directory group reaches the matching Genesys Cloud group and the
matching Microsoft 365 group (the real connectors, over loopback HTTP to their stand-ins); a member added and a
member removed follow; a second sync writes nothing; add_only keeps a member the bridge did not add; a member
read cut short removes nobody; a distribution list in Entra is refused with the reason (a dead letter naming its
type). The directory is an in-memory system here (the Samba AD variant: tests/integration/ldap/)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.local_secrets import LocalSecrets
from peoplesync.adapters.memory import MemoryStore
from peoplesync.connectors.base import forget_tokens
from peoplesync.connectors.genesys_api import reset_caches
from peoplesync.model import GROUP
from peoplesync.service.queues import dead_letters
from peoplesync_dev.memory import MemoryConnector
from peoplesync_dev.standins import genesys_groups as gg
from peoplesync_dev.standins.genesys import start_standin as start_genesys
from peoplesync_dev.standins.graph import start_standin as start_graph

N = 6


class World:
    def __init__(self, *, apply: str = "always", dl: bool = False, source: str = "ad") -> None:
        reset_caches()
        forget_tokens()
        self.graph_url, self.graph_server = start_graph(clients={"app": "app-secret"})
        self.genesys_url, self.genesys_server = start_genesys(clients={"bridge": "bridge-secret"})
        self.g, self.gen = self.graph_server.standin, self.genesys_server.standin
        self.entra_users = [self.g.add_user(displayName=f"P{i}", employeeId=f"E{i}") for i in range(N)]
        self.cloud_users = [self.gen.add_user(f"P{i}", f"p{i}@corp.example", employerInfo={"employeeId": f"E{i}"})
                            for i in range(N)]
        self.stranger = self.gen.add_user("Not in HR", "x@corp.example")
        self.team = self.g.add_group("Agents", mailEnabled=dl, securityEnabled=not dl,
                                     groupTypes=[] if dl else ["Unified"],
                                     members=self.entra_users[:4] if source == "entra" else [])
        self.queue = gg.add_group(self.gen, "Agents", members=[self.stranger])
        members = {"map": {"ad": "member", "cloud": "members", "entra": "members"}, "reference": "person",
                   "multi": True, "apply": apply}
        config = {
            "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"},
                        "cloud": {"connector": "genesys_cloud", "base_url": self.genesys_url,
                                  "credentials": "secret:genesys", "groups": {"names": ["Agents"]}},
                        "entra": {"connector": "graph", "tenant_id": self.g.tenant, "credentials": "secret:graph",
                                  "graph_url": f"{self.graph_url}/v1.0", "login_url": self.graph_url,
                                  "groups": {"ids": [self.team]}, "page_size": 2}},
            "fields": {"employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID",
                                                                 "cloud": "employerInfo.employeeId",
                                                                 "entra": "employeeId"}}},
            "match": ["employee_id"], "lifecycle": {"source": "hr"},
            "policies": {"max_changes_per_run": None, "unmatched": "create"},
            "groups": {"source": source, "match": ["name"], "fields": {
                "name": {"map": {"ad": "cn", "cloud": "name", "entra": "displayName"}}, "members": members}}}
        self.hr = MemoryConnector("hr", ["Employee_ID"], writable=False)
        self.ad = MemoryConnector("ad", ["employeeID", "cn", "member"])
        for i in range(N):
            self.hr.put(f"W{i}", Employee_ID=f"E{i}")
            self.ad.put(f"cn=p{i}", employeeID=f"E{i}")
        self.ad.put("cn=agents", kind=GROUP, cn="Agents", member=[f"cn=p{i}" for i in range(3)])
        secrets = LocalSecrets(environ={
            "PEOPLESYNC_SECRET_GENESYS": json.dumps({"client_id": "bridge", "client_secret": "bridge-secret"}),
            "PEOPLESYNC_SECRET_GRAPH": json.dumps({"client_id": "app", "client_secret": "app-secret"})})
        self.store = MemoryStore()
        self.bridge = bootstrap.local(config, store=self.store, connectors={"hr": self.hr, "ad": self.ad},
                                      secrets=secrets, sleep=lambda s: None)

    def ad_members(self, *people: int) -> None:
        self.ad.set("cn=agents", member=[f"cn=p{i}" for i in people])

    def cloud(self) -> set[str]:
        return set(gg.group(self.gen, self.queue)["members"])

    def entra(self) -> set[str]:
        return set(self.g.member_ids(self.team))

    def want(self, system: str, *people: int) -> set[str]:
        users = self.cloud_users if system == "cloud" else self.entra_users
        return {users[i] for i in people}

    def stop(self) -> None:
        self.graph_server.stop()
        self.genesys_server.stop()


@pytest.fixture
def world() -> Any:
    made: list[World] = []

    def make(**options: Any) -> World:
        made.append(World(**options))
        return made[-1]

    yield make
    for w in made:
        w.stop()


def test_directory_membership_reaches_the_cloud_group_and_the_microsoft_365_group(world: Any) -> None:
    w = world()
    report = w.bridge.sync()
    assert not report.errors
    assert w.cloud() == w.want("cloud", 0, 1, 2)  # the member the bridge did not add is removed (apply: always)
    assert w.entra() == w.want("entra", 0, 1, 2)
    w.ad_members(1, 2, 4)  # one added, one removed in the directory
    report = w.bridge.sync()
    assert w.cloud() == w.want("cloud", 1, 2, 4) and w.entra() == w.want("entra", 1, 2, 4)
    assert w.genesys_server.standin.stats["group member adds"] == 2  # 3 at first, then 1: one request each
    again = w.bridge.sync()
    assert again.total_writes == 0


def test_add_only_keeps_the_member_the_bridge_did_not_add(world: Any) -> None:
    w = world(apply="add_only")
    w.bridge.sync()
    assert w.cloud() == w.want("cloud", 0, 1, 2) | {w.stranger}
    w.ad_members(1, 2)
    w.bridge.sync()
    assert w.cloud() == w.want("cloud", 1, 2) | {w.stranger}  # the one it added is removed, the stranger stays


def test_a_source_member_read_cut_short_removes_nobody_until_it_reads_whole(world: Any) -> None:
    w = world(source="entra")  # the Microsoft 365 group is the source of membership
    w.bridge.sync()
    assert w.cloud() == w.want("cloud", 0, 1, 2, 3)
    w.g.edit_members(w.team, remove=[w.entra_users[0]])
    w.g.break_member_paging(w.team)  # the group is read again, and its member listing stops after a page
    report = w.bridge.sync()
    assert "entra" in report.read_failures
    assert w.cloud() == w.want("cloud", 0, 1, 2, 3)  # nobody removed because of a read that failed
    w.bridge.sync()
    assert w.cloud() == w.want("cloud", 1, 2, 3)  # read whole: the one who left is removed


def test_a_target_member_read_cut_short_concludes_nothing(world: Any) -> None:
    w = world()
    w.bridge.sync()
    gg.truncate_members(w.gen, w.queue, 2)  # the next listing of the Genesys group loses two members
    report = w.bridge.sync()
    assert "cloud" in report.read_failures
    assert w.cloud() == w.want("cloud", 0, 1, 2)
    assert w.bridge.sync().total_writes == 0


def test_a_distribution_list_in_entra_is_refused_with_its_type(world: Any) -> None:
    w = world(dl=True)
    w.bridge.sync()
    assert w.entra() == set()
    assert w.cloud() == w.want("cloud", 0, 1, 2)  # the other target is not held up
    reasons = json.dumps(dead_letters(w.store))
    assert "is a distribution list" in reasons and "Exchange Online PowerShell" in reasons
