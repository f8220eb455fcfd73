"""The `scim` connector: SCIM resources become observations of only the mapped attributes."""

from __future__ import annotations

import pytest

from peoplesync.config import SystemConfig
from peoplesync.connectors import scim_inbound
from peoplesync.model import GROUP, PERSON, Write
from peoplesync.ports import PermanentError
from peoplesync.scim.guard import token_list
from peoplesync.scim.observations import AttributePath, observation_from_resource
from peoplesync.scim.repository import MemoryScimRepository

from .conftest import ENTERPRISE, Client

DOC = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
    "id": "u-1", "userName": "ann@example.com", "title": "Engineer", "active": True,
    "name": {"givenName": "Ann", "familyName": "Lee"},
    "emails": [{"type": "home", "value": "ann@home"}, {"type": "Work", "value": "ann@work"}],
    "phoneNumbers": [{"type": "mobile", "value": "+15550001"}, {"type": "work", "value": "+15550002",
                                                                "primary": True}],
    ENTERPRISE: {"department": "Finance", "manager": {"value": "m-9", "displayName": "Boss"}},
    "meta": {"resourceType": "User", "version": 'W/"7"'},
}


@pytest.mark.parametrize(("path", "value"), [
    ("userName", "ann@example.com"),
    ("title", "Engineer"),
    ("active", True),
    ("name.givenName", "Ann"),
    ('emails[type eq "work"].value', "ann@work"),  # type compared case-insensitively
    ('phoneNumbers[type eq "mobile"].value', "+15550001"),
    ("phoneNumbers.value", "+15550002"),  # the primary one
    ('addresses[type eq "work"].locality', None),
    (f"{ENTERPRISE}:department", "Finance"),
    (f"{ENTERPRISE}:manager", "m-9"),  # the manager's SCIM id
    (f"{ENTERPRISE}:manager.displayName", "Boss"),
    ("urn:ietf:params:scim:schemas:core:2.0:User:title", "Engineer"),
    ("nickName", None),
])
def test_a_mapped_path_reads_its_value_and_a_blank_reads_as_none(path: str, value: object) -> None:
    obs = observation_from_resource("idp", DOC, [path])
    assert obs.attrs == {path: value}


def test_only_mapped_attributes_are_observed_and_the_key_marker_and_state_come_from_the_resource() -> None:
    obs = observation_from_resource("idp", DOC, ["title"])
    assert (obs.system, obs.key, obs.marker, obs.active, obs.removed, obs.kind) == ("idp", "u-1", 7, True,
                                                                                    False, PERSON)
    assert obs.attrs == {"title": "Engineer"}  # the mobile the IdP sent is not even looked at (SPEC 9)
    off = observation_from_resource("idp", {**DOC, "active": False}, ["title"], marker=12)
    assert (off.active, off.marker) == (False, 12)


def test_a_group_observation_carries_its_members_as_a_set_of_scim_ids_and_no_user_attributes() -> None:
    group = {"id": "g-1", "displayName": "Team", "members": [{"value": "b"}, {"value": "a"}],
             "meta": {"resourceType": "Group", "version": 'W/"2"'}}
    obs = observation_from_resource("idp", group, ["displayName", "members", "title"])
    assert obs.kind == GROUP and obs.attrs == {"displayName": "Team", "members": ("a", "b")}


@pytest.mark.parametrize("bad", ["emails[type ne \"work\"].value", "a b", "emails[", ""])
def test_a_path_the_connector_cannot_read_is_refused_when_the_connector_is_built(bad: str) -> None:
    with pytest.raises(ValueError):
        AttributePath.parse(bad)


def test_accepted_writes_reach_on_change_as_observations_with_rising_markers(client: Client, changes) -> None:
    u = client.user("ann@example.com", title="Engineer", phoneNumbers=[{"type": "mobile", "value": "+1555"}])
    client.patch(f"/Users/{u['id']}", {"op": "replace", "path": "title", "value": "Lead"})
    client.patch(f"/Users/{u['id']}", {"op": "replace", "path": "title", "value": "Lead"})  # same value again
    client.get(f"/Users/{u['id']}")  # a read is not a change
    client.delete(f"/Users/{u['id']}")
    assert [(c.marker, c.attrs.get("title"), c.removed) for c in changes] == [
        (1, "Engineer", False), (2, "Lead", False), (3, "Lead", False), (4, None, True)]
    assert all("phoneNumbers" not in str(c.attrs) for c in changes)


def test_a_refused_request_reaches_nobody(client: Client, changes) -> None:
    client.user("a")
    client.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "A"})
    assert len(changes) == 1


def test_settings_build_and_the_connector_is_read_only() -> None:
    system = SystemConfig(connector="scim", tokens="secret:peoplesync/scim", base_path="/scim/v2")
    connector = scim_inbound.ScimInboundConnector.from_system("idp", system, ["title"])
    assert connector.settings.tokens == "secret:peoplesync/scim" and not connector.writable
    assert connector.read().observations == [] and connector.read().complete is False
    with pytest.raises(PermanentError):
        connector.write(Write("idp", "update", "r1", "u-1", {"title": "x"}))
    assert scim_inbound.Settings.model_json_schema()["additionalProperties"] is False


def test_given_the_webhook_store_a_full_read_lists_everyone_it_holds(client: Client, repo: MemoryScimRepository
                                                                      ) -> None:
    client.user("a", title="A")
    client.user("b")
    connector = scim_inbound.ScimInboundConnector("idp", scim_inbound.Settings(tokens="secret:scim-tokens"), ["title"], repository=repo)
    result = connector.read(full=True)
    assert result.complete and sorted(o.attrs["title"] or "" for o in result.observations) == ["", "A"]


@pytest.mark.parametrize(("secret", "tokens"), [
    ({"tokens": ["a", "b"]}, ["a", "b"]), ({"token": "a"}, ["a"]), (["a", " b "], ["a", "b"]),
    ("a\nb", ["a", "b"]), ("a,b", ["a", "b"]), ({}, []),
])
def test_tokens_are_read_from_the_usual_secret_shapes(secret: object, tokens: list[str]) -> None:
    assert token_list(secret) == tokens
