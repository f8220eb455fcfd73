"""`peoplesync validate` as an administrator runs it: writes a system cannot take are warned about (and never
planned), `writable: true` where the connector cannot write is an error naming the path, and for a local run the
secrets (`secrets.json` beside the configuration, or PEOPLESYNC_SECRET_<NAME>) are checked: a missing secret or
key is named with its system, never with a value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peoplesync.cli import main

CONFIG = """\
systems:
  hr:     {connector: workday_raas, url: "https://127.0.0.1/ccx/People", credentials: "secret:workday"}
  badges: {connector: sql, url: "sqlite:///badges.db", table: badge_holders, key: id}
  ad:     {connector: ldap, url: "ldaps://127.0.0.1", base_dn: "dc=example,dc=org", credentials: "secret:ad"}
  phones: {connector: csv, path: phones.csv, key: id, writable: true, active_column: status}
fields:
  employee_id: {source: hr, map: {hr: Employee_ID, badges: employee_id, ad: employeeNumber, phones: employee_id}}
match: [employee_id]
policies: {removed: deactivate}
"""


def validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str = CONFIG,
             secrets: dict[str, object] | None = None) -> tuple[int, str, str]:
    path = tmp_path / "peoplesync.yaml"
    path.write_text(config)
    if secrets is not None:
        (tmp_path / "secrets.json").write_text(json.dumps(secrets))
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_writes_a_system_cannot_take_are_warned_about_and_the_configuration_is_valid(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(tmp_path, capsys)

    assert code == 0 and "valid: 4 systems" in out
    path = tmp_path / "peoplesync.yaml"
    assert err.splitlines() == [
        f"{path}: warning: systems.badges: policies.removed is deactivate, but sql cannot deactivate an account "
        "here (set active_column, with active_values and inactive_value): the accounts of people who leave stay "
        "active there",
        f"{path}: warning: systems.ad: policies.removed is deactivate, but ldap cannot deactivate an account here "
        "(set disable_attribute and disabled_value): the accounts of people who leave stay active there"]


def test_no_warning_once_each_system_can_take_what_is_asked(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = CONFIG.replace("key: id}", "key: id, active_column: active}").replace(
        'base_dn: "dc=example,dc=org"', 'base_dn: "dc=example,dc=org", disable_attribute: pwdAccountLockedTime')
    assert validate(tmp_path, capsys, config)[:3:2] == (0, "")


def test_a_provision_a_system_cannot_take_is_warned_about(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = CONFIG.replace("key: id}", "key: id, provision: true, active_column: active}")
    code, _, err = validate(tmp_path, capsys, config)
    assert code == 0 and ("systems.badges.provision: sql cannot create accounts here (set insert: true): none "
                          "will be created") in err


def test_writable_true_on_a_system_that_cannot_write_is_an_error(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = CONFIG.replace("table: badge_holders", "query: 'SELECT id, employee_id FROM badge_holders', "
                                                    "writable: true")
    code, out, err = validate(tmp_path, capsys, config)
    assert code == 1 and out == ""
    assert (f"{tmp_path / 'peoplesync.yaml'}: systems.badges.writable: sql cannot write here: name a table "
            "(a query is read-only)") in err.splitlines()


def test_a_local_secret_missing_a_key_is_named_with_its_system(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(tmp_path, capsys, secrets={
        "workday": {"client_id": "wd-client", "refresh_token": "wd-refresh-token-value"},
        "ad": {"bind_dn": "cn=peoplesync,dc=example,dc=org"}})

    path = tmp_path / "peoplesync.yaml"
    problems = [line for line in err.splitlines() if "warning" not in line]
    assert code == 1 and out == ""
    assert problems == [
        f"{path}: systems.hr.credentials: secret 'workday' (in {tmp_path / 'secrets.json'}) has no key "
        "'client_secret', which workday_raas needs",
        f"{path}: systems.ad.credentials: secret 'ad' (in {tmp_path / 'secrets.json'}) has no key 'password', "
        "which ldap needs"]
    assert "wd-refresh-token-value" not in err and "cn=peoplesync" not in err


def test_a_local_secret_missing_altogether_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = validate(tmp_path, capsys, secrets={"workday": {"username": "isu", "password": "pw"}})
    assert code == 1
    assert [line for line in err.splitlines() if "warning" not in line] == [
        f"{tmp_path / 'peoplesync.yaml'}: systems.ad.credentials: secret 'ad' not found (looked in "
        f"{tmp_path / 'secrets.json'} or $PEOPLESYNC_SECRET_AD)"]


def test_a_secret_from_the_environment_is_checked_too(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEOPLESYNC_SECRET_AD", json.dumps({"password": "from-env"}))
    code, _, err = validate(tmp_path, capsys)  # no secrets.json: only the secret the environment holds
    assert code == 1
    assert [line for line in err.splitlines() if "warning" not in line] == [
        f"{tmp_path / 'peoplesync.yaml'}: systems.ad.credentials: secret 'ad' (in $PEOPLESYNC_SECRET_AD) has no "
        "key 'bind_dn', which ldap needs"]


def test_without_local_secrets_a_deployment_configuration_is_not_asked_for_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert validate(tmp_path, capsys)[0] == 0  # secrets in Secrets Manager: not looked for here


def test_the_scim_systems_token_secret_is_checked_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = CONFIG.replace("fields:", '  idp:    {connector: scim, tokens: "secret:scim-tokens"}\nfields:')
    secrets = {"workday": {"username": "isu", "password": "pw"}, "ad": {"bind_dn": "cn=x", "password": "pw"},
               "scim-tokens": {"tokens": []}}
    code, _, err = validate(tmp_path, capsys, config, secrets)
    assert code == 1
    assert [line for line in err.splitlines() if "warning" not in line] == [
        f"{tmp_path / 'peoplesync.yaml'}: systems.idp.tokens: secret 'scim-tokens' (in "
        f"{tmp_path / 'secrets.json'}) has no key 'tokens', which scim needs"]
