"""The Genesys Cloud connector against the stand-in over HTTP: reads, paging, writes, versions, state."""

from __future__ import annotations

import pytest

from peoplesync.model import Write
from peoplesync.ports import PermanentError, VersionConflict

from .conftest import ATTRS, Cloud

PHONE = "addresses[mediaType=PHONE,type=WORK]"
HOME_EMAIL = "addresses[mediaType=EMAIL,type=HOME]"


def update(key: str, **attrs: object) -> Write:
    return Write("cloud", "update", "rec-1", key, dict(attrs))


def patches(cloud: Cloud) -> int:
    return cloud.standin.stats["PATCH requests"]


# --- reads -------------------------------------------------------------------------------------------------
def test_given_230_users_when_read_in_pages_of_25_then_all_are_observed_with_their_versions(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(230)]
    cloud.standin.edit_user(ids[5], {"title": "Edited"})
    result = cloud.connector(page_size=25).read(full=True)
    assert result.complete
    assert sorted(o.key for o in result.observations) == sorted(ids)
    five = next(o for o in result.observations if o.key == ids[5])
    assert (five.marker, five.attrs["title"], five.active) == (2, "Edited", True)
    assert five.attrs[PHONE] == "+13175550100" and five.attrs[HOME_EMAIL] is None
    assert five.attrs["employerInfo.employeeId"] == "E5"
    assert cloud.standin.stats["GET requests"] == 10


def test_given_users_added_while_paging_when_read_then_the_read_is_not_complete(cloud: Cloud) -> None:
    for n in range(60):
        cloud.hire(n)

    def add_one(method: str, path: str, query: dict) -> None:
        if query.get("pageNumber") == ["2"]:
            cloud.standin.add_user("Aaron Early", "aaron@corp.example")  # sorts first: shifts every page

    cloud.standin.hooks.append(add_one)
    result = cloud.connector(page_size=25).read(full=True)
    assert not result.complete  # so nobody missing from it is taken for removed


def test_given_inactive_and_deleted_users_then_inactive_are_observed_disabled_and_deleted_are_absent(
        cloud: Cloud) -> None:
    active, inactive, deleted = cloud.hire(1), cloud.hire(2, state="inactive"), cloud.hire(3, state="deleted")
    result = cloud.connector().read(full=True)
    seen = {o.key: o.active for o in result.observations}
    assert seen == {active: True, inactive: False}
    again = cloud.connector().read_keys([active, deleted, "no-such-user"])
    assert {o.key: o.removed for o in again.observations} == {active: False, deleted: True,
                                                              "no-such-user": True}
    assert not again.complete


def test_given_a_location_when_read_then_its_name_is_the_value(cloud: Cloud) -> None:
    lid = cloud.standin.add_location("Indianapolis")
    uid = cloud.hire(1, locations=[{"id": lid}])
    [obs] = cloud.connector().read(full=True).observations
    assert obs.key == uid and obs.attrs["locations"] == "Indianapolis"
    [by_id] = cloud.connector(locations_by="id").read(full=True).observations
    assert by_id.attrs["locations"] == lid


# --- writes ------------------------------------------------------------------------------------------------
def test_given_a_read_when_a_title_is_written_then_one_patch_is_the_only_request(cloud: Cloud) -> None:
    uid = cloud.hire(1)
    connector = cloud.connector()
    connector.read(full=True)
    before = cloud.standin.stats["requests"]
    result = connector.write(update(uid, title="Director"))
    assert cloud.standin.stats["requests"] - before == 1
    assert result.values == {"title": "Director"}
    assert cloud.standin.user(uid)["title"] == "Director"


def test_given_no_read_before_when_written_then_the_user_is_read_first(cloud: Cloud) -> None:
    uid = cloud.hire(1)
    cloud.connector().write(update(uid, title="Director"))
    assert (cloud.standin.stats["GET requests"], patches(cloud)) == (1, 1)


def test_given_the_value_already_held_when_written_then_no_patch_is_sent(cloud: Cloud) -> None:
    uid = cloud.hire(1)
    connector = cloud.connector()
    connector.read(full=True)
    connector.write(update(uid, title="Title 1", **{PHONE: "+13175550100"}))
    assert patches(cloud) == 0


def test_given_mapped_and_unmapped_entries_when_a_phone_is_written_then_only_the_mapped_one_changes(
        cloud: Cloud) -> None:
    uid = cloud.hire(1, addresses=[{"address": "+13175550100", "mediaType": "PHONE", "type": "WORK"},
                                   {"address": "+13175550199", "mediaType": "PHONE", "type": "MOBILE"}],
                     employerInfo={"employeeId": "E1", "officialName": "Person One"})
    cloud.connector().write(update(uid, **{PHONE: "+13175550142", HOME_EMAIL: "p1@home.example",
                                           "employerInfo.dateHire": "2024-03-01"}))
    user = cloud.standin.user(uid)
    assert {(a["type"], a["address"]) for a in user["addresses"]} == {
        ("WORK", "+13175550142"), ("MOBILE", "+13175550199"), ("HOME", "p1@home.example")}
    assert user["employerInfo"] == {"employeeId": "E1", "officialName": "Person One", "dateHire": "2024-03-01"}


@pytest.mark.parametrize("status", [409, 400])
def test_given_an_unrelated_edit_since_the_read_when_written_then_the_patch_is_retried_and_both_stand(
        cloud: Cloud, status: int) -> None:
    cloud.standin.version_error_status = status  # the 400 "does not match the current version" variant too
    uid = cloud.hire(1)
    connector = cloud.connector()
    connector.read(full=True)
    cloud.standin.edit_user(uid, {"department": "Sales"})  # the agent, meanwhile
    connector.write(update(uid, title="Director"))
    user = cloud.standin.user(uid)
    assert (user["title"], user["department"], user["version"]) == ("Director", "Sales", 3)
    assert cloud.standin.stats[f"answered {status}"] == 1


def test_given_the_same_attribute_edited_since_the_read_when_written_then_a_version_conflict_is_raised(
        cloud: Cloud) -> None:
    uid = cloud.hire(1)
    connector = cloud.connector()
    connector.read(full=True)
    cloud.standin.edit_user(uid, {"title": "Chosen by the agent"})
    with pytest.raises(VersionConflict, match="title"):
        connector.write(update(uid, title="Director"))
    assert cloud.standin.user(uid)["title"] == "Chosen by the agent"  # never blindly overwritten
    # after the re-read, the connector knows the new version: the decision, taken again, goes through
    connector.write(update(uid, title="Director"))
    assert cloud.standin.user(uid)["title"] == "Director"


def test_given_an_edit_landing_between_get_and_patch_then_it_is_detected_too(cloud: Cloud) -> None:
    uid = cloud.hire(1)

    def agent_edits_once(method: str, path: str, query: dict) -> None:
        if method == "PATCH" and not cloud.standin.stats["agent"]:
            cloud.standin.stats["agent"] += 1
            cloud.standin.edit_user(uid, {"addresses": [{"address": "+13175550777", "mediaType": "PHONE",
                                                         "type": "WORK"}]})

    cloud.standin.hooks.append(agent_edits_once)
    with pytest.raises(VersionConflict, match="PHONE"):
        cloud.connector().write(update(uid, **{PHONE: "+13175550142"}))
    assert cloud.standin.user(uid)["addresses"][0]["address"] == "+13175550777"


def test_given_a_deactivation_then_it_goes_on_its_own_patch_and_reactivation_brings_the_user_back(
        cloud: Cloud) -> None:
    uid = cloud.hire(1)
    connector = cloud.connector()
    connector.write(Write("cloud", "deactivate", "rec-1", uid, {}))
    assert cloud.standin.user(uid)["state"] == "inactive"
    changes = cloud.standin.audit_events[-1]["detail"]["eventBody"]["propertyChanges"]
    assert [c["property"] for c in changes] == ["state"]
    connector.write(Write("cloud", "deactivate", "rec-1", uid, {}))  # already so: nothing sent
    assert patches(cloud) == 1
    connector.write(Write("cloud", "activate", "rec-1", uid, {}))
    assert cloud.standin.user(uid)["state"] == "active"


def test_given_a_delete_then_the_user_is_deleted_and_a_second_delete_is_harmless(cloud: Cloud) -> None:
    uid = cloud.hire(1)
    connector = cloud.connector()
    connector.write(Write("cloud", "delete", "rec-1", uid, {}))
    connector.write(Write("cloud", "delete", "rec-1", uid, {}))
    assert cloud.standin.users[uid]["state"] == "deleted"


def test_given_a_create_then_post_is_followed_by_a_patch_for_manager_employer_info_and_location(
        cloud: Cloud) -> None:
    boss = cloud.hire(1)
    cloud.standin.add_location("Indianapolis")
    result = cloud.connector().write(Write("cloud", "create", "rec-2", None, {
        "name": "Person Two", "email": "p2@corp.example", "title": "Agent", PHONE: "+13175550102",
        "manager": boss, "employerInfo.employeeId": "E2", "employerInfo.dateHire": "2024-03-01",
        "locations": "Indianapolis"}))
    user = cloud.standin.user(result.key)
    assert user["manager"]["id"] == boss and user["title"] == "Agent"
    assert user["employerInfo"] == {"employeeId": "E2", "dateHire": "2024-03-01"}
    assert user["locations"][0]["locationDefinition"]["name"] == "Indianapolis"
    assert user["division"]["id"] == cloud.standin.division_id  # the home division, looked up
    assert (cloud.standin.stats["POST requests"], patches(cloud)) == (1, 1)
    assert result.values["locations"] == "Indianapolis"


def test_given_an_existing_email_when_created_then_it_is_refused_permanently(cloud: Cloud) -> None:
    cloud.hire(1)
    with pytest.raises(PermanentError, match="already exists"):
        cloud.connector().write(Write("cloud", "create", "r", None, {"name": "X", "email": "p1@corp.example"}))


def test_given_values_the_api_rejects_then_the_write_fails_permanently_with_the_reason(cloud: Cloud) -> None:
    uid = cloud.hire(1)
    connector = cloud.connector([*ATTRS, "employerInfo.employeeType"])
    with pytest.raises(PermanentError, match="employeeType"):
        connector.write(update(uid, **{"employerInfo.employeeType": "Intern"}))
    with pytest.raises(PermanentError, match="not defined"):
        connector.write(update(uid, locations="Atlantis"))
    with pytest.raises(PermanentError, match="does not exist"):
        connector.write(update("no-such-user", title="x"))


def test_given_an_unmapped_attribute_in_a_write_then_it_is_refused_before_any_request(cloud: Cloud) -> None:
    uid = cloud.hire(1)
    with pytest.raises(PermanentError, match="unmapped"):
        cloud.connector(["title"]).write(update(uid, department="Sales"))
    assert cloud.standin.stats["requests"] == 0


def test_given_an_unknown_attribute_path_then_the_connector_refuses_to_start(cloud: Cloud) -> None:
    with pytest.raises(PermanentError, match="mobile"):
        cloud.connector(["title", "mobile"])
