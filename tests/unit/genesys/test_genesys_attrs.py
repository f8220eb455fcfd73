"""Attribute paths into a Genesys Cloud user: what is read, and the PATCH body that writes only what differs."""

from __future__ import annotations

import pytest

from peoplesync.connectors import genesys_attrs as ga

PHONE = ga.parse("addresses[mediaType=PHONE,type=WORK]")
HOME_EMAIL = ga.parse("addresses[mediaType=EMAIL,type=HOME]")
EMPLOYEE_ID = ga.parse("employerInfo.employeeId")

USER = {
    "id": "u1", "version": 7, "name": "Ann Lee", "title": "Agent", "department": "",
    "manager": {"id": "m1", "selfUri": "/api/v2/users/m1"},
    "addresses": [
        {"address": "+13175550100", "display": "(317) 555-0100", "mediaType": "PHONE", "type": "WORK"},
        {"address": "+13175550199", "mediaType": "PHONE", "type": "MOBILE"},
    ],
    "employerInfo": {"officialName": "Ann B. Lee", "employeeId": "E1"},
    "locations": [{"id": "l1", "notes": "desk 4", "locationDefinition": {"id": "l1", "name": "Indianapolis"}}],
    "groups": [{"id": "g2"}, {"id": "g1"}],
}


def test_given_a_user_when_each_path_is_read_then_blanks_are_none_and_references_are_ids() -> None:
    assert ga.read(USER, ga.parse("title")) == "Agent"
    assert ga.read(USER, ga.parse("department")) is None
    assert ga.read(USER, ga.parse("manager")) == "m1"
    assert ga.read(USER, PHONE) == "+13175550100"
    assert ga.read(USER, HOME_EMAIL) is None
    assert ga.read(USER, EMPLOYEE_ID) == "E1"
    assert ga.read(USER, ga.parse("employerInfo.dateHire")) is None
    assert ga.read(USER, ga.parse("locations"), lambda lid: None) == "Indianapolis"
    assert ga.read(USER, ga.parse("locations")) == "l1"  # locations_by: id
    assert ga.read(USER, ga.parse("groups")) == ("g1", "g2")


def test_given_unknown_paths_when_parsed_then_every_problem_is_named() -> None:
    with pytest.raises(ValueError) as err:
        ga.parse_all(["title", "mobile", "employerInfo.salary", "addresses[mediaType=FAX,type=WORK]"])
    text = str(err.value)
    assert "'mobile'" in text and "salary" in text and "FAX" in text


def test_given_values_already_held_when_the_body_is_computed_then_it_is_empty() -> None:
    assert ga.patch_body(USER, {ga.parse("title"): "Agent", PHONE: "+13175550100", EMPLOYEE_ID: "E1",
                                ga.parse("department"): None}) == {}


def test_given_a_new_work_phone_when_patched_then_other_addresses_are_sent_back_unchanged() -> None:
    body = ga.patch_body(USER, {PHONE: "+13175550142"})
    assert set(body) == {"addresses"}
    assert {"address": "+13175550199", "mediaType": "PHONE", "type": "MOBILE"} in body["addresses"]
    assert {"address": "+13175550142", "mediaType": "PHONE", "type": "WORK"} in body["addresses"]
    assert len(body["addresses"]) == 2


def test_given_a_blank_home_email_when_set_then_an_entry_is_added_and_clearing_it_removes_it() -> None:
    added = ga.patch_body(USER, {HOME_EMAIL: "ann@home.example"})["addresses"]
    assert {"address": "ann@home.example", "mediaType": "EMAIL", "type": "HOME"} in added
    cleared = ga.patch_body({**USER, "addresses": added}, {HOME_EMAIL: None})["addresses"]
    assert [e["type"] for e in cleared] == ["WORK", "MOBILE"]


def test_given_employer_info_when_one_key_changes_then_unmapped_keys_are_kept() -> None:
    body = ga.patch_body(USER, {EMPLOYEE_ID: "E9", ga.parse("employerInfo.dateHire"): "2024-03-01"})
    assert body == {"employerInfo": {"officialName": "Ann B. Lee", "employeeId": "E9", "dateHire": "2024-03-01"}}


def test_given_a_cleared_title_or_manager_when_patched_then_an_empty_string_is_sent() -> None:
    assert ga.patch_body(USER, {ga.parse("title"): None, ga.parse("manager"): None}) == {"title": "",
                                                                                        "manager": ""}


def test_given_a_location_name_when_patched_then_it_is_sent_as_the_location_id() -> None:
    ids = {"Remote": "l2", "Indianapolis": "l1"}
    assert ga.patch_body(USER, {ga.parse("locations"): "Remote"}, ids.__getitem__) == {"locations": [{"id": "l2"}]}
    kept = ga.patch_body(USER, {ga.parse("locations"): ("Indianapolis", "Remote")}, ids.__getitem__)
    assert kept == {"locations": [{"id": "l1", "notes": "desk 4"}, {"id": "l2"}]}


def test_given_groups_when_written_through_the_user_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="group sync"):
        ga.patch_body(USER, {ga.parse("groups"): ("g1",)})


def test_given_two_reads_when_compared_then_only_the_paths_that_moved_are_named() -> None:
    later = {**USER, "title": "Lead", "department": "Sales"}
    moved = ga.changed_underneath(USER, later, [ga.parse("title"), PHONE])
    assert [p.attr for p in moved] == ["title"]


def test_expansions_are_requested_only_for_the_mapped_paths_that_need_them() -> None:
    assert ga.expansions([PHONE, ga.parse("title")]) == ()
    assert ga.expansions([EMPLOYEE_ID, ga.parse("locations"), ga.parse("groups")]) == (
        "employerInfo", "groups", "locations")
