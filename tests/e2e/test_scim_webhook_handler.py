"""SPEC 7-9 through the deployed shape: the SCIM webhook Lambda (API Gateway v2 events from events/, as
Entra ID sends them) -> reconcile queue -> reconcile -> delivery, with moto DynamoDB, SQS and Secrets Manager."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from peoplesync.adapters.scim_dynamodb import DynamoScimRepository
from peoplesync.adapters.secretsmanager import SecretsManagerSecrets
from tests.e2e.conftest import REGION, Cloud, Context, event, load_function
from tests.unit.conftest import config, hire

DEPT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
EXT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TOKEN = "REDACTED-TEST-TOKEN"  # what the sample events carry


@pytest.fixture
def idp(aws_env: None) -> tuple[Cloud, Any]:
    cfg = config()
    cfg["systems"]["idp"] = {"connector": "scim", "tokens": "secret:peoplesync/scim"}
    cfg["fields"]["department"] = {"source": "idp", "map": {"idp": DEPT, "ad": "department", "cloud": "department"}}
    cfg["fields"]["email.work"]["map"]["idp"] = "userName"
    cfg["lifecycle"] = {"source": "hr"}
    cloud = Cloud(cfg)
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="peoplesync/scim", SecretString=json.dumps({"tokens": ["old-token", TOKEN]}))
    cloud.runtime.secrets = SecretsManagerSecrets("peoplesync/", sm)
    repo = DynamoScimRepository(cloud.store.table, cloud.ddb)
    fn = load_function("scim_webhook")
    fn._cache.clear()

    def call(evt: dict[str, Any]) -> dict[str, Any]:
        return fn.handler(evt, Context(), rt=cloud.runtime, repository=repo)

    return cloud, call


def user_event(user_name: str, department: str, method: str = "POST", path: str = "/scim/v2/Users",
               token: str = TOKEN) -> dict[str, Any]:
    evt = event("entra-user-create.json")
    body = json.loads(evt["body"])
    body["userName"] = user_name
    body.setdefault(EXT, {})["department"] = department
    evt["body"] = json.dumps(body)
    evt["headers"]["authorization"] = f"Bearer {token}"
    evt["requestContext"]["http"]["method"] = method
    evt["rawPath"] = evt["requestContext"]["http"]["path"] = path
    evt["headers"].pop("content-length", None)
    return evt


def test_07_08_the_idp_department_overwrites_the_cloud_and_a_cloud_edit_stands_until_the_next_push(idp) -> None:
    cloud, call = idp
    hire(cloud)
    cloud.sync()
    created = call(user_event("p1@corp.example", "Finance"))
    assert created["statusCode"] == 201, created
    user = json.loads(created["body"])
    cloud.drain()
    assert cloud["cloud"].get("u1", "department") == "Finance"
    assert cloud["ad"].get("guid-1", "department") == "Finance"
    got = call(dict(user_event("p1@corp.example", "Finance", method="GET", path=f"/scim/v2/Users/{user['id']}"),
                    body=None))
    assert got["statusCode"] == 200 and json.loads(got["body"])[EXT]["department"] == "Finance"
    cloud["cloud"].set("u1", department="Sales")
    cloud.sync()
    assert cloud["cloud"].get("u1", "department") == "Sales"  # stands: the IdP has not synced since
    replaced = call(user_event("p1@corp.example", "Finance", method="PUT", path=f"/scim/v2/Users/{user['id']}"))
    assert replaced["statusCode"] == 200, replaced
    cloud.drain()
    assert cloud["cloud"].get("u1", "department") == "Finance"


def test_09_an_unmapped_attribute_from_the_idp_writes_nothing(idp) -> None:
    cloud, call = idp
    hire(cloud)
    cloud.sync()
    before = cloud.writes()
    evt = user_event("p1@corp.example", "")
    body = json.loads(evt["body"])
    body[EXT].pop("department", None)
    body["phoneNumbers"] = [{"type": "mobile", "value": "+15550001"}]
    evt["body"] = json.dumps(body)
    assert call(evt)["statusCode"] == 201
    cloud.drain()
    assert cloud.writes() == before


def test_a_request_without_a_valid_token_is_refused_and_queues_nothing(idp) -> None:
    cloud, call = idp
    answer = call(user_event("p1@corp.example", "Finance", token="wrong"))
    assert answer["statusCode"] == 401
    assert "Bearer" in {k.lower(): v for k, v in answer["headers"].items()}["www-authenticate"]
    got = cloud.sqs.receive_message(QueueUrl=cloud.urls["reconcile"], WaitTimeSeconds=0)
    assert not got.get("Messages")
