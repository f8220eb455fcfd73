"""SPEC 12 with duplicates: an account whose match keys name a person already linked to another account of
the same system is held for review with both accounts named; it never becomes a person, and nothing is
created or written for it."""

from __future__ import annotations

from tests.unit.conftest import World, config, hire


def badge_world() -> World:
    cfg = config()
    cfg["systems"]["badge"] = {"connector": "memory", "writable": False}
    cfg["systems"]["cloud"]["provision"] = True
    cfg["fields"]["badge"] = {"source": "badge", "map": {"badge": "badge_no", "ad": "pager"}}
    cfg["fields"]["employee_id"]["map"]["badge"] = "employee_id"
    return World(cfg)


def test_a_second_badge_row_with_a_linked_employee_id_is_held_not_made_a_person() -> None:
    w = badge_world()
    hire(w, 1)
    w["badge"].put("row-7", employee_id="E1", badge_no="B-7")
    w.sync()
    people = list(w.store.all_ids("person"))
    w["badge"].put("row-9", employee_id="E1", badge_no="B-9")  # the duplicate
    report = w.sync()
    assert list(w.store.all_ids("person")) == people  # no phantom person
    assert w.record_of("badge", "row-9") is None
    assert report.held_for_review == 1
    assert len(w["cloud"].accounts) == 1 and not [x for x in w["cloud"].writes if x.op == "create"]
    assert w["ad"].get("guid-1", "pager") == "B-7"
    [item] = w.store.reviews()
    assert item["key"] == "row-9" and item["duplicate_of"] == ["badge:row-7"]
    assert "badge:row-9" in item["reason"] and "badge:row-7" in item["reason"]
    assert item["candidates"] == [w.record_of("badge", "row-7").id]
    assert w.sync().total_writes == 0  # still held, still nothing written


def test_a_second_cloud_user_carrying_a_linked_employee_id_is_held() -> None:
    w = World(config())
    hire(w, 1)
    w.sync()
    w["cloud"].put("u1-copy", **{"employerInfo.employeeId": "E1", "email": "p1@corp.example", "title": "Copy"})
    report = w.sync()
    assert report.held_for_review == 1 and report.created == 0
    assert len(list(w.store.all_ids("person"))) == 1
    assert w["cloud"].get("u1-copy", "title") == "Copy"  # nothing written to it
    assert [r["duplicate_of"] for r in w.store.reviews()] == [["cloud:u1"]]


def test_duplicates_in_the_same_first_run_link_the_first_and_hold_the_second() -> None:
    w = badge_world()
    hire(w, 1)
    w["badge"].put("row-7", employee_id="E1", badge_no="B-7")
    w["badge"].put("row-9", employee_id="E1", badge_no="B-9")
    w.sync()
    assert len(list(w.store.all_ids("person"))) == 1
    linked = [k for k in ("row-7", "row-9") if w.record_of("badge", k) is not None]
    assert len(linked) == 1 and len(w.store.reviews()) == 1


def test_a_disabled_duplicate_is_left_alone() -> None:
    w = World(config())
    hire(w, 1)
    w.sync()
    w["cloud"].put("u1-old", active=False, **{"employerInfo.employeeId": "E1"})
    report = w.sync()
    assert report.held_for_review == 0 and len(list(w.store.all_ids("person"))) == 1


def test_a_second_cloud_user_with_a_linked_employee_id_is_a_duplicate_whatever_its_email() -> None:
    w = World(config())
    hire(w, 1)
    w.sync()
    w["cloud"].put("u1-copy", **{"employerInfo.employeeId": "E1", "email": "someone.else@corp.example"})
    report = w.sync()
    assert report.held_for_review == 1 and len(list(w.store.all_ids("person"))) == 1
