"""SPEC 17 with the cloud connectors in the deployed shape: the poll, reconcile and deliver functions on moto
(DynamoDB, SQS), a directory group (in-memory system) as the source of membership, the real Genesys Cloud and
Microsoft Graph connectors over loopback HTTP to their stand-ins as targets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from peoplesync.adapters.local_secrets import LocalSecrets
from peoplesync.connectors import genesys, graph
from peoplesync.connectors.base import forget_tokens
from peoplesync.connectors.genesys_api import reset_caches
from peoplesync.model import GROUP
from peoplesync_dev.standins import genesys_groups as gg
from peoplesync_dev.standins.genesys import start_standin as start_genesys
from peoplesync_dev.standins.graph import start_standin as start_graph
from tests.e2e.conftest import Cloud


@pytest.fixture
def stand_ins(aws_env: None) -> Any:
    reset_caches()
    forget_tokens()
    graph_url, graph_server = start_graph(clients={"app": "app-secret"})
    genesys_url, genesys_server = start_genesys(clients={"bridge": "bridge-secret"})
    try:
        yield graph_url, graph_server.standin, genesys_url, genesys_server.standin
    finally:
        graph_server.stop()
        genesys_server.stop()


def test_directory_membership_reaches_both_cloud_groups_through_the_functions(stand_ins: Any) -> None:
    graph_url, g, genesys_url, gen = stand_ins
    entra_users = [g.add_user(displayName=f"P{i}", employeeId=f"E{i}") for i in range(5)]
    cloud_users = [gen.add_user(f"P{i}", f"p{i}@corp.example", employerInfo={"employeeId": f"E{i}"})
                   for i in range(5)]
    team = g.add_group("Agents", mailEnabled=True, groupTypes=["Unified"])
    queue = gg.add_group(gen, "Agents")
    config = {
        "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"},
                    "cloud": {"connector": "genesys_cloud", "base_url": genesys_url, "credentials": "secret:genesys",
                              "groups": {"names": ["Agents"]}},
                    "entra": {"connector": "graph", "tenant_id": g.tenant, "credentials": "secret:graph",
                              "graph_url": f"{graph_url}/v1.0", "login_url": graph_url, "groups": {"ids": [team]}}},
        "fields": {"employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID",
                                                             "cloud": "employerInfo.employeeId",
                                                             "entra": "employeeId"}}},
        "match": ["employee_id"], "lifecycle": {"source": "hr"},
        "policies": {"max_changes_per_run": None},
        "groups": {"source": "ad", "match": ["name"], "fields": {
            "name": {"map": {"ad": "cn", "cloud": "name", "entra": "displayName"}},
            "members": {"map": {"ad": "member", "cloud": "members", "entra": "members"}, "reference": "person",
                        "multi": True}}}}
    cloud = Cloud(config)
    secrets = LocalSecrets(environ={
        "PEOPLESYNC_SECRET_GENESYS": json.dumps({"client_id": "bridge", "client_secret": "bridge-secret"}),
        "PEOPLESYNC_SECRET_GRAPH": json.dumps({"client_id": "app", "client_secret": "app-secret"})})
    for name, module in (("cloud", genesys), ("entra", graph)):
        cloud.systems[name] = module.CONNECTOR.from_system(name, cloud.plan.config.systems[name],
                                                           sorted(cloud.plan.systems[name].attributes),
                                                           secrets=secrets)
    cloud.runtime = cloud._runtime()
    for i in range(5):
        cloud["hr"].put(f"W{i}", Employee_ID=f"E{i}")
        cloud["ad"].put(f"cn=p{i}", employeeID=f"E{i}")
    cloud["ad"].put("cn=agents", kind=GROUP, cn="Agents", member=["cn=p0", "cn=p1"])
    cloud.sync()  # members not linked yet when the group is read are owed, and written once they are
    assert set(gg.group(gen, queue)["members"]) == {cloud_users[0], cloud_users[1]}
    assert set(g.member_ids(team)) == {entra_users[0], entra_users[1]}
    cloud["ad"].set("cn=agents", member=["cn=p1", "cn=p3"])
    cloud.sync()
    assert set(gg.group(gen, queue)["members"]) == {cloud_users[1], cloud_users[3]}
    assert set(g.member_ids(team)) == {entra_users[1], entra_users[3]}
    writes = (gen.stats["group member adds"], gen.stats["group member removes"], g.stats["members added"],
              g.stats["members removed"])
    cloud.sync()
    assert (gen.stats["group member adds"], gen.stats["group member removes"], g.stats["members added"],
            g.stats["members removed"]) == writes  # a quiet sync writes nothing
