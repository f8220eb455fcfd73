"""SPEC 7 and 8 with no poll in between, as an identity administrator tries them: the `peoplesync serve` webhook
(`bootstrap.scim_local` behind the dev server) and the Genesys Cloud stand-in, both on 127.0.0.1, Entra's and
Okta's request shapes from events/. The vendor's SCIM doc (seeds/002): when the IdP syncs a user, every
attribute it maps overwrites the cloud's value, whatever was edited in the cloud meanwhile; unmapped ones are
left alone."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.config import compile_config, load_config, system_attributes
from peoplesync.connectors.genesys import GenesysConnector, Settings
from peoplesync.connectors.genesys_api import reset_caches
from peoplesync.scim.devserver import serve
from peoplesync.scim.repository import MemoryScimRepository
from peoplesync.service.local import LocalBridge
from peoplesync_dev.memory import MemoryConnector
from peoplesync_dev.standins.genesys import GenesysStandin, start_standin

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "push-reassert-token-3e8a1f"
CLIENT = ("peoplesync-bridge", "bridge-secret")
EXT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DEPT = f"{EXT}:department"
MOBILE = "addresses[mediaType=PHONE,type=MOBILE]"


def config(base_url: str) -> dict[str, Any]:
    return {
        "systems": {"idp": {"connector": "scim", "tokens": "secret:scim-tokens"}, "ad": {"connector": "memory"},
                    "cloud": {"connector": "genesys_cloud", "base_url": base_url, "credentials": "secret:genesys",
                              "provision": True}},
        "fields": {
            "email.work": {"source": "idp", "normalize": ["trim", "lower"],
                           "map": {"idp": 'emails[type eq "work"].value', "cloud": "email", "ad": "mail"}},
            "name": {"source": "idp", "map": {"idp": "displayName", "cloud": "name"}},
            "department": {"source": "idp", "map": {"idp": DEPT, "cloud": "department", "ad": "department"}},
            "mobile": {"source": "cloud", "map": {"cloud": MOBILE, "ad": "mobile"}},  # not mapped for the IdP
        },
        "match": ["email.work"],
        "policies": {"max_changes_per_run": None},
    }


def body(name: str) -> dict[str, Any]:
    return json.loads(json.loads((ROOT / "events" / f"{name}.json").read_text())["body"])


def eventually(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Wait for the bridge to have done it (the webhook may deliver inside the request or after it)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not so after {timeout} s: {what}")
        time.sleep(0.02)


@dataclass
class World:
    standin: GenesysStandin
    cloud: GenesysConnector
    ad: MemoryConnector
    bridge: LocalBridge
    port: int
    background: Any = None  # `peoplesync serve`'s worker: the answer does not wait for the targets

    def scim(self, method: str, path: str, payload: Any = None) -> tuple[int, dict[str, Any]]:
        """What the IdP sends, over HTTP to the webhook on loopback."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/scim/v2{path}", method=method,
            data=json.dumps(payload).encode() if payload is not None else None,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else {}

    def department(self, uid: str) -> str | None:
        return self.standin.user(uid).get("department")

    def mobile(self, uid: str) -> str | None:
        return next((a["address"] for a in self.standin.user(uid)["addresses"] if a["type"] == "MOBILE"), None)

    def idle(self) -> None:
        if self.background is not None:
            eventually(lambda: self.background.wait_idle(1.0) and self.bridge.queues.waiting() is None,
                       "the background worker done")
        eventually(lambda: not self.bridge.owed(), "every delivery done")


def build(background: bool = False, **cloud_settings: Any) -> Iterator[World]:
    reset_caches()
    base_url, server = start_standin(clients=dict([CLIENT]))
    plan = compile_config(load_config(config(base_url)))
    cloud = GenesysConnector("cloud", Settings(base_url=base_url, **cloud_settings), system_attributes(plan, "cloud"),
                             credentials={"client_id": CLIENT[0], "client_secret": CLIENT[1]})
    ad = MemoryConnector("ad", system_attributes(plan, "ad"))
    bridge = bootstrap.local(plan, store=MemoryStore(), connectors={"cloud": cloud, "ad": ad}, sleep=lambda s: None)
    worker = bootstrap.background_for(bridge).start() if background else None
    handler, _, _ = bootstrap.scim_local(bridge, [TOKEN], MemoryScimRepository(), background=worker)
    webhook = serve(handler, port=0, block=False, quiet=True)
    try:
        yield World(server.standin, cloud, ad, bridge, int(webhook.server_address[1]), worker)
    finally:
        if worker is not None:
            worker.stop()
        webhook.shutdown()
        webhook.server_close()
        server.stop()
        reset_caches()


@pytest.fixture(params=["in the request", "in the background"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """`serve` delivering in the background (as `peoplesync serve` does), or before it answers."""
    yield from build(background=request.param == "in the background")


def known_agent(w: World) -> str:
    """Ada is in the cloud (with her own mobile) and in AD, and the bridge has polled both once."""
    uid = w.standin.add_user("Ada Lovelace", "ada@corp.example", department="Sales",
                             addresses=[{"address": "+13175550100", "mediaType": "PHONE", "type": "MOBILE"}])
    w.ad.put("guid-1", mail="ada@corp.example", department="Sales", mobile="+13175550100")
    w.bridge.sync()
    return uid


def entra_create(department: str) -> dict[str, Any]:
    created = body("entra-user-create")
    created.update(userName="ada@corp.example", displayName="Ada Lovelace",
                   emails=[{"primary": True, "type": "work", "value": "ada@corp.example"}])
    created[EXT]["department"] = department
    return created


def entra_replace(department: str) -> dict[str, Any]:
    """Entra's PATCH of a user it syncs: `Replace` of every mapped attribute, the mobile (unmapped) added."""
    patch = body("entra-user-patch-replace")
    for op in patch["Operations"]:
        if op.get("path") == 'emails[type eq "work"].value':
            op["value"] = "ada@corp.example"
        if op.get("path") is None:
            op["value"] = {DEPT: department, "displayName": "Ada Lovelace"}
    return patch


def test_given_a_cloud_edit_of_department_when_entra_next_syncs_with_no_poll_between_then_entra_wins(
        world: World) -> None:
    uid = known_agent(world)
    status, user = world.scim("POST", "/Users", entra_create("Finance"))
    assert status == 201, user
    eventually(lambda: world.department(uid) == "Finance", "the IdP's department in the cloud")
    assert world.ad.get("guid-1", "department") == "Finance"

    world.standin.edit_user(uid, {"department": "Marketing"})  # the agent edits it in the cloud; no poll follows
    status, patched = world.scim("PATCH", f"/Users/{user['id']}", entra_replace("Finance"))
    assert status == 200, patched
    eventually(lambda: world.department(uid) == "Finance", "Entra's next sync overwrote the cloud's edit")
    world.idle()
    assert world.mobile(uid) == "+13175550100"  # Entra's mobile is not mapped: it never moves
    assert world.ad.get("guid-1", "mobile") == "+13175550100"
    assert world.bridge.dead_letters() == []

    # a quiet repeat (Entra's next cycle, nothing changed anywhere): read again, nothing written
    patches, ad_writes, gets = world.standin.stats["PATCH requests"], len(world.ad.writes), \
        world.standin.stats["GET requests"]
    status, _ = world.scim("PATCH", f"/Users/{user['id']}", entra_replace("Finance"))
    assert status == 200
    eventually(lambda: world.standin.stats["GET requests"] > gets, "the cloud account read again")
    world.idle()
    assert (world.standin.stats["PATCH requests"], len(world.ad.writes)) == (patches, ad_writes)


def okta_create(department: str) -> dict[str, Any]:
    created = body("okta-user-create")
    created["schemas"].append(EXT)
    created[EXT] = {"department": department}
    return created


def okta_replace(user_id: str, department: str) -> dict[str, Any]:
    """Okta's full PUT of a user it syncs (its profile push): every attribute it keeps, all at once."""
    replaced = body("okta-user-replace")
    replaced.update(id=user_id, displayName="Test User")
    replaced["schemas"].append(EXT)
    replaced[EXT] = {"department": department}
    return replaced


def test_given_a_user_made_in_the_cloud_before_the_bridge_knew_her_when_okta_creates_her_then_linked_and_applied(
        world: World) -> None:
    uid = world.standin.add_user("Test User", "test.user@okta.local", department="Support")  # never polled
    status, user = world.scim("POST", "/Users", okta_create("Engineering"))
    assert status == 201, user
    eventually(lambda: world.department(uid) == "Engineering", "the IdP's department on the user found")
    world.idle()
    assert [u for u in world.standin.users.values() if u["email"] == "test.user@okta.local"] == \
        [world.standin.users[uid]]  # linked, not created twice
    rid = world.bridge.store.by_link("person", "cloud", uid)
    assert rid is not None and rid == world.bridge.store.by_link("person", "idp", user["id"])
    assert world.bridge.dead_letters() == []

    world.standin.edit_user(uid, {"department": "Marketing"})  # then edited in the cloud; no poll follows
    status, _ = world.scim("PUT", f"/Users/{user['id']}", okta_replace(user["id"], "Engineering"))
    assert status == 200
    eventually(lambda: world.department(uid) == "Engineering", "Okta's next full PUT overwrote the cloud's edit")
    world.idle()
    assert world.bridge.dead_letters() == []


@pytest.mark.parametrize("background", [False, True], ids=["in the request", "in the background"])
def test_given_a_429_when_the_cloud_is_read_again_then_the_delivery_waits_as_asked_and_then_applies(
        background: bool) -> None:
    wait = 1 if background else 7  # the background worker waits in real time
    for w in build(background, max_retries=0):  # the connector gives the 429 back at once: the flow's retry is what is tested
        uid = known_agent(w)
        status, user = w.scim("POST", "/Users", entra_create("Finance"))
        assert status == 201
        eventually(lambda: w.department(uid) == "Finance", "the first sync")
        w.standin.edit_user(uid, {"department": "Marketing"})
        w.standin.fail_next(1, 429, method="GET", retry_after=wait)  # the re-read is refused: over the budget
        status, _ = w.scim("PATCH", f"/Users/{user['id']}", entra_replace("Finance"))
        assert status == 200
        eventually(lambda: w.department(uid) == "Finance", "applied once the Retry-After passed")
        w.idle()
        assert w.standin.stats["injected 429"] == 1
        assert w.bridge.queues.now >= wait  # waited what the cloud asked (the local run's clock), not less
        assert w.bridge.dead_letters() == []


def test_given_the_same_re_assert_delivered_twice_then_the_cloud_is_written_once(world: World) -> None:
    from peoplesync.service import messages

    uid = known_agent(world)
    assert world.scim("POST", "/Users", entra_create("Finance"))[0] == 201
    eventually(lambda: world.department(uid) == "Finance", "the first sync")
    world.idle()
    world.standin.edit_user(uid, {"department": "Marketing"})
    rid = world.bridge.store.by_link("person", "cloud", uid)
    patches = world.standin.stats["PATCH requests"]
    twice = [messages.deliver(rid, "cloud", reassert="idp"), dict(messages.deliver(rid, "cloud", reassert="idp"),
                                                                  redelivered=True)]
    world.idle()
    for message in twice:  # SQS's at-least-once: the second copy arrives after the first was handled
        with world.background.lock if world.background is not None else contextlib.nullcontext():
            world.bridge.queues.put("deliver:cloud", message)
            world.bridge.deliver_owed()
    assert world.department(uid) == "Finance"
    assert world.standin.stats["PATCH requests"] == patches + 1


def test_given_a_failure_between_linking_and_writing_then_the_delivery_comes_back_and_writes_once(
        world: World) -> None:
    uid = world.standin.add_user("Test User", "test.user@okta.local", department="Support")
    reconciler = world.bridge.reconciler
    deliver = reconciler.deliver
    failed: list[str] = []

    def fail_after_link(rid: str, system: str, connector: Any) -> Any:
        state = reconciler.store.load(rid)
        if system == "cloud" and state is not None and "cloud" in state.shadows and not failed:
            failed.append(rid)  # linked and saved; the write not made yet
            raise RuntimeError("the store went away between the link and the write")
        return deliver(rid, system, connector)

    reconciler.deliver = fail_after_link  # type: ignore[method-assign]
    status, user = world.scim("POST", "/Users", okta_create("Engineering"))
    assert status == 201, user
    eventually(lambda: world.department(uid) == "Engineering", "written when the delivery came back")
    world.idle()
    assert failed
    assert [u["id"] for u in world.standin.users.values() if u["email"] == "test.user@okta.local"] == [uid]
    # the create refused twice (in the batch, then alone), one search by e-mail, and no third create
    assert (world.standin.stats["answered 409"], world.standin.stats["searches"]) == (2, 1)
    assert world.bridge.dead_letters() == []


def test_given_a_collision_with_no_account_to_link_then_dead_lettered_with_the_reason(world: World) -> None:
    gone = world.standin.add_user("Test User", "test.user@okta.local", state="deleted")  # the e-mail stays taken
    status, _ = world.scim("POST", "/Users", okta_create("Engineering"))
    assert status == 201
    world.idle()
    [letter] = world.bridge.dead_letters()
    assert letter["system"] == "cloud" and "already exists" in letter["reason"]
    assert "no single cloud account holds the record's match keys" in letter["reason"]
    assert world.standin.users[gone]["state"] == "deleted" and len(world.standin.users) == 1


def test_given_a_dead_letter_that_a_later_sync_made_moot_then_it_is_resolved_not_listed(world: World) -> None:
    from peoplesync.service.queues import resolved_dead_letters

    uid = known_agent(world)
    world.standin.fail_next(2, 400, method="PATCH")  # the cloud refuses the write (in the batch, then alone)
    status, _ = world.scim("POST", "/Users", entra_create("Finance"))
    assert status == 201
    world.idle()
    [letter] = world.bridge.dead_letters()
    assert (letter["system"], world.department(uid)) == ("cloud", "Sales")
    world.bridge.sync()
    assert len(world.bridge.dead_letters()) == 1  # still owed: still listed
    world.standin.edit_user(uid, {"department": "Finance"})  # an administrator puts it right by hand
    world.bridge.sync()
    assert world.bridge.dead_letters() == []
    [resolved] = resolved_dead_letters(world.bridge.store)
    assert resolved["record_id"] == letter["record_id"] and resolved["resolution"].startswith("moot")
