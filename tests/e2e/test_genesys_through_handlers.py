"""The cloud connector in the deployed shape: the real Genesys Cloud connector (HTTP to the local stand-in on
127.0.0.1) as the target of the deliver function, with moto DynamoDB/SQS and the real handlers."""

from __future__ import annotations

from typing import Any

import pytest

from peoplesync.adapters.local_secrets import LocalSecrets
from peoplesync.connectors import genesys
from peoplesync_dev.standins.genesys import start_standin
from tests.e2e.conftest import Cloud


def config(base_url: str) -> dict[str, Any]:
    return {
        "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"},
                    "cloud": {"connector": "genesys_cloud", "base_url": base_url, "credentials": "secret:genesys"}},
        "fields": {
            "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID",
                                                     "cloud": "employerInfo.employeeId"}},
            "email.work": {"source": "hr", "normalize": ["trim", "lower"],
                           "map": {"hr": "Work_Email", "ad": "mail", "cloud": "email"}},
            "title": {"source": "ad", "map": {"ad": "title", "cloud": "title"}},
        },
        "match": ["employee_id", "email.work"],
        "lifecycle": {"source": "hr"},
        "policies": {"max_changes_per_run": None},
    }


@pytest.fixture
def genesys_cloud(aws_env: None) -> Any:
    base_url, server = start_standin(budget_per_minute=1000)
    try:
        yield base_url, server.standin
    finally:
        server.stop()


def test_ad_titles_reach_genesys_cloud_through_the_deliver_function_and_a_quiet_sync_sends_nothing(
        genesys_cloud: Any) -> None:
    base_url, standin = genesys_cloud
    uid = standin.add_user("Ada Lovelace", "ada@corp.example", title="Countess",
                           employerInfo={"employeeId": "E1"})
    cloud = Cloud(config(base_url))
    secrets = LocalSecrets(environ={"PEOPLESYNC_SECRET_GENESYS": '{"client_id": "peoplesync", '
                                                                 '"client_secret": "peoplesync-secret"}'})
    cloud.systems["cloud"] = genesys.GenesysConnector.from_system("cloud", cloud.plan.config.systems["cloud"],
                                                                  sorted(cloud.plan.systems["cloud"].attributes),
                                                                  secrets=secrets)
    cloud.runtime = cloud._runtime()
    cloud["hr"].put("W1", Employee_ID="E1", Work_Email="ada@corp.example")
    cloud["ad"].put("guid-1", employeeID="E1", mail="ada@corp.example", title="Chief Scientist")
    cloud.sync()
    assert standin.user(uid)["title"] == "Chief Scientist"
    patches = standin.stats["PATCH requests"]
    assert patches >= 1
    cloud.sync()
    assert standin.stats["PATCH requests"] == patches  # nothing changed: no write request to the cloud
    standin.edit_user(uid, {"title": "Self-promoted"})  # an agent edits an AD-sourced field
    cloud.sync()
    assert standin.user(uid)["title"] == "Chief Scientist"  # the next sync puts AD's value back (SPEC 2)
