"""Secrets Manager caching, the functions' environment model, and the configuration read from SSM."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from peoplesync.adapters import aws
from peoplesync.adapters.secretsmanager import SecretsManagerSecrets
from peoplesync.config import ConfigError
from peoplesync.model import RecordState
from peoplesync.ports import PermanentError, TransientError
from tests.integration.aws.aws_helpers import REGION, count_calls


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secretsmanager(moto_aws) -> Any:
    return boto3.client("secretsmanager", region_name=REGION)


# --- secrets ----------------------------------------------------------------------------------------------
def test_given_a_secret_read_twice_then_secrets_manager_is_asked_once(secretsmanager):
    secretsmanager.create_secret(Name="peoplesync/ad", SecretString=json.dumps({"user": "svc", "password": "pw1"}))
    calls = count_calls(secretsmanager)
    secrets = SecretsManagerSecrets("peoplesync/", secretsmanager)

    first = secrets.get("secret:peoplesync/ad")
    second = secrets.get("peoplesync/ad")

    assert first == second == {"user": "svc", "password": "pw1"}
    assert calls["GetSecretValue"] == 1


def test_given_a_rotated_secret_then_it_is_seen_once_the_cache_expires(secretsmanager):
    secretsmanager.create_secret(Name="peoplesync/ad", SecretString=json.dumps({"password": "old"}))
    clock = Clock()
    secrets = SecretsManagerSecrets("peoplesync/", secretsmanager, ttl=300, clock=clock)
    secrets.get("peoplesync/ad")
    secretsmanager.put_secret_value(SecretId="peoplesync/ad", SecretString=json.dumps({"password": "new"}))

    clock.now += 299
    assert secrets.get("peoplesync/ad") == {"password": "old"}
    clock.now += 2
    assert secrets.get("peoplesync/ad") == {"password": "new"}


def test_given_a_caller_that_changes_a_secret_it_got_then_the_cache_is_unchanged(secretsmanager):
    secretsmanager.create_secret(Name="peoplesync/ad", SecretString=json.dumps({"password": "pw"}))
    secrets = SecretsManagerSecrets("peoplesync/", secretsmanager)

    secrets.get("peoplesync/ad")["password"] = "tampered"

    assert secrets.get("peoplesync/ad") == {"password": "pw"}


def test_given_a_name_outside_the_prefix_then_it_is_refused_without_asking(secretsmanager):
    secretsmanager.create_secret(Name="other/db", SecretString="{}")
    calls = count_calls(secretsmanager)

    with pytest.raises(PermanentError, match="outside the allowed prefix"):
        SecretsManagerSecrets("peoplesync/", secretsmanager).get("secret:other/db")

    assert calls["GetSecretValue"] == 0


def test_given_a_missing_secret_or_a_plain_text_one_then_the_answers_say_so(secretsmanager):
    secretsmanager.create_secret(Name="peoplesync/token", SecretString="s3cr3t-token")
    secrets = SecretsManagerSecrets("peoplesync/", secretsmanager)

    assert secrets.get("peoplesync/token") == {"value": "s3cr3t-token"}
    with pytest.raises(PermanentError, match="ResourceNotFoundException") as raised:
        secrets.get("peoplesync/missing")
    assert "s3cr3t" not in str(raised.value)


# --- the environment --------------------------------------------------------------------------------------
ENV = {
    "PEOPLESYNC_TABLE": "peoplesync-state",
    "PEOPLESYNC_CONFIG_PARAMETER": "/peoplesync/config",
    "PEOPLESYNC_CONFIG_CACHE_SECONDS": "60",
    "PEOPLESYNC_SECRET_PREFIX": "peoplesync/",
    "PEOPLESYNC_RECONCILE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/ps-reconcile",
    "PEOPLESYNC_RECONCILE_DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/ps-dlq-reconcile",
    "PEOPLESYNC_DELIVER_QUEUE_URL_PREFIX": "https://sqs.eu-west-1.amazonaws.com/123456789012/ps-deliver-",
    "PEOPLESYNC_DELIVER_DLQ_URL_PREFIX": "https://sqs.eu-west-1.amazonaws.com/123456789012/ps-dlq-deliver-",
    "PEOPLESYNC_DELIVER_TARGETS": "ad, cloud",
}


def test_given_the_template_environment_then_queue_urls_follow_the_naming():
    s = aws.AwsSettings.from_env(ENV)

    assert s.deliver_targets == ("ad", "cloud")
    assert s.queue_url("deliver:cloud") == "https://sqs.eu-west-1.amazonaws.com/123456789012/ps-deliver-cloud"
    assert s.queue_url("deliver:ad", dlq=True).endswith("/ps-dlq-deliver-ad")
    assert s.queue_url("reconcile").endswith("/ps-reconcile")
    assert s.queue_url("reconcile", dlq=True).endswith("/ps-dlq-reconcile")
    assert s.decision_ttl_days == 90 and s.config_cache_seconds == 60


def test_given_a_target_without_a_delivery_queue_then_the_error_says_which_parameter_to_change():
    s = aws.AwsSettings.from_env(ENV)

    with pytest.raises(aws.SettingsError, match="DeliverTargets"):
        s.queue_url("deliver:badges")
    with pytest.raises(aws.SettingsError, match="unknown queue"):
        s.queue_url("reconcile-later")


def test_given_a_broken_environment_then_every_bad_variable_is_named():
    env = {k: v for k, v in ENV.items() if k != "PEOPLESYNC_TABLE"}
    env["PEOPLESYNC_RECONCILE_QUEUE_URL"] = "ps-reconcile"
    env["PEOPLESYNC_DECISION_TTL_DAYS"] = "0"

    with pytest.raises(aws.SettingsError) as raised:
        aws.AwsSettings.from_env(env)

    message = str(raised.value)
    assert "PEOPLESYNC_TABLE" in message
    assert "PEOPLESYNC_RECONCILE_QUEUE_URL" in message
    assert "PEOPLESYNC_DECISION_TTL_DAYS" in message


# --- the factories and the configuration, as a function would use them --------------------------------------
CONFIG = """
systems:
  hr: {connector: memory, writable: false}
  cloud: {connector: memory}
fields:
  title: {source: hr, map: {hr: Title, cloud: title}}
match: []
"""


@pytest.fixture
def function_env(moto_aws, monkeypatch) -> Any:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/peoplesync/config", Value=CONFIG, Type="String")
    return ssm


def test_given_a_warm_function_then_the_configuration_is_read_once_until_the_cache_expires(function_env):
    clock = Clock()
    calls = count_calls(aws.client("ssm"))

    first = aws.load_config(clock=clock)
    clock.now += 59
    again = aws.load_config(clock=clock)

    assert first is again
    assert calls["GetParameter"] == 1
    assert set(first.systems) == {"hr", "cloud"}
    assert aws.load_plan(clock=clock).systems["cloud"].writable


def test_given_an_unchanged_parameter_after_the_cache_expires_then_it_is_not_parsed_again(function_env):
    clock = Clock()
    first = aws.load_config(clock=clock)
    clock.now += 61

    assert aws.load_config(clock=clock) is first


def test_given_a_new_parameter_version_then_the_next_read_after_expiry_uses_it(function_env):
    clock = Clock()
    aws.load_config(clock=clock)
    function_env.put_parameter(Name="/peoplesync/config", Value=CONFIG.replace("Title", "JobTitle"),
                               Type="String", Overwrite=True)

    assert aws.load_config(clock=clock).fields["title"].map["hr"] == "Title"  # still cached
    clock.now += 61
    assert aws.load_config(clock=clock).fields["title"].map["hr"] == "JobTitle"


def test_given_ssm_unreachable_then_a_cached_configuration_is_kept_and_without_one_the_error_is_transient(
        function_env):
    clock = Clock()
    cached = aws.load_config(clock=clock)
    function_env.delete_parameter(Name="/peoplesync/config")
    clock.now += 61

    assert aws.load_config(clock=clock) is cached
    aws.reset()
    with pytest.raises(TransientError, match="/peoplesync/config"):
        aws.load_config(clock=clock)


def test_given_an_invalid_configuration_in_the_parameter_then_the_problems_are_reported(function_env):
    function_env.put_parameter(Name="/peoplesync/config", Value="systems: [unclosed", Type="String",
                               Overwrite=True)
    with pytest.raises(ConfigError, match="not valid YAML"):
        aws.load_config()

    function_env.put_parameter(Name="/peoplesync/config", Value=CONFIG.replace("source: hr", "source: payroll"),
                               Type="String", Overwrite=True)
    aws.reset()
    with pytest.raises(ConfigError, match="unknown system 'payroll'"):
        aws.load_config()


def test_given_the_function_environment_then_the_factories_build_working_adapters(function_env, dynamodb):
    from peoplesync.adapters.dynamodb import create_table

    create_table(dynamodb, "peoplesync-state")
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.create_queue(QueueName="ps-deliver-cloud")
    secretsmanager = boto3.client("secretsmanager", region_name=REGION)
    secretsmanager.create_secret(Name="peoplesync/cloud", SecretString='{"client_id": "abc"}')

    store = aws.make_store()
    store.save(RecordState(id="p1", golden={"title": "Engineer"}))
    aws.make_queue("deliver:cloud").send([{"op": "update", "record_id": "p1"}])

    assert aws.make_store().load("p1").golden == {"title": "Engineer"}
    assert aws.make_secrets() is aws.make_secrets()
    assert aws.make_secrets().get("secret:peoplesync/cloud") == {"client_id": "abc"}
    got = sqs.receive_message(QueueUrl=aws.settings().queue_url("deliver:cloud"))["Messages"]
    assert json.loads(got[0]["Body"]) == {"op": "update", "record_id": "p1"}
