"""13.4: SCIM Groups pushed by an IdP feed the same membership model: the IdP's group (members are its SCIM user
ids) reaches the matching AD group (member DNs) and cloud group (user ids) as adds and removes. The IdP's
requests go through the real webhook; AD and the cloud are in-memory systems."""

from __future__ import annotations

import json
from typing import Any

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.config import compile_config, load_config, system_attributes
from peoplesync.scim.app import build_app
from peoplesync.scim.http import ScimRequest
from peoplesync.scim.repository import MemoryScimRepository
from peoplesync_dev.memory import MemoryConnector

TOKEN = "e2e-token-groups"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
DN = "CN=Person {n},OU=Staff,DC=corp"
CONFIG: dict[str, Any] = {
    "systems": {"ad": {"connector": "memory"}, "cloud": {"connector": "memory"}, "idp": {"connector": "scim"}},
    "fields": {"email.work": {"source": "ad", "normalize": ["trim", "lower"],
                              "map": {"ad": "mail", "cloud": "email", "idp": "userName"}}},
    "match": ["email.work"],
    "policies": {"max_changes_per_run": None},
    "groups": {"source": "idp", "match": ["name"], "fields": {
        "name": {"map": {"idp": "displayName", "ad": "cn", "cloud": "name"}},
        "members": {"map": {"idp": "members", "ad": "member", "cloud": "members"}, "reference": "person",
                    "multi": True}}},
}


class World:
    def __init__(self) -> None:
        plan = compile_config(load_config(CONFIG))
        self.systems = {n: MemoryConnector(n, system_attributes(plan, n)) for n in ("ad", "cloud")}
        self.bridge = bootstrap.local(plan, store=MemoryStore(), connectors=self.systems, sleep=lambda s: None)
        self.app = build_app(MemoryScimRepository(), [TOKEN], system="idp",
                             attributes=system_attributes(plan, "idp"), on_change=self.bridge.receive)
        for n in (1, 2, 3):
            self.systems["ad"].put(f"guid-{n}", ref=DN.format(n=n), mail=f"p{n}@corp.example")
            self.systems["cloud"].put(f"u{n}", email=f"p{n}@corp.example")
        self.systems["ad"].put("G1", kind="group", ref="CN=Agents,OU=Groups,DC=corp", cn="Agents", member=())
        self.systems["cloud"].put("grp-1", kind="group", name="Agents", members=())
        self.bridge.sync()
        self.ids = {n: self.idp("POST", "/Users", {"schemas": [USER], "userName": f"p{n}@corp.example"})["id"]
                    for n in (1, 2, 3)}

    def idp(self, method: str, path: str, body: Any = None) -> Any:
        response = self.app.handle(ScimRequest(method, path, {}, {"Authorization": f"Bearer {TOKEN}"},
                                               json.dumps(body).encode() if body is not None else b""))
        assert response.status < 300, response.body
        self.bridge.deliver_owed()
        return response.body

    def ad_members(self) -> set[str]:
        return {m.lower() for m in self.systems["ad"].members("G1", "member")}


def test_an_idp_group_reaches_the_ad_group_and_the_cloud_group_and_a_removal_follows() -> None:
    w = World()
    group = w.idp("POST", "/Groups", {"schemas": [GROUP], "displayName": "Agents",
                                      "members": [{"value": w.ids[1]}, {"value": w.ids[2]}]})
    assert w.ad_members() == {DN.format(n=1).lower(), DN.format(n=2).lower()}
    assert w.systems["cloud"].members("grp-1", "members") == {"u1", "u2"}
    w.idp("PATCH", f"/Groups/{group['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f'members[value eq "{w.ids[1]}"]'},
        {"op": "add", "path": "members", "value": [{"value": w.ids[3]}]}]})
    assert w.ad_members() == {DN.format(n=2).lower(), DN.format(n=3).lower()}
    assert w.systems["cloud"].members("grp-1", "members") == {"u2", "u3"}
    deltas = [x.delta for x in w.systems["ad"].writes if x.kind == "group"]
    assert deltas[-1] == {"member": {"add": [DN.format(n=3)], "remove": [DN.format(n=1)]}}


def test_the_same_scim_group_request_sent_twice_writes_once() -> None:
    w = World()
    body = {"schemas": [GROUP], "displayName": "Agents", "members": [{"value": w.ids[1]}]}
    group = w.idp("POST", "/Groups", body)
    w.idp("PUT", f"/Groups/{group['id']}", dict(body, id=group["id"]))  # the IdP re-sends the same group
    assert len([x for x in w.systems["cloud"].writes if x.kind == "group"]) == 1
    assert w.systems["cloud"].members("grp-1", "members") == {"u1"}
