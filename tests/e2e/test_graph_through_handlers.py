"""The `graph` connector in the deployed shape: the real connector (HTTP to the Microsoft Graph stand-in on
127.0.0.1) polled by the poll function, its delta cursor kept in (moto) DynamoDB between invocations, with the
real reconcile and deliver functions on (moto) SQS."""

from __future__ import annotations

from typing import Any

import pytest

from peoplesync.adapters.local_secrets import LocalSecrets
from peoplesync.connectors import graph
from peoplesync.connectors.base import forget_tokens
from peoplesync_dev.standins.graph import start_standin
from tests.e2e.conftest import Cloud


def config(base_url: str, tenant: str, group: str) -> dict[str, Any]:
    return {
        "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"},
                    "entra": {"connector": "graph", "tenant_id": tenant, "graph_url": f"{base_url}/v1.0",
                              "login_url": base_url, "credentials": "secret:graph", "writable": False,
                              "groups": {"ids": [group]}}},
        "fields": {
            "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID", "entra": "employeeId"}},
            "title": {"source": "entra", "map": {"entra": "jobTitle", "ad": "title"}},
        },
        "match": ["employee_id"],
        "lifecycle": {"source": "hr"},
        "policies": {"max_changes_per_run": None},
    }


@pytest.fixture
def tenant(aws_env: None) -> Any:
    forget_tokens()
    base_url, server = start_standin(clients={"peoplesync-app": "app-secret"})
    try:
        yield base_url, server.standin
    finally:
        server.stop()
        forget_tokens()


def test_entra_titles_reach_ad_and_the_next_polls_read_only_what_changed(tenant: Any) -> None:
    base_url, g = tenant
    ids = [g.add_user(displayName=f"P{i}", employeeId=f"E{i}", jobTitle="Agent") for i in range(30)]
    group = g.add_group("Agents", members=ids[:20])
    cloud = Cloud(config(base_url, g.tenant, group))
    secrets = LocalSecrets(environ={"PEOPLESYNC_SECRET_GRAPH": '{"client_id": "peoplesync-app", '
                                                               '"client_secret": "app-secret"}'})
    cloud.systems["entra"] = graph.GraphConnector.from_system("entra", cloud.plan.config.systems["entra"],
                                                              sorted(cloud.plan.systems["entra"].attributes),
                                                              secrets=secrets,  # as a function builds it:
                                                              checked=cloud.plan.config.connector_settings["entra"])
    cloud.runtime = cloud._runtime()
    for i in range(30):
        cloud["hr"].put(f"W{i}", Employee_ID=f"E{i}")
        cloud["ad"].put(f"guid-{i}", employeeID=f"E{i}", title="Old")
    reports = {r["system"]: r for r in cloud.sync()}
    assert reports["entra"]["full"] and reports["entra"]["read"] == 31  # 30 users and the group
    assert all(cloud["ad"].accounts[f"guid-{i}"]["attrs"]["title"] == "Agent" for i in range(30))
    assert cloud.store.get_cursor("entra")  # the delta links, kept between invocations
    g.edit_user(ids[4], jobTitle="Lead")
    g.edit_members(group, add=[ids[25]])
    reports = {r["system"]: r for r in cloud.sync()}
    assert not reports["entra"]["full"] and reports["entra"]["read"] == 2  # the changed user and group only
    assert cloud["ad"].accounts["guid-4"]["attrs"]["title"] == "Lead"
    reports = {r["system"]: r for r in cloud.sync()}
    assert reports["entra"]["read"] == 0
