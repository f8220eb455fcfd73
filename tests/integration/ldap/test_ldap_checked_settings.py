"""An LDAP connector built from its settings as checked when the configuration was (what a Lambda function's cold
start runs on, connectors/checked_settings.py) reads and writes a real OpenLDAP directory as the one pydantic's check
builds: the same accounts and groups, the same cursor (each takes the other's), a write one makes seen by the other
(tests/unit/test_checked_settings.py holds the settings themselves to the same values)."""

from __future__ import annotations

import json
from typing import Any

from peoplesync import bootstrap
from peoplesync.adapters.aws import checked_form
from peoplesync.config import compile_config
from peoplesync.config import load_config as lambda_check
from peoplesync.config_light import light_config
from peoplesync.model import UPDATE, Write
from tests.integration.ldap.test_ldap_groups import add_group


def both_ways(source: dict[str, Any], system: str, secrets: Any) -> tuple[Any, Any]:
    form = json.loads(json.dumps(checked_form(lambda_check(source))))
    assert system in form["connectors"]
    plan = compile_config(light_config(form["config"], form["settings"], form["connectors"]),
                          connector_class=bootstrap._connector_class)
    light = bootstrap.connector_factory(plan, secrets)(system)
    checked = bootstrap.connector_factory(bootstrap.plan_of(bootstrap.load_config(source)), secrets)(system)
    return light, checked


def test_given_checked_openldap_settings_then_reads_cursors_and_writes_are_the_same(
        slapd, ol_console, ol_ou, ol_secrets) -> None:
    alice = ol_console.add_user(ol_ou, "Alice", mail="alice@corp.example", title="Engineer", employeeNumber="E1")
    ol_console.add_user(ol_ou, "Bob", mail="bob@corp.example", title="Lead", employeeNumber="E2")
    add_group(ol_console, ol_ou, "Agents", [alice])
    source = {"systems": {"hr": {"connector": "csv", "path": "/unused.csv", "key": "Employee_ID"},
                          "dir": {"connector": "ldap", "credentials": "secret:peoplesync/ol", "url": slapd.ldaps_url,
                                  "flavor": "openldap", "base_dn": ol_ou, "ca_file": slapd.ca_file,
                                  "writable": True, "full_read_every": "1h", "groups": {"names": ["Agents"]}}},
              "fields": {"employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "dir": "employeeNumber"}},
                         "email.work": {"source": "hr", "map": {"hr": "Mail", "dir": "mail"}},
                         "title": {"source": "hr", "map": {"hr": "Title", "dir": "title"}}},
              "groups": {"source": "dir", "fields": {"name": {"map": {"dir": "cn"}},
                                                     "members": {"multi": True, "map": {"dir": "member"}}}},
              "match": ["employee_id"]}
    light, checked = both_ways(source, "dir", ol_secrets)

    def seen(result: Any) -> list[tuple[str, str, Any, bool]]:
        return sorted((o.kind, o.key, sorted(o.attrs.items()), o.active) for o in result.observations)

    first, again = light.read(), checked.read()
    assert type(light.settings).__name__ == "CheckedLdapSettings"
    assert seen(first) == seen(again) and len(first.observations) == 3  # two accounts and the group in scope
    assert seen(light.read(again.cursor)) == seen(checked.read(first.cursor)) == []  # each takes the other's cursor

    key = next(o.key for o in first.observations if o.attrs.get("mail") == "alice@corp.example")
    light.write(Write(system="dir", op=UPDATE, record_id="r1", key=key, attrs={"title": "Principal"}))
    assert [o.attrs["title"] for o in checked.read(first.cursor).observations] == ["Principal"]


def test_given_a_whole_number_of_seconds_as_the_timeout_then_the_directory_is_read(make_ol, ol_console, ol_ou) -> None:
    # `timeout: 30` is checked into 30.0 (a float field), as the checked form keeps every default (60.0); ldap3 packs
    # the receive timeout as an integer (SO_RCVTIMEO) and refused a float: every read failed
    ol_console.add_user(ol_ou, "Carol", mail="carol@corp.example")
    for timeout in (30, 2.5):
        assert [o.attrs["mail"] for o in make_ol(["mail"], timeout=timeout).read().observations] == ["carol@corp.example"]
