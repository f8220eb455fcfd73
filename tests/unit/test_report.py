"""`explain` and `plan` in the administrator's language (issue 12 item 7): people by name and match keys, values
as each system stores them (read now where the system can look an account up), references with the person they
point to, a decision history without events that never happened, nothing cut at 80 columns."""

from __future__ import annotations

import pytest

from peoplesync import report
from tests.unit.conftest import World, config, hire

LONG_TITLE = "Senior Principal Distinguished Engineer for Directory Services, Identity and Access, EMEA"
PHONE = "addresses[mediaType=PHONE,type=WORK]"


def explained(world: World, key: str, capsys: pytest.CaptureFixture[str]) -> str:
    bridge = world.bridge
    rid = world.store.by_link("person", "ad", key)
    info = bridge.reconciler.explain(rid)
    capsys.readouterr()
    report.explain(bridge.plan, info["state"], info["decisions"], None, report.Resolver(bridge.plan, bridge.store),
                   report.live_values(bridge, info["state"]))
    return capsys.readouterr().out


@pytest.fixture
def world() -> World:
    cfg = config()
    cfg["systems"]["cloud"] = {"connector": "memory", "provision": True}  # a create is planned, then linked
    w = World(cfg)
    hire(w, 1)
    hire(w, 2, ad={"manager": "CN=Person 1,OU=Staff,DC=corp", "title": LONG_TITLE})
    w.sync()
    return w


def test_explain_names_people_follows_references_and_shows_values_as_stored(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world["cloud"].set("u2", **{PHONE: "(317) 555-0100"})  # as the cloud stores it: not normalised
    out = explained(world, "guid-2", capsys)
    assert out.startswith("E2, p2@corp.example (person, active; record p-")
    assert "manager = E1, p1@corp.example " in out
    assert "ad.manager: CN=Person 1,OU=Staff,DC=corp -> E1, p1@corp.example" in out
    assert f"title = {LONG_TITLE} " in out and f"cloud.title: {LONG_TITLE}\n" in out  # whole, on one line
    assert f"cloud.{PHONE}: (317) 555-0100\n" in out
    assert "'" not in out and "\\\\" not in out


def test_the_history_shows_what_happened_not_a_create_that_never_was_nor_none_to_removed(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world["ad"].set("guid-1", title="R&D\\Ops")  # one backslash, shown once
    world.sync()
    world["hr"].remove("W1")
    world.sync()
    out = explained(world, "guid-1", capsys)
    assert "title = R&D\\Ops " in out and "\\\\" not in out
    history = out.split("decisions (oldest first)")[1]
    assert "cloud account u1 existed and was linked" in history
    assert "one will be created" not in out
    assert "(state): removed in hr" in history and "None" not in out
