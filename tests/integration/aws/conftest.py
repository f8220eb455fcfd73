"""moto-backed AWS for the adapter tests: fake credentials, one region, nothing leaves the process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from peoplesync.adapters import aws
from tests.integration.aws.aws_helpers import REGION


@pytest.fixture
def moto_aws(monkeypatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("AWS_", "PEOPLESYNC_")):
            monkeypatch.delenv(name)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    aws.reset()
    with mock_aws():
        yield
    aws.reset()


@pytest.fixture
def sqs(moto_aws) -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def dynamodb(moto_aws) -> Any:
    return boto3.client("dynamodb", region_name=REGION)
