"""A new manager with no account in a system yet: that system's reference to the old manager does not stand
silently. It is cleared (or replaced by the field's configured placeholder) and written once the new manager
has an account; meanwhile the record waits, and says so."""

from __future__ import annotations

from typing import Any

from peoplesync.engine.references import owed_references
from tests.unit.conftest import World, config, hire


def world(**manager: Any) -> World:
    cfg = config()
    cfg["fields"]["manager"].update(manager)
    w = World(cfg)
    hire(w, 1)  # the old manager
    hire(w, 2, ad={"manager": "CN=Person 1,OU=Staff,DC=corp"}, cloud={"manager": "u1"})
    w.sync()
    # a new manager in HR and AD only: no cloud account (the cloud does not provision)
    w["hr"].put("W3", Employee_ID="E3", Work_Email="p3@corp.example")
    w["ad"].put("guid-3", ref="CN=Person 3,OU=Staff,DC=corp", employeeID="E3", mail="p3@corp.example")
    w.sync()
    return w


def test_the_old_manager_is_cleared_while_the_new_one_has_no_account_then_the_new_one_is_written() -> None:
    w = world()
    assert w["cloud"].get("u2", "manager") == "u1"
    w["ad"].set("guid-2", manager="CN=Person 3,OU=Staff,DC=corp")
    plan = w.sync(deliver=False)
    assert [(w.store.load(rid).golden["employee_id"], system) for rid, system in w.bridge.owed()] == [("E2", "cloud")]
    assert any("cleared" in line for line in plan.decisions)
    w.sync()
    assert w["cloud"].get("u2", "manager") is None
    record = w.record_of("ad", "guid-2")
    new_manager = w.record_of("ad", "guid-3").id
    assert owed_references(record) == [("manager", "cloud", new_manager)]
    assert w.sync().total_writes == 0  # cleared once, not again and again
    w["cloud"].put("u3", **{"employerInfo.employeeId": "E3", "email": "p3@corp.example"})  # the account appears
    w.sync()
    assert w["cloud"].get("u2", "manager") == "u3"
    assert owed_references(w.record_of("ad", "guid-2")) == []
    assert w.sync().total_writes == 0


def test_a_configured_placeholder_is_written_instead_of_a_blank() -> None:
    w = world(placeholder={"cloud": "u-vacant"})
    w["ad"].set("guid-2", manager="CN=Person 3,OU=Staff,DC=corp")
    w.sync()
    assert w["cloud"].get("u2", "manager") == "u-vacant"
    assert w.sync().total_writes == 0
    w["cloud"].put("u3", **{"employerInfo.employeeId": "E3", "email": "p3@corp.example"})
    w.sync()
    assert w["cloud"].get("u2", "manager") == "u3"


def test_a_reference_to_an_account_not_linked_yet_is_not_cleared_on_a_first_sync() -> None:
    w = World(config())
    hire(w, 2, ad={"manager": "CN=Person 1,OU=Staff,DC=corp"}, cloud={"manager": "u1"})
    w["cloud"].put("u1", title="Someone not linked yet")
    w.sync()
    assert w["cloud"].get("u2", "manager") == "u1"
    assert not [x for x in w["cloud"].writes if "manager" in x.attrs]


def test_a_placeholder_needs_a_single_valued_reference_on_a_mapped_system() -> None:
    import pytest

    from peoplesync.config import ConfigError, load_config

    cfg = config()
    cfg["fields"]["title"]["placeholder"] = {"cloud": "x"}
    with pytest.raises(ConfigError) as single:
        load_config(cfg)
    assert ("fields.title.placeholder", "placeholder is for a single-valued reference field") in single.value.problems
    cfg = config()
    cfg["fields"]["manager"]["placeholder"] = {"hr": "x"}
    with pytest.raises(ConfigError) as unmapped:
        load_config(cfg)
    assert ("fields.manager.placeholder.hr", "'hr' does not map this field") in unmapped.value.problems


def test_a_new_manager_whose_account_is_created_in_the_same_run_replaces_the_old_one_without_a_blank() -> None:
    cfg = config()
    cfg["systems"]["cloud"]["provision"] = True
    w = World(cfg)
    hire(w, 1)
    hire(w, 2, ad={"manager": "CN=Person 1,OU=Staff,DC=corp"}, cloud={"manager": "u1"})
    w.sync()
    w["hr"].put("W3", Employee_ID="E3", Work_Email="p3@corp.example")  # hired today, reports moved to them
    w["ad"].put("guid-3", ref="CN=Person 3,OU=Staff,DC=corp", employeeID="E3", mail="p3@corp.example")
    w["ad"].set("guid-2", manager="CN=Person 3,OU=Staff,DC=corp")
    w.sync()
    new_id = w.record_of("ad", "guid-3").shadows["cloud"].key
    assert w["cloud"].get("u2", "manager") == new_id
    assert [x.attrs["manager"] for x in w["cloud"].writes if x.key == "u2" and "manager" in x.attrs] == [new_id]
    assert w.sync().total_writes == 0
