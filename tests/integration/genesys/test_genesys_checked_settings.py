"""A Genesys Cloud connector built from its settings as checked when the configuration was (what a Lambda function's
cold start runs on, connectors/checked_settings.py) reads the stand-in as the one pydantic's check builds: the same
users and groups, through the same hosts and request budget (tests/unit/test_checked_settings.py holds the settings
themselves to the same values)."""

from __future__ import annotations

import json
from typing import Any

from peoplesync import bootstrap
from peoplesync.adapters.aws import checked_form
from peoplesync.config import compile_config
from peoplesync.config import load_config as lambda_check
from peoplesync.config_light import light_config
from peoplesync_dev.standins.genesys_groups import add_group

from .conftest import CLIENT_ID, CLIENT_SECRET, Cloud


class Secrets:
    def get(self, name: str) -> dict[str, Any]:
        return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def test_given_checked_genesys_settings_then_the_stand_in_reads_the_same_users_and_groups(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in (1, 2, 3)]
    add_group(cloud.standin, "Team Blue", members=ids[:2])
    source = {"systems": {"hr": {"connector": "csv", "path": "/unused.csv", "key": "Employee_ID"},
                          "cloud": {"connector": "genesys_cloud", "base_url": cloud.base_url, "credentials": "secret:g",
                                    "page_size": 2, "groups": {"name_prefix": "Team "}}},
              "fields": {"email.work": {"source": "hr", "map": {"hr": "Mail", "cloud": "email"}},
                         "title": {"source": "hr", "map": {"hr": "Title", "cloud": "title"}},
                         "employee_id": {"source": "hr", "map": {"hr": "Employee_ID",
                                                                 "cloud": "employerInfo.employeeId"}}},
              "groups": {"source": "cloud", "fields": {"name": {"map": {"cloud": "name"}},
                                                       "members": {"multi": True, "map": {"cloud": "members"}}}},
              "match": ["employee_id"]}
    form = json.loads(json.dumps(checked_form(lambda_check(source))))
    assert "cloud" in form["connectors"]
    light = bootstrap.connector_factory(compile_config(light_config(form["config"], form["settings"], form["connectors"]),
                                                       connector_class=bootstrap._connector_class), Secrets())("cloud")
    checked = bootstrap.connector_factory(bootstrap.plan_of(bootstrap.load_config(source)), Secrets())("cloud")

    def seen(connector: Any) -> list[tuple[str, str, Any, bool]]:
        return sorted((o.kind, o.key, sorted(o.attrs.items()), o.active) for o in connector.read().observations)

    assert type(light.settings).__name__ == "CheckedGenesysSettings"
    assert seen(light) == seen(checked)
    assert [o for o in seen(light) if o[0] == "group"] != []  # the group scope, rebuilt, selects the team
