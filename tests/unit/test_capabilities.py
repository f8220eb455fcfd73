"""What a system can take (`Connector.capabilities`), in the plan and in the engine: a write a target cannot take
is never planned (it could only be dead-lettered, at every sync), and `writable` follows one rule for the plan
and the connector built for a run. Through the real connectors: tests/integration/test_capabilities_csv.py and
tests/integration/sql/test_sql_capabilities.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from peoplesync import bootstrap, connectors
from peoplesync.config import ConfigError, compile_config, load_config
from peoplesync.config_systems import READ_ONLY_CONNECTORS
from peoplesync.model import DEACTIVATE, DELETE
from peoplesync.ports import Capabilities
from tests.unit.conftest import World

SQL = {"connector": "sql", "url": "sqlite:///badges.db", "table": "badges", "key": "id"}


def plan_for(**systems: dict[str, Any]) -> Any:
    config = {"systems": {"hr": {"connector": "memory", "writable": False}, **systems},
              "fields": {"id": {"source": "hr", "map": {"hr": "id", **{s: "id" for s in systems}}}},
              "match": ["id"]}
    return bootstrap.plan_of(bootstrap.load_config(config))


@pytest.mark.parametrize("name", sorted(connectors.REGISTRY))
def test_the_plan_without_the_connectors_defaults_writable_as_each_connector_does(name: str) -> None:
    assert connectors.connector_class(name).writable_by_default is (name not in READ_ONLY_CONNECTORS)


def test_a_csv_system_is_written_only_when_the_configuration_says_writable() -> None:
    csv = {"connector": "csv", "path": "phones.csv", "key": "id", "active_column": "status"}
    plan = plan_for(phones=csv, phones_rw={**csv, "path": "rw.csv", "writable": True})
    assert not plan.systems["phones"].writable and plan.systems["phones_rw"].writable
    factory = bootstrap.connector_factory(plan, None)
    assert not factory("phones").writable and factory("phones_rw").writable  # the connector: the same rule


def test_what_each_connector_can_take_follows_its_settings() -> None:
    plan = plan_for(
        db=SQL, db_state={**SQL, "active_column": "active", "insert": True, "delete": True},
        ro={**SQL, "table": None, "query": "SELECT id FROM badges"},
        ldap={"connector": "ldap", "url": "ldaps://127.0.0.1", "base_dn": "dc=x"},
        ad={"connector": "ldap", "flavor": "active_directory", "url": "ldaps://127.0.0.1", "base_dn": "dc=x"},
        flat={"connector": "csv", "path": "flat.csv", "key": "id", "writable": True})
    s = plan.systems
    assert (s["db"].writable, s["db"].deactivate, s["db"].delete) == (True, False, False)
    assert s["db"].cannot == {"create": "set insert: true", "delete": "set delete: true",
                              "deactivate": "set active_column, with active_values and inactive_value"}
    assert (s["db_state"].deactivate, s["db_state"].delete, s["db_state"].cannot) == (True, True, {})
    assert not s["ro"].writable and "query" in s["ro"].cannot["write"]
    assert not s["ldap"].deactivate and s["ad"].deactivate
    assert s["flat"].writable and not s["flat"].deactivate


def test_writable_true_where_the_connector_cannot_write_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError) as err:
        plan_for(ro={**SQL, "table": None, "query": "SELECT id FROM badges", "writable": True},
                 hr2={"connector": "workday_raas", "url": "https://127.0.0.1/r", "writable": True})
    assert err.value.problems == [
        ("systems.ro.writable", "sql cannot write here: name a table (a query is read-only)"),
        ("systems.hr2.writable", "workday_raas cannot write here: this connector only reads")]


def test_the_connectors_are_asked_only_when_it_matters() -> None:
    asked: list[str] = []

    def connector_class(name: str) -> Any:
        asked.append(name)
        return connectors.connector_class(name)

    config = bootstrap.load_config({"systems": {"hr": {"connector": "memory", "writable": False}, "db": SQL},
                                    "fields": {"id": {"source": "hr", "map": {"hr": "id", "db": "id"}}}})
    plan = compile_config(config, connector_class)
    assert asked == []  # compiled (the SCIM webhook's cold start): no connector imported
    assert plan.systems["db"].writable and not plan.systems["db"].deactivate and asked == ["sql"]


def test_the_fingerprint_moves_when_what_a_system_can_take_moves() -> None:
    before = plan_for(db=SQL).fingerprint
    assert plan_for(db={**SQL, "active_column": "active"}).fingerprint != before  # decided again: deactivated
    assert plan_for(db=dict(SQL)).fingerprint == before
    capable = {**SQL, "active_column": "active", "insert": True, "delete": True}
    config = bootstrap.load_config({"systems": {"hr": {"connector": "memory", "writable": False}, "db": capable},
                                    "fields": {"id": {"source": "hr", "map": {"hr": "id", "db": "id"}}}})
    assert bootstrap.plan_of(config).fingerprint == compile_config(config).fingerprint  # all capable: as before


# --- the engine: no write a target cannot take -----------------------------------------------------------
CONFIG: dict[str, Any] = {
    "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"},
                "badges": {"connector": "memory"}},
    "fields": {"id": {"source": "hr", "map": {"hr": "id", "ad": "id", "badges": "id"}},
               "name": {"source": "hr", "map": {"hr": "name", "ad": "name", "badges": "name"}}},
    "match": ["id"], "lifecycle": {"source": "hr"}, "policies": {"max_changes_per_run": None},
}


class Limited(World):
    """The world, with `badges` unable to record a state (or to delete) as its connector would say."""

    def __init__(self, config: dict[str, Any], **cannot: bool) -> None:
        super().__init__(config)
        self.plan = compile_config(load_config(config))
        badges = self.plan.systems["badges"]
        badges.probe, badges._can = (lambda: Capabilities(**cannot)), None  # as its connector would say
        self.bridge = self._bridge()


def leaver_world(policy: str = "deactivate", **cannot: bool) -> Limited:
    config = copy.deepcopy(CONFIG)
    config["policies"]["removed"] = policy
    w = Limited(config, **cannot)
    for s in ("hr", "ad", "badges"):
        w[s].put(f"{s}1", id="E1", name="Ada")
        w[s].put(f"{s}2", id="E2", name="Bob")
    assert w.sync().dead_letters == 0
    return w


def test_a_leaver_is_deactivated_where_a_state_can_be_recorded_and_nowhere_else() -> None:
    w = leaver_world(deactivate=False)
    w["badges"].writes.clear()
    w["hr"].disable("hr2")

    report = w.sync()

    assert report.dead_letters == 0 and not report.errors
    assert [x.op for x in w["ad"].writes] == [DEACTIVATE] and w["ad"].accounts["ad2"]["active"] is False
    said = w.store.decisions(w.store.by_link("person", "hr", "hr2"), "(state)")[-1]["detail"]
    assert said == "deactivated in hr; badges cannot record it: left as it is there"  # what `explain` shows
    assert w["badges"].writes == [] and w["badges"].accounts["badges2"]["active"] is True
    w["badges"].set("badges2", name="Robert")  # a later edit there is still put back: only the state is left
    assert w.sync().writes["badges"] == 1 and w["badges"].get("badges2", "name") == "Bob"
    assert w.sync().total_writes == 0


def test_the_control_a_target_that_can_deactivate_gets_the_deactivation() -> None:
    w = leaver_world()
    w["hr"].disable("hr2")
    assert w.sync().writes == {"ad": 1, "badges": 1}
    assert w["badges"].accounts["badges2"]["active"] is False


def test_a_removal_toward_a_target_that_cannot_delete_deactivates_there() -> None:
    w = leaver_world("delete", delete=False)
    w["hr"].remove("hr2")

    assert w.sync(full=True).dead_letters == 0
    assert [x.op for x in w["ad"].writes if x.key == "ad2"][-1] == DELETE
    assert [x.op for x in w["badges"].writes if x.key == "badges2"] == [DEACTIVATE]

