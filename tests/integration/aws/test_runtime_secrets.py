"""A function's Runtime built from its AWS environment asks Secrets Manager for nothing it does not need."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from peoplesync import bootstrap
from peoplesync.adapters import aws
from tests.integration.aws.aws_helpers import REGION

CONFIG = """
systems:
  hr: {connector: memory, writable: false}
  cloud: {connector: memory}
fields:
  title: {source: hr, map: {hr: Title, cloud: title}}
match: []
"""


@pytest.fixture
def function_env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PEOPLESYNC_TABLE", "peoplesync-state")
    monkeypatch.setenv("PEOPLESYNC_CONFIG_PARAMETER", "/peoplesync/config")
    monkeypatch.setenv("PEOPLESYNC_SECRET_PREFIX", "peoplesync/")
    boto3.client("ssm", region_name=REGION).put_parameter(Name="/peoplesync/config", Value=CONFIG, Type="String")
    bootstrap._current.clear()
    yield
    bootstrap._current.clear()


def test_given_no_connector_needs_a_secret_when_the_runtime_is_built_then_no_secrets_client_is_made(
        function_env: None) -> None:
    rt = bootstrap.aws()
    rt.connector("hr")

    assert set(rt.plan.systems) == {"hr", "cloud"}
    assert "secretsmanager" not in aws._clients


def test_given_a_secret_is_asked_for_then_it_is_read_from_secrets_manager(function_env: None) -> None:
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="peoplesync/cloud",
                                                                   SecretString='{"token": "t0k"}')
    rt = bootstrap.aws()
    assert rt.secrets is not None

    assert rt.secrets.get("peoplesync/cloud") == {"token": "t0k"}
    assert "secretsmanager" in aws._clients
