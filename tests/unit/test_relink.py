"""Repairing a wrong match: `unlink` detaches an account (it is not matched again by itself), `link` attaches it
to another person, each recorded as a decision; the writes that follow go through the flow (plan shows them,
sync makes them)."""

from __future__ import annotations

import pytest

from peoplesync.service.relink import RelinkError, command
from tests.unit.conftest import World, config, hire


def wrongly_matched() -> World:
    """E1's cloud account carries E2's e-mail and no employee id: it was matched to person 2 by e-mail."""
    w = World(config())
    hire(w, 1)
    hire(w, 2)
    w["cloud"].remove("u1")
    w["cloud"].remove("u2")
    w["cloud"].put("u9", **{"email": "p2@corp.example", "title": "Title 1"})
    w.sync()
    return w


def person(w: World, eid: str) -> str:
    return w.record_of("hr", f"W{eid[1:]}").id


def test_link_moves_an_account_to_the_right_person_recorded_and_delivered_by_the_next_sync() -> None:
    w = wrongly_matched()
    assert w.record_of("cloud", "u9").id == person(w, "E2")
    said = command(w.bridge, "cloud:u9", "E1")
    assert said.startswith("cloud:u9: detached from E2, p2@corp.example; linked to E1, p1@corp.example; writes owed to cloud")
    assert w.record_of("cloud", "u9").id == person(w, "E1")
    assert "cloud" not in w.store.load(person(w, "E2")).shadows
    assert w["cloud"].get("u9", "email") == "p2@corp.example"  # nothing written yet: the next sync does it
    assert ("cloud" in {s for _, s in w.bridge.owed()})
    trail = [d for d in w.store.decisions(person(w, "E1")) if d["rule"] == "relinked"]
    assert trail and "attached by an administrator" in trail[-1]["detail"]
    assert [d for d in w.store.decisions(person(w, "E2")) if d["rule"] == "relinked"]
    w.sync()
    assert w["cloud"].get("u9", "email") == "p1@corp.example"
    assert w["cloud"].get("u9", "employerInfo.employeeId") == "E1"
    assert w.record_of("cloud", "u9").id == person(w, "E1")  # the next read does not undo it
    assert w.sync().total_writes == 0


def test_unlink_detaches_and_the_account_is_held_rather_than_matched_again() -> None:
    w = wrongly_matched()
    assert command(w.bridge, "cloud:u9", None).startswith("cloud:u9: detached from E2, p2@corp.example;")
    assert w.record_of("cloud", "u9") is None
    w["cloud"].set("u9", title="Edited")  # read again: still not matched by its e-mail
    w.sync()
    assert w.record_of("cloud", "u9") is None
    assert [r["key"] for r in w.store.reviews()] == ["u9"]
    command(w.bridge, "cloud:u9", "E1")
    w.sync()
    assert w.record_of("cloud", "u9").id == person(w, "E1")
    assert w["cloud"].get("u9", "employerInfo.employeeId") == "E1"


def test_link_refuses_a_person_who_has_an_account_there_already_and_an_account_that_does_not_exist() -> None:
    w = World(config())
    hire(w, 1)
    hire(w, 2)
    w.sync()
    with pytest.raises(RelinkError, match="already has cloud account u2"):
        command(w.bridge, "cloud:u1", "E2")
    command(w.bridge, "cloud:u2", None)
    with pytest.raises(RelinkError, match="no account 'nope'"):
        command(w.bridge, "cloud:nope", "E2")
    with pytest.raises(RelinkError, match="linked to nobody"):
        command(w.bridge, "cloud:nope", None)
    with pytest.raises(RelinkError, match="give the account as SYSTEM:KEY"):
        command(w.bridge, "nowhere:u1", None)
    with pytest.raises(RelinkError, match="no person found for 'E9'"):
        command(w.bridge, "cloud:u1", "E9")
    assert w.record_of("cloud", "u1").id == person(w, "E1")


def test_a_held_duplicate_is_linked_by_hand_after_its_twin_is_unlinked() -> None:
    w = World(config())
    hire(w, 1)
    w.sync()
    w["cloud"].put("u1-new", **{"employerInfo.employeeId": "E1", "email": "p1@corp.example"})
    w.sync()
    assert [r["key"] for r in w.store.reviews()] == ["u1-new"]
    command(w.bridge, "cloud:u1", None)
    command(w.bridge, "cloud:u1-new", "E1")
    w.sync()
    assert w.record_of("cloud", "u1-new").id == person(w, "E1")
    assert w["cloud"].get("u1-new", "title") == "Title 1"
