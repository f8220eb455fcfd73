"""A connector built from its settings as checked when the configuration was (connectors/checked_settings.py, what a
Lambda function's cold start runs on) is the connector pydantic's check builds: same settings, same properties,
same cursor scope, same reads; and it needs no pydantic. Settings that do not pass are never kept: the connector
then fails naming the key and the reason, as before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters import config_cache
from peoplesync.adapters.aws import checked_form
from peoplesync.config import compile_config
from peoplesync.config import load_config as lambda_check  # what a function checks: no connector settings
from peoplesync.config_light import light_config
from peoplesync.connectors.checked_settings import checked_settings, plain
from peoplesync.connectors.csv_file import CsvConnector, Settings

ROOT = Path(__file__).resolve().parents[2]
HR = "Employee_ID,Mail,Title,Status\ne1,a@example.com,Engineer,active\ne2,b@example.com,Lead,terminated\n"


def config(hr: dict[str, Any]) -> dict[str, Any]:
    return {"systems": {"hr": {"connector": "csv", **hr},
                        "phonebook": {"connector": "csv", "path": "/nonexistent/pb.csv", "key": "id",
                                      "writable": True}},
            "fields": {"email.work": {"source": "hr", "map": {"hr": "Mail", "phonebook": "email"}},
                       "title": {"source": "hr", "map": {"hr": "Title", "phonebook": "title"}}},
            "match": ["email.work"]}


def deployed(source: dict[str, Any]) -> Any:
    """The plan a function runs on once the configuration was checked (its form through JSON, as stored)."""
    form = json.loads(json.dumps(checked_form(lambda_check(source))))
    return compile_config(light_config(form["config"], form["settings"], form["connectors"]),
                          connector_class=bootstrap._connector_class)


def both_ways(source: dict[str, Any], system: str, secrets: Any = None) -> tuple[Any, Any]:
    """(the connector a function builds from the checked form, the one pydantic's full check builds)."""
    light = bootstrap.connector_factory(deployed(source), secrets)(system)
    checked = bootstrap.connector_factory(compile_config(bootstrap.load_config(source),
                                                         connector_class=bootstrap._connector_class), secrets)(system)
    return light, checked


SETTINGS = {
    "defaults": {},
    "states": {"active_column": "Status", "inactive_values": ["Terminated", "Leave"], "inactive_value": "Leave",
               "active_value": "Active"},
    "export": {"delimiter": ";", "encoding": "latin-1", "trailer": r"^TOTAL (?P<count>\d+)$",
               "require_final_newline": False, "settle_seconds": 0, "neutralise_formulas": False},
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_given_checked_settings_then_the_connector_is_the_one_pydantic_builds(name, tmp_path):
    source = config({"path": str(tmp_path / "hr.csv"), "key": "Employee_ID", **SETTINGS[name]})
    light, checked = both_ways(source, "hr")

    assert not isinstance(light.settings, Settings) and isinstance(checked.settings, Settings)
    assert {k: getattr(light.settings, k) for k in Settings.model_fields} == dict(checked.settings)
    assert light.settings.deactivated == checked.settings.deactivated  # the model's property, on both
    assert light.settings.model_dump(mode="json") == checked.settings.model_dump(mode="json")
    assert light._scope() == checked._scope()  # a cursor taken by one is the other's
    assert light.writable == checked.writable


def test_given_checked_settings_then_a_read_and_its_cursor_are_the_same(tmp_path):
    (tmp_path / "hr.csv").write_text(HR)
    source = config({"path": str(tmp_path / "hr.csv"), "key": "Employee_ID", "active_column": "Status",
                     "settle_seconds": 0})
    light = bootstrap.connector_factory(deployed(source), None)("hr")
    checked = CsvConnector.from_system("hr", bootstrap.load_config(source).systems["hr"], ["Mail", "Title"])

    first, again = light.read(), checked.read()
    assert [(o.key, o.attrs, o.active) for o in first.observations] == \
        [(o.key, o.attrs, o.active) for o in again.observations]
    assert first.cursor == again.cursor
    assert light.read(again.cursor).observations == []  # the other's cursor is taken: nothing changed


def test_given_settings_that_do_not_pass_then_they_are_not_kept_and_the_connector_names_the_key(tmp_path):
    source = config({"path": str(tmp_path / "hr.csv"), "key": "Employee_ID", "inactive_values": ["gone"],
                     "inactive_value": "left"})
    plan = deployed(source)  # a function's check: the configuration passes, the connector's settings do not

    assert "hr" not in plan.config.connector_settings and "phonebook" in plan.config.connector_settings
    with pytest.raises(ValueError, match="inactive_value 'left' is not among inactive_values"):
        bootstrap.connector_factory(plan, None)("hr")
    assert bootstrap.connector_factory(plan, None)("phonebook").name == "phonebook"  # the others are built


def test_given_values_json_would_change_then_the_form_is_not_kept_and_a_nested_model_is_rebuilt():
    from pydantic import BaseModel

    class Pairs(BaseModel):
        pair: tuple[int, int] = (1, 2)

    class Inner(BaseModel):
        a: int = 1

    class Deeper(BaseModel):
        pairs: Pairs = Pairs()

    class Nested(BaseModel):
        inner: Inner | None = Inner()

    class Twice(BaseModel):
        deeper: Deeper = Deeper()

    class Plain(BaseModel):
        names: list[str] = ["x"]
        limit: float = 2.0

    assert plain(Pairs()) is None and plain(Twice()) is None
    assert plain(Plain()) == {"values": {"names": ["x"], "limit": 2.0}, "models": []}
    assert plain(Nested()) == {"values": {"inner": {"a": 1}}, "models": ["inner"]}
    assert plain(Nested(inner=None)) == {"values": {"inner": None}, "models": []}
    light = checked_settings(plain(Nested()))  # type: ignore[arg-type]
    assert light.inner.a == 1 and light.model_dump() == {"inner": {"a": 1}}


def test_the_checked_form_is_keyed_by_the_connector_settings_code_too():
    assert "connectors/csv_settings.py" in config_cache.rule_files()
    assert all((ROOT / "layers" / "peoplesync" / "peoplesync" / f).is_file() for f in config_cache.rule_files())


def test_given_checked_settings_then_building_and_reading_the_connector_imports_no_pydantic(tmp_path):
    (tmp_path / "hr.csv").write_text(HR)
    source = config({"path": str(tmp_path / "hr.csv"), "key": "Employee_ID", "active_column": "Status",
                     "settle_seconds": 0})
    form = json.dumps(checked_form(lambda_check(source)))
    code = ("import json, sys\nfrom peoplesync import bootstrap\nfrom peoplesync.config import compile_config\n"
            "from peoplesync.config_light import light_config\nform = json.loads(sys.stdin.read())\n"
            "plan = compile_config(light_config(form['config'], form['settings'], form['connectors']),"
            " connector_class=bootstrap._connector_class)\n"
            "hr = bootstrap.connector_factory(plan, None)('hr')\n"
            "keys = sorted(o.key for o in hr.read().observations)\n"
            "print(json.dumps([keys, 'pydantic' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], input=form, capture_output=True, text=True, check=True)

    assert json.loads(out.stdout) == [["e1", "e2"], False]


class Secrets:
    def get(self, name: str) -> dict[str, Any]:
        return {"username": "isu", "password": "pw", "token": "t0k", "client_id": "c", "client_secret": "s"}


def test_given_checked_workday_settings_then_the_connector_is_the_one_pydantic_builds():
    from peoplesync.connectors.workday import WorkdayConnector

    source = config({"path": "/unused.csv", "key": "Employee_ID"})
    source["systems"]["hr"] = {"connector": "workday_raas", "credentials": "secret:wd",
                               "url": "https://wd.example.com/ccx/service/customreport2/acme/isu/People",
                               "prompts": {"Org": "42"}, "parts": [{"Region": "EU"}], "timezone": "Europe/Paris"}
    light, checked = both_ways(source, "hr", Secrets())

    assert isinstance(light, WorkdayConnector) and not isinstance(light.settings, type(checked.settings))
    assert {k: getattr(light.settings, k) for k in type(checked.settings).model_fields} == dict(checked.settings)
    assert light._scope() == checked._scope()


def test_given_checked_scim_client_settings_then_the_connector_is_the_one_pydantic_builds():
    from peoplesync.connectors.scim_client import ScimClientConnector

    source = config({"path": "/unused.csv", "key": "Employee_ID"})
    source["systems"]["phonebook"] = {"connector": "scim_client", "credentials": "secret:sc", "writable": True,
                                      "base_url": "https://scim.example.com/scim/v2/", "page_size": 50}
    light, checked = both_ways(source, "phonebook", Secrets())

    assert isinstance(light, ScimClientConnector) and not isinstance(light.settings, type(checked.settings))
    assert {k: getattr(light.settings, k) for k in type(checked.settings).model_fields} == dict(checked.settings)
    assert light.settings.base_url == "https://scim.example.com/scim/v2"  # as the model's check left it
    assert light._scope() == checked._scope()


@pytest.mark.parametrize("module", ["csv_file", "workday", "scim_client", "graph"])
def test_the_connector_modules_kept_checked_import_no_pydantic(module):
    code = (f"import sys\nimport peoplesync.connectors.{module}\n"
            "print('pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"


def test_given_checked_graph_settings_with_a_group_scope_then_the_connector_is_the_one_pydantic_builds():
    from peoplesync.connectors.graph import GraphConnector

    source = config({"path": "/unused.csv", "key": "Employee_ID"})
    source["systems"]["phonebook"] = {"connector": "graph", "credentials": "secret:g", "writable": True,
                                      "tenant_id": "contoso", "graph_url": "https://graph.example.com/v1.0/",
                                      "groups": {"filter": "groupTypes/any(c:c eq 'Unified')"}}
    light, checked = both_ways(source, "phonebook", Secrets())

    assert isinstance(light, GraphConnector) and not isinstance(light.settings, type(checked.settings))
    assert light.settings.groups.filter == checked.settings.groups.filter  # the nested scope, rebuilt
    assert light.settings.groups.ids == [] and light.settings.groups.read_only is False
    assert light.settings.graph_url == "https://graph.example.com/v1.0"
    assert light._scope() == checked._scope()
