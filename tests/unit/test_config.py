"""The configuration: every problem reported with its path and a reason a person can act on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from peoplesync.cli import main
from peoplesync.config import ConfigError, compile_config, json_schema, load_config

SPEC_EXAMPLE = """
systems:
  ad:     {connector: memory}
  hr:     {connector: memory, writable: false}
  badges: {connector: memory}
  cloud:  {connector: memory, provision: true}
  idp:    {connector: scim, tokens: "secret:scim-tokens"}
fields:
  title:          {source: ad,     map: {ad: title, cloud: title, idp: title}}
  department:     {source: idp,    map: {idp: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", ad: department, cloud: department}}
  manager:        {source: ad,     map: {ad: manager, cloud: manager}, reference: person}
  email.work:     {source: hr,     map: {hr: Work_Email, ad: mail, cloud: email}}
  email.personal: {source: cloud,  map: {cloud: "addresses[mediaType=EMAIL,type=HOME]", ad: otherMailbox}}
  phone.work:     {source: [ad, cloud], winner: ad, normalize: e164,
                   map: {ad: telephoneNumber, cloud: "addresses[mediaType=PHONE,type=WORK]"}}
  employee_id:    {source: hr,     map: {hr: Employee_ID, ad: employeeID, cloud: employerInfo.employeeId}}
  badge_id:       {source: badges, map: {badges: badge_number, ad: extensionAttribute5}}
  hire_date:      {source: hr,     map: {hr: Hire_Date, cloud: employerInfo.dateHire}, apply: on_create}
  location:       {source: hr,     map: {hr: Work_Location, cloud: locations}, apply: if_empty}
match: [employee_id, email.work]
policies:
  unmatched: create
  ambiguous: review
  removed: deactivate
  max_changes_per_run: 10%
"""


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        load_config(text)
    return err.value.problems


def test_the_spec_example_is_valid_and_compiles() -> None:
    plan = compile_config(load_config(SPEC_EXAMPLE))
    assert plan.fields["person"]["phone.work"].sources == ("ad", "cloud")
    assert plan.systems["idp"].push and not plan.systems["idp"].writable
    assert plan.lifecycle["person"] == ("hr",)  # the source of the first match rule


@pytest.mark.parametrize(("change", "path", "reason"), [
    (("phone.work:     {source: [ad, cloud], winner: ad,", "phone.work:     {source: [ad, cloud], winner: hr,"),
     "fields.phone.work.winner", "'hr' is not among the sources"),
    (("title:          {source: ad,", "title:          {source: adx,"), "fields.title.source", "unknown system 'adx'"),
    (("badge_id:       {source: badges,", "badge_id:       {source: hr,"), "fields.badge_id.source",
     "'hr' is a source but fields.badge_id.map has no attribute for it"),
    (("badges: badge_number, ad: extensionAttribute5}", "badges: badge_number, ad: title}"),
     "fields.badge_id.map.ad", "attribute 'title' of 'ad' is already written by field 'title'"),
    (("match: [employee_id, email.work]", "match: [employee_id, manager]"), "match.1",
     "field 'manager' is a reference and cannot identify a person"),
    (("max_changes_per_run: 10%", "max_changes_per_run: ten"), "policies.max_changes_per_run",
     "a share must end with %"),
    (("normalize: e164,", "normalize: e165,"), "fields.phone.work.normalize", "unknown normaliser 'e165'"),
    (("reference: person}", "reference: person, ref_by: {ad: nickname}}"), "fields.manager.ref_by.ad",
     "unknown field 'nickname': a reference needs a field that identifies the person it names"),
    (("winner: ad,", ""), "fields.phone.work.winner", "required when a field has several sources"),
    (("apply: on_create}", "apply: sometimes}"), "fields.hire_date.apply", "Input should be"),
])
def test_each_problem_names_its_path_and_reason(change: tuple[str, str], path: str, reason: str) -> None:
    assert change[0] in SPEC_EXAMPLE
    found = problems(SPEC_EXAMPLE.replace(*change))
    assert any(p == path and reason in r for p, r in found), found


def test_every_problem_is_reported_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = SPEC_EXAMPLE.replace("winner: ad,", "winner: hr,").replace("{source: ad,     map: {ad: title",
                                                                      "{source: adx,     map: {ad: title")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "fields.phone.work.winner: 'hr' is not among the sources" in err
    assert "fields.title.source: unknown system 'adx'" in err


def test_connector_settings_are_checked_by_the_connector(tmp_path: Path) -> None:
    from peoplesync import bootstrap

    with pytest.raises(ConfigError) as err:
        bootstrap.load_config({"systems": {"hr": {"connector": "csv", "path": "x.csv", "delimeter": ";"}},
                     "fields": {"id": {"source": "hr", "map": {"hr": "ID"}}}})
    paths = [p for p, _ in err.value.problems]
    assert "systems.hr.key" in paths and "systems.hr.delimeter" in paths


def test_schema_command_prints_a_json_schema_editors_can_use(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == json.loads(json.dumps(json_schema()))
    assert {"systems", "fields", "match", "policies"} <= set(schema["properties"])


def test_the_fingerprint_changes_with_the_mapping_but_not_with_a_schedule() -> None:
    base = compile_config(load_config(SPEC_EXAMPLE)).fingerprint
    scheduled = SPEC_EXAMPLE.replace("ad:     {connector: memory}", "ad:     {connector: memory, schedule: rate(5 minutes)}")
    assert compile_config(load_config(scheduled)).fingerprint == base
    resourced = SPEC_EXAMPLE.replace("title:          {source: ad,", "title:          {source: cloud,").replace(
        "map: {ad: title, cloud: title, idp: title}", "map: {ad: title, cloud: title, idp: title}")
    assert compile_config(load_config(resourced)).fingerprint != base


def test_the_engine_imports_nothing_of_aws_or_the_protocols() -> None:
    code = ("import sys, peoplesync.engine, peoplesync.engine.correlation, peoplesync.config;"
            "print(sorted(m for m in ('boto3','botocore','ldap3','requests','sqlalchemy','scim2_models') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_yaml_error_says_where_without_quoting_the_file() -> None:
    with pytest.raises(ConfigError) as err:
        load_config("systems: {hr: {connector: csv\npassword: hunter2-do-not-print\n")
    (path, reason), = err.value.problems
    assert path == "(file)" and "line 2" in reason and "hunter2" not in reason
