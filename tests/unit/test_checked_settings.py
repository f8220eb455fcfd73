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


@pytest.mark.parametrize("module", ["csv_file", "workday", "scim_client", "graph", "ldap", "sql", "genesys"])
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


# --- the customer's connectors: Active Directory / LDAP, SQL, Genesys Cloud (session 7) -------------------------
class CustomerSecrets:
    """Every secret the three connectors read; values no configuration holds, to find them if they leaked."""

    VALUES = {"bind_dn": "CN=svc-sync,OU=Svc,DC=corp,DC=example,DC=com", "password": "pw-3x7!leak",
              "username": "badge_reader", "client_id": "cid-9f1leak", "client_secret": "cs-4k2leak"}

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.VALUES)


AD = {"connector": "ldap", "flavor": "active_directory", "url": "ldaps://dc1.corp.example.com",
      "base_dn": "OU=Staff,DC=corp,DC=example,DC=com", "credentials": "secret:peoplesync/ad", "writable": True,
      "full_read_every": "6h", "page_size": 900, "create_container": "OU=New,OU=Staff,DC=corp,DC=example,DC=com",
      "groups": {"names": ["Sales", "Support"], "base_dn": "OU=Groups,DC=corp,DC=example,DC=com"}}
OPENLDAP = {"connector": "ldap", "flavor": "openldap", "url": "ldap://ldap.example.com:389", "start_tls": True,
            "base_dn": "ou=people,dc=example,dc=org", "user_filter": "(&(objectClass=inetOrgPerson)(o=acme))",
            "disable_attribute": "pwdAccountLockedTime", "disabled_value": "000001010000Z", "writable": True}
BADGES = {"connector": "sql", "url": "postgresql+psycopg://badge-db.internal/badges", "table": "badge_holders",
          "schema": "access", "key": "badge_holder_id", "active_column": "status", "active_values": ["A", 1, True],
          "inactive_value": "I", "credentials": "secret:peoplesync/badges", "writable": True}
CLOUD = {"connector": "genesys_cloud", "region": "mypurecloud.com", "credentials": "secret:peoplesync/genesys",
         "writable": True, "timeout": 20, "groups": {"name_prefix": "Team ", "page_size": 50}}
CUSTOMER = {"ad": AD, "openldap": OPENLDAP, "badges": BADGES, "cloud": CLOUD}


def customer(system: str, settings: dict[str, Any]) -> dict[str, Any]:
    source = config({"path": "/unused.csv", "key": "Employee_ID"})
    source["systems"]["phonebook"] = settings
    return source


def same_settings(light: Any, checked: Any) -> None:
    """The light connector's settings are the model's, field by field (nested scopes too), and so is its scope."""
    model = type(checked.settings)
    assert not isinstance(light.settings, model)
    for field in model.model_fields:
        value = getattr(checked.settings, field)
        if hasattr(value, "model_dump"):  # a nested model (groups): rebuilt with its own attributes
            assert {f: getattr(getattr(light.settings, field), f) for f in type(value).model_fields} == dict(value)
        else:
            assert getattr(light.settings, field) == value, field
    assert light.settings.model_dump(mode="json") == checked.settings.model_dump(mode="json")
    assert light._scope() == checked._scope()  # a cursor taken by one is the other's
    assert light.writable == checked.writable


@pytest.mark.parametrize("system", list(CUSTOMER))
def test_given_checked_customer_settings_then_the_connector_is_the_one_pydantic_builds(system):
    light, checked = both_ways(customer(system, CUSTOMER[system]), "phonebook", CustomerSecrets())

    assert type(light) is type(checked)
    same_settings(light, checked)


def test_given_checked_ldap_settings_then_the_derived_values_flavour_and_groups_are_the_same():
    for settings in (AD, OPENLDAP):
        light, checked = both_ways(customer("ad", settings), "phonebook", CustomerSecrets())

        assert light.settings.filter == checked.settings.filter  # the model's property, on both
        assert light.settings.full_read_seconds == checked.settings.full_read_seconds
        assert type(light.flavor) is type(checked.flavor)
        assert (light.anchor_attr, light.marker_attr) == (checked.anchor_attr, checked.marker_attr)
        assert (light.groups.enabled, light.groups.base, light.groups.filter) == \
            (checked.groups.enabled, checked.groups.base, checked.groups.filter)
        # the secret is resolved as before, from the secrets store, never from the checked form (none: anonymous)
        bind = (CustomerSecrets.VALUES["bind_dn"], CustomerSecrets.VALUES["password"]) if "credentials" in settings \
            else (None, None)
        assert (light._bind_dn, light._password) == (checked._bind_dn, checked._password) == bind
    assert light.settings.full_read_seconds == 86400 and light.groups.enabled is False  # OpenLDAP's defaults


def test_given_checked_sql_settings_then_the_url_with_its_credentials_and_the_writes_are_the_same():
    light, checked = both_ways(customer("badges", BADGES), "phonebook", CustomerSecrets())

    assert light.settings.schema_name == "access"  # the model's name for the `schema` key, as the code reads it
    assert light._url == checked._url  # host, database, user and password alike
    assert light._url.password == CustomerSecrets.VALUES["password"]  # resolved from the secret, as before
    assert light._read_columns() == checked._read_columns() and light._write_columns() == checked._write_columns()


def test_given_checked_genesys_settings_then_its_hosts_budget_and_groups_are_the_same():
    light, checked = both_ways(customer("cloud", CLOUD), "phonebook", CustomerSecrets())

    assert light.settings.urls() == checked.settings.urls() == ("https://api.mypurecloud.com",
                                                               "https://login.mypurecloud.com")
    assert light.bucket.spec == checked.bucket.spec and light.client_id == checked.client_id == "cid-9f1leak"
    assert light.groups.scope.name_prefix == "Team " and light.groups.scope.page_size == 50
    assert light.groups.scope.batch_size == checked.groups.scope.batch_size  # a default of the nested model


def test_given_the_customer_systems_then_no_secret_is_in_the_checked_form_and_only_their_own_keys():
    source = config({"path": "/unused.csv", "key": "Employee_ID"})
    source["systems"].update(CUSTOMER)
    source["fields"]["title"]["map"].update(ad="title", openldap="title", badges="title", cloud="title")
    form = checked_form(lambda_check(source))
    text = json.dumps(form)

    assert set(CUSTOMER) <= set(form["connectors"])
    assert not any(secret in text for secret in CustomerSecrets.VALUES.values())
    for name, settings in CUSTOMER.items():
        kept = form["connectors"][name]["values"]
        assert "credentials" not in kept and "writable" not in kept and "connector" not in kept
        given = {("schema_name" if k == "schema" else k): v for k, v in settings.items()
                 if k not in ("connector", "credentials", "writable")}
        assert {k: kept[k] for k in given} == {k: v for k, v in given.items() if not isinstance(v, dict)} | {
            k: {**kept[k], **v} for k, v in given.items() if isinstance(v, dict)}  # what was given, as given


BAD = [
    ("ad", {**AD, "url": "ldaps://dc1.corp.example.com/extra"}, "url", "nothing after the host"),
    ("ad", {**AD, "groups": {"filter": "(objectClass=group"}}, "groups.filter", ""),
    ("openldap", {**OPENLDAP, "start_tls": False}, "", "would send the password in clear"),
    ("badges", {**BADGES, "table": None, "query": "DELETE FROM badge_holders"}, "", "read-only SELECT"),
    ("badges", {**BADGES, "fetch_size": 0}, "fetch_size", "greater than or equal to 1"),
    ("cloud", {**CLOUD, "base_url": "http://api.example.com"}, "", "exactly one of region"),
    ("cloud", {**CLOUD, "groups": {"page_size": 10}}, "groups", "say which groups"),
]


@pytest.mark.parametrize(("system", "settings", "path", "reason"), BAD, ids=[f"{b[0]}-{b[2] or b[3]}" for b in BAD])
def test_given_customer_settings_that_do_not_pass_then_they_are_not_kept_and_the_build_names_the_path(
        system, settings, path, reason):
    from pydantic import ValidationError

    plan = deployed(customer(system, settings))  # a function's check: the configuration passes, the settings not

    assert "phonebook" not in plan.config.connector_settings and "hr" in plan.config.connector_settings
    with pytest.raises(ValidationError) as err:
        bootstrap.connector_factory(plan, CustomerSecrets())("phonebook")
    assert [".".join(map(str, e["loc"])) for e in err.value.errors()] == [path]  # the key path, as before
    assert reason in str(err.value)
    assert bootstrap.connector_factory(plan, CustomerSecrets())("hr").name == "hr"  # the others are built


def test_given_checked_customer_settings_then_building_the_connectors_imports_no_pydantic():
    source = config({"path": "/unused.csv", "key": "Employee_ID"})
    source["systems"].update(CUSTOMER)
    source["fields"]["title"]["map"].update(ad="title", openldap="title", badges="title", cloud="title")
    form = json.dumps(checked_form(lambda_check(source)))
    code = ("import json, sys\nfrom peoplesync import bootstrap\nfrom peoplesync.config import compile_config\n"
            "from peoplesync.config_light import light_config\nform = json.loads(sys.stdin.read())\n"
            "plan = compile_config(light_config(form['config'], form['settings'], form['connectors']),"
            " connector_class=bootstrap._connector_class)\n"
            "class Secrets:\n    def get(self, name): return " + repr(CustomerSecrets.VALUES) + "\n"
            "built = [type(bootstrap.connector_factory(plan, Secrets())(s)).__name__ for s in "
            + repr(list(CUSTOMER)) + "]\n"
            "print(json.dumps([built, 'pydantic' in sys.modules, 'sqlalchemy' in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], input=form, capture_output=True, text=True, check=True)

    # the PostgreSQL badge database's connector is built without SQLAlchemy too (it talks psycopg: sql/pg.py)
    assert json.loads(out.stdout) == [["LdapConnector", "LdapConnector", "SqlConnector", "GenesysConnector"], False,
                                      False]


def test_given_checked_sql_settings_then_a_read_of_a_table_and_its_cursor_are_the_same(tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / "badges.db") as db:
        db.execute("CREATE TABLE badge_holders (badge_holder_id TEXT PRIMARY KEY, email TEXT, title TEXT, status TEXT)")
        db.executemany("INSERT INTO badge_holders VALUES (?, ?, ?, ?)",
                       [("b1", "a@example.com", "Engineer", "A"), ("b2", "b@example.com", "Lead", "I")])
    badges = {"connector": "sql", "url": f"sqlite:///{tmp_path / 'badges.db'}", "table": "badge_holders",
              "key": "badge_holder_id", "active_column": "status", "active_values": ["A"], "inactive_value": "I",
              "writable": True}
    light, checked = both_ways(customer("badges", badges), "phonebook")

    first, again = light.read(), checked.read()
    assert [(o.key, o.attrs, o.active) for o in first.observations] == \
        [(o.key, o.attrs, o.active) for o in again.observations] != []
    assert first.cursor == again.cursor
    assert light.read(again.cursor).observations == [] and checked.read(first.cursor).observations == []
