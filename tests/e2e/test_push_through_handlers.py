"""SPEC 7 and 8 with no poll in between, in the deployed shape: the SCIM webhook function (Entra's and Okta's
requests from events/) -> the reconcile function -> the deliver function, moto DynamoDB, SQS and Secrets
Manager, and the real Genesys Cloud connector talking HTTP to the stand-in on 127.0.0.1. A cloud-side edit of
an IdP-sourced field is overwritten by the IdP's next sync; a user who exists in the cloud before the bridge
knew her is linked, not dead-lettered; faults: the same re-assert delivered twice, a crash between the link and
the write, a 429 on the re-read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from peoplesync.adapters.scim_dynamodb import DynamoScimRepository
from peoplesync.adapters.secretsmanager import SecretsManagerSecrets
from peoplesync.connectors.genesys import GenesysConnector, Settings
from peoplesync.connectors.genesys_api import reset_caches
from peoplesync_dev.standins.genesys import GenesysStandin, start_standin
from tests.e2e.conftest import REGION, Cloud, Context, load_function

ROOT = Path(__file__).resolve().parents[2]
EXT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DEPT = f"{EXT}:department"
TOKEN = "REDACTED-TEST-TOKEN"  # what the sample events carry
CLIENT = ("peoplesync-bridge", "bridge-secret")


def config(base_url: str) -> dict[str, Any]:
    return {
        "systems": {"idp": {"connector": "scim", "tokens": "secret:peoplesync/scim"}, "ad": {"connector": "memory"},
                    "cloud": {"connector": "genesys_cloud", "base_url": base_url, "credentials": "secret:genesys",
                              "provision": True}},
        "fields": {
            "email.work": {"source": "idp", "normalize": ["trim", "lower"],
                           "map": {"idp": 'emails[type eq "work"].value', "cloud": "email", "ad": "mail"}},
            "name": {"source": "idp", "map": {"idp": "displayName", "cloud": "name"}},
            "department": {"source": "idp", "map": {"idp": DEPT, "cloud": "department", "ad": "department"}},
            "mobile": {"source": "cloud", "map": {"cloud": "addresses[mediaType=PHONE,type=MOBILE]", "ad": "mobile"}},
        },
        "match": ["email.work"],
        "policies": {"max_changes_per_run": None},
    }


class Deployed:
    def __init__(self, cloud: Cloud, standin: GenesysStandin, webhook: Any) -> None:
        self.cloud, self.standin, self._webhook = cloud, standin, webhook

    def scim(self, name: str, body: dict[str, Any], path: str | None = None) -> tuple[int, dict[str, Any]]:
        """The IdP's request: the event from events/ with this body (and resource path), to the function."""
        evt = json.loads((ROOT / "events" / f"{name}.json").read_text())
        evt["body"] = json.dumps(body)
        evt["headers"].pop("content-length", None)
        if path is not None:
            evt["rawPath"] = evt["requestContext"]["http"]["path"] = path
        result = self._webhook(evt)
        return int(result["statusCode"]), json.loads(result["body"]) if result.get("body") else {}

    def department(self, uid: str) -> str | None:
        return self.standin.user(uid).get("department")

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.cloud.dead_letters("deliver:cloud") + self.cloud.dead_letters("deliver:ad")


def deploy(aws_env: None, **cloud_settings: Any) -> Iterator[Deployed]:
    reset_caches()
    base_url, server = start_standin(clients=dict([CLIENT]))
    cloud = Cloud(config(base_url))
    cloud.systems["cloud"] = GenesysConnector(  # type: ignore[assignment]
        "cloud", Settings(base_url=base_url, **cloud_settings), sorted(cloud.plan.systems["cloud"].attributes),
        credentials={"client_id": CLIENT[0], "client_secret": CLIENT[1]})
    cloud.runtime = cloud._runtime()
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="peoplesync/scim", SecretString=json.dumps({"tokens": [TOKEN]}))
    cloud.runtime.secrets = SecretsManagerSecrets("peoplesync/", sm)
    repo = DynamoScimRepository(cloud.store.table, cloud.ddb)
    fn = load_function("scim_webhook")
    fn._cache.clear()
    try:
        yield Deployed(cloud, server.standin,
                       lambda evt: fn.handler(evt, Context(), rt=cloud.runtime, repository=repo))
    finally:
        fn._cache.clear()
        server.stop()
        reset_caches()


@pytest.fixture
def deployed(aws_env: None) -> Iterator[Deployed]:
    yield from deploy(aws_env)


def known_agent(d: Deployed) -> str:
    uid = d.standin.add_user("Ada Lovelace", "ada@corp.example", department="Sales",
                             addresses=[{"address": "+13175550100", "mediaType": "PHONE", "type": "MOBILE"}])
    d.cloud["ad"].put("guid-1", mail="ada@corp.example", department="Sales", mobile="+13175550100")
    d.cloud.sync()
    return uid


def entra_create(department: str) -> dict[str, Any]:
    body = json.loads(json.loads((ROOT / "events" / "entra-user-create.json").read_text())["body"])
    body.update(userName="ada@corp.example", displayName="Ada Lovelace",
                emails=[{"primary": True, "type": "work", "value": "ada@corp.example"}])
    body[EXT]["department"] = department
    return body


def entra_replace(department: str) -> dict[str, Any]:
    patch = json.loads(json.loads((ROOT / "events" / "entra-user-patch-replace.json").read_text())["body"])
    for op in patch["Operations"]:
        if op.get("path") == 'emails[type eq "work"].value':
            op["value"] = "ada@corp.example"
        if op.get("path") is None:
            op["value"] = {DEPT: department, "displayName": "Ada Lovelace"}
    return patch


def okta(name: str, department: str, user_id: str | None = None) -> dict[str, Any]:
    body = json.loads(json.loads((ROOT / "events" / f"{name}.json").read_text())["body"])
    body["schemas"].append(EXT)
    body[EXT] = {"department": department}
    if user_id is not None:
        body.update(id=user_id, displayName="Test User")
    return body


def edited_then_synced(d: Deployed) -> tuple[str, str]:
    """Entra provisions Ada (Finance), an agent sets Marketing in the cloud, Entra's next PATCH arrives:
    returns (cloud user id, SCIM id) with the PATCH's messages queued, not yet handled."""
    uid = known_agent(d)
    status, user = d.scim("entra-user-create", entra_create("Finance"))
    assert status == 201, user
    d.cloud.drain()
    assert d.department(uid) == "Finance"
    d.standin.edit_user(uid, {"department": "Marketing"})  # no poll follows
    status, patched = d.scim("entra-user-patch-replace", entra_replace("Finance"), f"/scim/v2/Users/{user['id']}")
    assert status == 200, patched
    return uid, user["id"]


def test_entra_next_sync_overwrites_a_cloud_edit_with_no_poll_between_and_a_quiet_repeat_writes_nothing(
        deployed: Deployed) -> None:
    d = deployed
    uid, scim_id = edited_then_synced(d)
    d.cloud.drain()
    assert d.department(uid) == "Finance"
    mobile = [a["address"] for a in d.standin.user(uid)["addresses"] if a["type"] == "MOBILE"]
    assert mobile == ["+13175550100"] and d.cloud["ad"].get("guid-1", "mobile") == "+13175550100"  # unmapped
    patches, ad_writes = d.standin.stats["PATCH requests"], len(d.cloud["ad"].writes)
    status, _ = d.scim("entra-user-patch-replace", entra_replace("Finance"), f"/scim/v2/Users/{scim_id}")
    assert status == 200
    d.cloud.drain()
    assert (d.standin.stats["PATCH requests"], len(d.cloud["ad"].writes)) == (patches, ad_writes)
    assert d.dead_letters() == []


def test_okta_creating_a_user_the_cloud_already_has_links_her_and_its_full_put_overwrites_a_cloud_edit(
        deployed: Deployed) -> None:
    d = deployed
    uid = d.standin.add_user("Test User", "test.user@okta.local", department="Support")  # never polled
    status, user = d.scim("okta-user-create", okta("okta-user-create", "Engineering"))
    assert status == 201, user
    d.cloud.drain()
    assert d.department(uid) == "Engineering"
    assert [u["id"] for u in d.standin.users.values() if u["email"] == "test.user@okta.local"] == [uid]
    assert d.cloud.record_of("cloud", uid) is not None and d.dead_letters() == []
    d.standin.edit_user(uid, {"department": "Marketing"})
    status, _ = d.scim("okta-user-replace", okta("okta-user-replace", "Engineering", user["id"]),
                       f"/scim/v2/Users/{user['id']}")
    assert status == 200
    d.cloud.drain()
    assert d.department(uid) == "Engineering" and d.dead_letters() == []


def test_the_same_push_delivered_twice_by_sqs_writes_the_cloud_once(deployed: Deployed) -> None:
    d = deployed
    uid, _ = edited_then_synced(d)
    sqs, url = d.cloud.sqs, d.cloud.urls["reconcile"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    assert got
    for m in got:  # at-least-once: every message of the push arrives a second time
        sqs.send_message(QueueUrl=url, MessageBody=m["Body"])
    patches = d.standin.stats["PATCH requests"]
    d.cloud.drain()
    assert d.department(uid) == "Finance"
    assert d.standin.stats["PATCH requests"] == patches + 1


class Crash(BaseException):
    """The function dies here (a timeout, an out-of-memory kill): nothing of the flow catches it."""


def test_a_crash_between_linking_and_writing_is_finished_by_the_redelivery_with_one_create_and_one_write(
        deployed: Deployed) -> None:
    d = deployed
    uid = d.standin.add_user("Test User", "test.user@okta.local", department="Support")
    reconciler = d.cloud.runtime.reconciler
    deliver = reconciler.deliver
    crashed: list[str] = []

    def crash_after_link(rid: str, system: str, connector: Any) -> Any:
        state = reconciler.store.load(rid)
        if system == "cloud" and state is not None and "cloud" in state.shadows and not crashed:
            crashed.append(rid)
            raise Crash("killed after the link was saved, before the write")
        return deliver(rid, system, connector)

    reconciler.deliver = crash_after_link  # type: ignore[method-assign]
    status, _ = d.scim("okta-user-create", okta("okta-user-create", "Engineering"))
    assert status == 201
    with pytest.raises(Crash):
        d.cloud.drain()
    assert crashed and d.department(uid) == "Support"
    assert d.cloud.record_of("cloud", uid) is not None  # the link was saved
    patches = d.standin.stats["PATCH requests"]
    d.cloud.drain()  # SQS delivers the message again (its receive count says so): re-read first, then written
    assert d.department(uid) == "Engineering"
    assert d.standin.stats["PATCH requests"] == patches + 1
    assert [u["id"] for u in d.standin.users.values() if u["email"] == "test.user@okta.local"] == [uid]
    assert d.dead_letters() == []


def test_a_429_on_the_re_read_sends_the_delivery_back_with_the_delay_asked_and_then_it_applies(
        aws_env: None) -> None:
    for d in deploy(aws_env, max_retries=0):  # the 429 reaches the flow at once
        uid, _ = edited_then_synced(d)
        d.standin.fail_next(1, 429, method="GET", retry_after=1)
        d.cloud.drain(wait_delayed=True)
        assert d.standin.stats["injected 429"] == 1
        assert d.department(uid) == "Finance"
        assert d.dead_letters() == []
