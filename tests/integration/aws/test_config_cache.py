"""The configuration's checked form in the state table (adapters/config_cache.py): a function's first cold start
checks the text in full and keeps its checked form; the next ones, given the same text, rebuild it without
pydantic; a changed or invalid text is checked in full, its problems named as before."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from peoplesync import bootstrap
from peoplesync.adapters import aws, config_cache
from peoplesync.adapters.dynamodb import create_table
from peoplesync.config import ConfigError
from peoplesync.config_light import LightConfig
from tests.integration.aws.aws_helpers import REGION, count_calls

CONFIG = """
systems:
  hr: {connector: csv, path: /nonexistent/hr.csv, key: Employee_ID}
  cloud: {connector: memory}
fields:
  title: {source: hr, map: {hr: Title, cloud: title}}
  email.work: {source: hr, normalize: [trim, lower], map: {hr: Mail, cloud: email}}
match: [email.work]
"""


@pytest.fixture
def function_env(moto_aws, monkeypatch) -> Any:
    for k, v in {"PEOPLESYNC_TABLE": "ps-state", "PEOPLESYNC_CONFIG_PARAMETER": "/peoplesync/config"}.items():
        monkeypatch.setenv(k, v)
    create_table(boto3.client("dynamodb", region_name=REGION), "ps-state")
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/peoplesync/config", Value=CONFIG, Type="String")
    bootstrap._current.clear()
    return ssm


def cold_start() -> Any:
    """A new execution environment: nothing cached in the process."""
    aws.reset()
    bootstrap._current.clear()
    return aws.load_plan(connector_class=bootstrap._connector_class)


def test_given_a_configuration_checked_once_then_the_next_cold_start_plans_the_same_without_pydantic(function_env):
    first = cold_start()
    again = cold_start()

    assert not isinstance(first.config, LightConfig)  # checked in full
    assert isinstance(again.config, LightConfig)  # rebuilt from the checked form
    assert again.fingerprint == first.fingerprint
    assert again.systems["cloud"].writable and not again.systems["hr"].writable
    assert again.config.systems["hr"].settings == {"path": "/nonexistent/hr.csv", "key": "Employee_ID"}


def test_given_a_new_text_then_it_is_checked_in_full_and_its_problems_named(function_env):
    cold_start()
    function_env.put_parameter(Name="/peoplesync/config", Value=CONFIG.replace("source: hr", "source: payroll"),
                               Type="String", Overwrite=True)

    with pytest.raises(ConfigError, match=r"fields\.title\.source: unknown system 'payroll'"):
        cold_start()
    with pytest.raises(ConfigError, match="unknown system 'payroll'"):  # nothing kept for an invalid text
        cold_start()


def test_given_a_changed_text_then_the_plan_follows_it(function_env):
    cold_start()
    function_env.put_parameter(Name="/peoplesync/config", Value=CONFIG.replace("Title", "JobTitle"),
                               Type="String", Overwrite=True)

    plan = cold_start()

    assert not isinstance(plan.config, LightConfig)
    assert plan.fields["person"]["title"].map["hr"] == "JobTitle"
    assert isinstance(cold_start().config, LightConfig)


def test_given_a_checked_form_then_it_is_kept_under_the_text_and_the_checking_code(function_env):
    cold_start()
    ddb = boto3.client("dynamodb", region_name=REGION)

    item = ddb.get_item(TableName="ps-state", Key={"pk": {"S": config_cache.key(CONFIG)}, "sk": {"S": "config"}})

    assert "Item" in item and int(item["Item"]["ttl"]["N"]) > 0
    assert config_cache.key(CONFIG) != config_cache.key(CONFIG + "\n")


def test_given_the_entry_cannot_be_read_then_the_function_checks_in_full(function_env, monkeypatch):
    monkeypatch.setenv("PEOPLESYNC_TABLE", "no-such-table")

    plan = cold_start()

    assert not isinstance(plan.config, LightConfig) and "hr" in plan.systems


def test_given_the_webhook_may_only_read_then_a_refused_write_costs_nothing(function_env):
    aws.reset()
    calls = count_calls(aws.client("dynamodb"))

    def refused(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutItem")

    aws.client("dynamodb").put_item = refused
    bootstrap._current.clear()
    plan = aws.load_plan(connector_class=bootstrap._connector_class)

    assert not isinstance(plan.config, LightConfig) and calls["GetItem"] == 1


SCIM = CONFIG.replace("  cloud: {connector: memory}\n", "  cloud: {connector: memory}\n  idp: {connector: scim, tokens: \"secret:ps/scim\", "
                      "max_body_bytes: 4096}\n")


def test_given_a_scim_system_then_its_settings_are_kept_checked_for_the_webhook(function_env):
    function_env.put_parameter(Name="/peoplesync/config", Value=SCIM, Type="String", Overwrite=True)
    cold_start()

    plan = cold_start()

    assert isinstance(plan.config, LightConfig)
    assert plan.config.checked_settings == {"idp": {"tokens": "secret:ps/scim", "base_path": "/scim/v2",
                                                    "max_body_bytes": 4096}}


def test_given_scim_settings_that_do_not_pass_then_the_others_run_and_the_webhook_names_the_key(function_env):
    function_env.put_parameter(Name="/peoplesync/config", Value=SCIM.replace("4096", "12"), Type="String",
                               Overwrite=True)
    cold_start()

    plan = cold_start()  # the poll, reconcile and deliver functions are not stopped by the webhook's settings

    assert isinstance(plan.config, LightConfig) and plan.config.checked_settings == {}
    with pytest.raises(ValueError, match="max_body_bytes"):
        bootstrap.scim_handler(plan, ["t0k"], None, lambda o: None)


def test_given_a_csv_system_then_its_settings_are_kept_checked_and_its_connector_built_from_them(function_env):
    cold_start()

    plan = cold_start()

    assert plan.config.connector_settings["hr"]["values"]["key"] == "Employee_ID"
    assert plan.config.connector_settings["hr"]["values"]["settle_seconds"] == 2.0  # the model's default, as checked
    assert "cloud" not in plan.config.connector_settings  # a plugin's settings: checked when it is built
    hr = bootstrap.connector_factory(plan, None)("hr")
    assert type(hr.settings).__name__ == "CheckedCsvSettings" and hr.settings.deactivated == "inactive"
