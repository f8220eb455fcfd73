"""Groups are a second kind of record with a multi-valued member field (the shape SPEC 17 builds on)."""

from __future__ import annotations

from peoplesync.model import Observation
from tests.unit.conftest import World, config, hire


def group_world() -> World:
    cfg = config()
    cfg["groups"] = {"source": "ad", "match": ["name"], "fields": {
        "name": {"map": {"ad": "cn", "cloud": "name"}},
        "members": {"map": {"ad": "member", "cloud": "members"}, "reference": "person", "multi": True},
    }}
    return World(cfg)


def test_a_member_added_to_an_ad_group_reaches_the_matching_cloud_group() -> None:
    w = group_world()
    hire(w, 1)
    hire(w, 2)
    w.sync()
    b = w.bridge
    w["cloud"].put("grp-1", name="Agents", members=["u1"])  # group accounts arrive as events in this test
    b.receive(Observation("cloud", "grp-1", {"name": "Agents", "members": ["u1"]}, marker=1, kind="group"))
    b.receive(Observation("ad", "G1", {"cn": "Agents", "member": ["CN=Person 1,OU=Staff,DC=corp"]}, marker=1,
                          ref="CN=Agents,OU=Groups,DC=corp", kind="group"))
    assert b.deliver_owed().total_writes == 0  # already in agreement
    b.receive(Observation("ad", "G1", {"cn": "Agents", "member": ["CN=Person 1,OU=Staff,DC=corp",
                                                                  "cn=person 2,ou=staff,dc=corp"]},
                          marker=2, ref="CN=Agents,OU=Groups,DC=corp", kind="group"))
    report = b.deliver_owed()
    assert report.writes == {"cloud": 1}
    write = w["cloud"].writes[-1]
    assert write.kind == "group" and set(write.attrs["members"]) == {"u1", "u2"}
