"""The Lambda functions' plan (`bootstrap.aws()`, the configuration from SSM) knows what each system can take,
as the local run's does: no deactivation planned toward a table without `active_column`, no write to a CSV
that is not `writable: true`, and the connector built with the plan's `writable` (one rule in both paths)."""

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
  badges: {connector: sql, url: "sqlite:///badges.db", table: badge_holders, key: id}
  phones: {connector: csv, path: phones.csv, key: id, active_column: status}
fields:
  employee_id: {source: hr, map: {hr: id, badges: employee_id, phones: employee_id}}
match: [employee_id]
"""


@pytest.fixture
def function_env(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PEOPLESYNC_TABLE", "peoplesync-state")
    monkeypatch.setenv("PEOPLESYNC_CONFIG_PARAMETER", "/peoplesync/config")
    boto3.client("ssm", region_name=REGION).put_parameter(Name="/peoplesync/config", Value=CONFIG, Type="String")
    bootstrap._current.clear()
    aws._config.clear()
    yield
    bootstrap._current.clear()
    aws._config.clear()


def test_the_functions_plan_takes_what_each_system_can_take(function_env: None) -> None:
    rt = bootstrap.aws()
    local = bootstrap.plan_of(bootstrap.load_config(CONFIG))

    badges, phones = rt.plan.systems["badges"], rt.plan.systems["phones"]
    assert badges.writable and not badges.deactivate and not badges.provision
    assert not phones.writable and rt.connector("phones").writable is False
    assert rt.plan.fingerprint == local.fingerprint  # the same plan as the local run's
    assert bootstrap.aws() is rt  # compiled once per configuration version
