"""The vendor corrections, as pure functions of the decoded body."""

from __future__ import annotations

from peoplesync.scim.quirks import normalise

from .conftest import ENTERPRISE, PATCH, USER

MANAGER_PATH = f"{ENTERPRISE}:manager"


def ops(body: dict) -> list[dict]:
    return body["Operations"]


def test_capitalised_ops_and_string_booleans_are_made_rfc_values() -> None:
    body = normalise("PATCH", "User", "u1", {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "value": {"active": "True"}}]})
    assert ops(body) == [{"op": "replace", "path": "active", "value": False},
                         {"op": "add", "value": {"active": True}}]


def test_a_bare_manager_id_becomes_a_manager_object_wherever_it_is_sent() -> None:
    patched = normalise("PATCH", "User", "u1", {"Operations": [
        {"op": "Add", "path": MANAGER_PATH, "value": "m1"},
        {"op": "Replace", "value": {MANAGER_PATH: "m2", ENTERPRISE: {"manager": "m3"}}}]})
    assert ops(patched)[0]["value"] == {"value": "m1"}
    assert ops(patched)[1]["value"] == {ENTERPRISE: {"manager": {"value": "m3"}}}
    assert ops(patched)[2] == {"op": "replace", "path": MANAGER_PATH, "value": {"value": "m2"}}
    posted = normalise("POST", "User", None, {"schemas": [USER, ENTERPRISE], "userName": "a",
                                              ENTERPRISE: {"manager": "m4"}})
    assert posted[ENTERPRISE]["manager"] == {"value": "m4"}


def test_a_path_less_value_keyed_by_a_filtered_path_is_split_into_its_own_operation() -> None:
    body = normalise("PATCH", "User", "u1", {"Operations": [
        {"op": "replace", "value": {'emails[type eq "work"].value': "w@x", "title": "T"}}]})
    assert ops(body) == [{"op": "replace", "value": {"title": "T"}},
                         {"op": "replace", "path": 'emails[type eq "work"].value', "value": "w@x"}]


def test_the_resources_own_id_in_a_path_less_replace_is_dropped_but_another_id_is_kept_to_be_refused() -> None:
    own = normalise("PATCH", "Group", "g1",
                    {"Operations": [{"op": "replace", "value": {"id": "g1", "displayName": "N"}}]})
    assert ops(own) == [{"op": "replace", "value": {"displayName": "N"}}]
    other = normalise("PATCH", "Group", "g1", {"Operations": [{"op": "replace", "value": {"id": "g2"}}]})
    assert ops(other)[0]["value"] == {"id": "g2"}


def test_okta_groups_and_password_in_a_user_body_and_entra_extra_group_schemas_are_left_out() -> None:
    user = normalise("POST", "User", None, {"schemas": [USER], "userName": "a", "groups": [], "password": "pw"})
    assert user == {"schemas": [USER], "userName": "a"}
    group = normalise("POST", "Group", None, {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                                                          "http://schemas.microsoft.com/2006/11/x/Group"],
                                              "displayName": "g"})
    assert group["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Group"]


def test_what_is_not_an_object_is_left_for_the_protocol_layer_to_refuse() -> None:
    assert normalise("PATCH", "User", "u1", [1, 2]) == [1, 2]
    assert normalise("PATCH", "User", "u1", {"Operations": "x"}) == {"Operations": "x"}
    assert normalise("GET", "User", "u1", {"a": 1}) == {"a": 1}
