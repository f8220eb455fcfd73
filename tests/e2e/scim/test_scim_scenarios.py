"""SPEC scenarios 7, 8 and 9 end to end: the IdP's SCIM requests -> webhook -> on_change -> LocalBridge ->
writes to AD and the cloud (in-memory systems). One direction only (seeds/002)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.config import compile_config, load_config, system_attributes
from peoplesync.scim.app import build_app
from peoplesync.scim.http import ScimRequest, ScimResponse
from peoplesync.scim.repository import MemoryScimRepository
from peoplesync_dev.memory import MemoryConnector

TOKEN = "e2e-token-8c1d"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DEPT = f"{ENTERPRISE}:department"
CONFIG: dict[str, Any] = {
    "systems": {"ad": {"connector": "memory"}, "cloud": {"connector": "memory"}, "idp": {"connector": "scim", "tokens": "secret:scim-tokens"}},
    "fields": {
        "email.work": {"source": "ad", "normalize": ["trim", "lower"],
                       "map": {"ad": "mail", "cloud": "email", "idp": "userName"}},
        "department": {"source": "idp", "map": {"idp": DEPT, "ad": "department", "cloud": "department"}},
        "mobile": {"source": "cloud", "map": {"cloud": "mobile", "ad": "mobile"}},  # not mapped for idp
    },
    "match": ["email.work"],
    "policies": {"max_changes_per_run": None},
}


class World:
    """AD and the cloud as in-memory systems, the IdP behind the real webhook, the bridge in between."""

    def __init__(self, config: dict[str, Any] = CONFIG) -> None:
        plan = compile_config(load_config(config))
        self.systems = {n: MemoryConnector(n, system_attributes(plan, n)) for n in ("ad", "cloud")}
        self.bridge = bootstrap.local(plan, store=MemoryStore(), connectors=self.systems, sleep=lambda s: None)
        self.app = build_app(MemoryScimRepository(), [TOKEN], system="idp",
                             attributes=system_attributes(plan, "idp"), on_change=self.bridge.receive)
        self.systems["ad"].put("guid-1", mail="p1@corp.example", department="Sales", mobile="+13175550100")
        self.systems["cloud"].put("u1", email="p1@corp.example", department="Sales", mobile="+13175550100")
        self.bridge.sync()

    def idp(self, method: str, path: str, body: Any = None) -> ScimResponse:
        """The IdP sends a request; the webhook's accepted writes are reconciled and delivered."""
        response = self.app.handle(ScimRequest(method, path, {}, {"Authorization": f"Bearer {TOKEN}"},
                                               json.dumps(body).encode() if body is not None else b""))
        assert response.status < 300, response.body
        self.bridge.deliver_owed()
        return response

    def writes(self) -> dict[str, int]:
        return {name: len(c.writes) for name, c in self.systems.items()}

    def value(self, system: str, key: str, attr: str) -> Any:
        return self.systems[system].accounts[key]["attrs"].get(attr)


@pytest.fixture
def world() -> World:
    return World()


def provision(world: World, department: str, **extra: Any) -> str:
    return world.idp("POST", "/Users", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": "P1@corp.example", ENTERPRISE: {"department": department}, **extra}).body["id"]


def test_07_given_department_mapped_for_the_idp_when_the_idp_updates_it_then_the_cloud_and_ad_get_it(
        world: World) -> None:
    user = provision(world, "Finance")
    assert world.value("cloud", "u1", "department") == "Finance"
    assert world.value("ad", "guid-1", "department") == "Finance"
    world.idp("PATCH", f"/Users/{user}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                          "Operations": [{"op": "Replace", "path": DEPT, "value": "Legal"}]})
    assert world.value("cloud", "u1", "department") == "Legal"
    assert world.value("ad", "guid-1", "department") == "Legal"


def test_08_given_a_cloud_edit_of_department_then_it_stands_until_the_idp_next_syncs_that_user(world: World) -> None:
    user = provision(world, "Finance")
    world.systems["cloud"].set("u1", department="Marketing")
    world.bridge.sync()
    assert world.value("cloud", "u1", "department") == "Marketing"  # stands: the IdP has not synced since
    world.idp("PUT", f"/Users/{user}", {  # the IdP's next sync of the user (Okta: a full PUT, same values)
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": "P1@corp.example", ENTERPRISE: {"department": "Finance"}})
    assert world.value("cloud", "u1", "department") == "Finance"
    stored = world.app.handle(ScimRequest("GET", f"/Users/{user}", {}, {"Authorization": f"Bearer {TOKEN}"}))
    assert stored.body[ENTERPRISE]["department"] == "Finance"  # never sent to the IdP: its view is unchanged


def test_09_given_mobile_not_mapped_for_the_idp_then_neither_side_overwrites_the_other(world: World) -> None:
    user = provision(world, "Sales", phoneNumbers=[{"type": "mobile", "value": "+15550009999"}])
    before = world.writes()
    world.idp("PATCH", f"/Users/{user}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                          "Operations": [{"op": "Replace", "path": 'phoneNumbers[type eq "mobile"]'
                                                          ".value", "value": "+15550001111"}]})
    assert world.writes() == before  # the IdP's mobile is written nowhere
    assert world.value("cloud", "u1", "mobile") == "+13175550100"
    world.systems["cloud"].set("u1", mobile="+13175550123")
    world.bridge.sync()
    ad_writes = [w for w in world.systems["ad"].writes if "mobile" in w.attrs]
    assert [w.attrs["mobile"] for w in ad_writes] == ["+13175550123"]  # the cloud is mobile's own source
    stored = world.app.handle(ScimRequest("GET", f"/Users/{user}", {}, {"Authorization": f"Bearer {TOKEN}"}))
    assert stored.body["phoneNumbers"] == [{"type": "mobile", "value": "+15550001111"}]  # nothing sent back


def test_15_given_the_idp_as_lifecycle_source_when_it_deactivates_or_deletes_then_the_cloud_is_deactivated() -> None:
    world = World({**CONFIG, "lifecycle": {"source": ["ad", "idp"]}})
    user = provision(world, "Finance")
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}
    world.idp("PATCH", f"/Users/{user}", {**patch, "Operations": [{"op": "replace", "value": {"active": False}}]})
    assert world.systems["cloud"].accounts["u1"]["active"] is False  # Okta's path-less deactivation
    world.idp("PATCH", f"/Users/{user}", {**patch, "Operations": [{"op": "Replace", "path": "active",
                                                                   "value": "True"}]})  # Entra's string
    assert world.systems["cloud"].accounts["u1"]["active"] is True
    world.idp("DELETE", f"/Users/{user}")
    assert world.systems["cloud"].accounts["u1"]["active"] is False  # policies.removed: deactivate
    assert "u1" in world.systems["cloud"].accounts and world.bridge.dead_letters() == []


def test_given_peoplesync_serve_wiring_when_the_idp_posts_then_the_bridge_delivers_its_mapped_values() -> None:

    world = World()
    handler, base_path, system = bootstrap.scim_local(world.bridge, [TOKEN])
    event = {"version": "2.0", "rawPath": f"{base_path}/Users", "requestContext": {"http": {"method": "POST"}},
             "headers": {"authorization": f"Bearer {TOKEN}", "content-type": "application/scim+json"},
             "body": json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                                 "userName": "p1@corp.example", ENTERPRISE: {"department": "Finance"}})}
    result = handler(event, None)
    assert (result["statusCode"], system) == (201, "idp")
    assert world.value("cloud", "u1", "department") == "Finance"


def test_08_without_a_poll_between_the_cloud_edit_and_the_idp_sync_the_idp_still_wins(world: World) -> None:
    user = provision(world, "Finance")
    world.systems["cloud"].set("u1", department="Marketing")  # no poll follows: the shadow still says Finance
    world.systems["ad"].set("guid-1", department="Ops")
    world.idp("PUT", f"/Users/{user}", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": "P1@corp.example", ENTERPRISE: {"department": "Finance"}})
    assert world.value("cloud", "u1", "department") == "Finance"
    assert world.value("ad", "guid-1", "department") == "Finance"
    rid = world.bridge.store.by_link("person", "cloud", "u1")
    assert rid is not None
    assert any(d["rule"] == "re-asserted" and d["field"] == "department"
               for d in world.bridge.store.decisions(rid, "department"))  # `explain` says why


def test_a_plain_delivery_and_a_re_assert_of_the_same_record_in_one_batch_re_assert_once() -> None:
    from peoplesync.service import flow, messages

    world = World()
    user = provision(world, "Finance")
    world.systems["cloud"].set("u1", department="Marketing")
    rid = world.bridge.store.by_link("person", "cloud", "u1")
    assert rid is not None and world.bridge.store.by_link("person", "idp", user) == rid
    before = len(world.systems["cloud"].writes)
    outcomes = flow.deliver_messages([messages.deliver(rid, "cloud"), messages.deliver(rid, "cloud", reassert="idp")],
                                     world.bridge.reconciler, world.bridge.runtime.ports)
    assert [o.status for o in outcomes] == ["delivered", "duplicate"]  # type: ignore[union-attr]
    assert world.value("cloud", "u1", "department") == "Finance"
    assert len(world.systems["cloud"].writes) == before + 1
