"""The requests Entra ID and Okta document, replayed as API Gateway v2 events through the Lambda handler.

Events name placeholder ids (USER, MANAGER, GROUP); each test puts in the ids the webhook assigned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from peoplesync.scim.apigw import lambda_handler
from peoplesync.scim.app import ScimApp

from .conftest import ENTERPRISE, TOKEN, Client

EVENTS = Path(__file__).resolve().parents[3] / "events"
USER, MANAGER, GROUP = ("7f3c1d9a2b6e4f0a8c5d3e1b9a7f6c4d", "c2d8e4f6a1b34c5d9e7f0a2b4c6d8e1f",
                        "5e9a1c3b7d2f4e6a8b0c2d4e6f8a0b1c")


class Replay:
    def __init__(self, app: ScimApp) -> None:
        self.handler = lambda_handler(app.handle)
        self.ids: dict[str, str] = {}

    def __call__(self, name: str) -> tuple[int, dict[str, Any] | None]:
        text = (EVENTS / name).read_text()
        for placeholder, real in self.ids.items():
            text = text.replace(placeholder, real)
        event = json.loads(text)
        event["headers"]["authorization"] = f"Bearer {TOKEN}"
        result = self.handler(event, None)
        assert result["statusCode"] < 500, result
        return result["statusCode"], json.loads(result["body"]) if result["body"] else None


@pytest.fixture
def replay(app: ScimApp) -> Replay:
    return Replay(app)


def test_every_event_sample_is_a_v2_http_api_event_below_the_scim_base() -> None:
    names = sorted(p.name for p in EVENTS.glob("entra-*.json")) + sorted(p.name for p in EVENTS.glob("okta-*.json"))
    assert len(names) >= 15
    for name in names:
        event = json.loads((EVENTS / name).read_text())
        assert event["version"] == "2.0" and event["rawPath"].startswith("/scim/v2/")
        assert event["requestContext"]["http"]["method"] in {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_entra_test_connection_with_a_filter_that_matches_nothing_gets_an_empty_list(replay: Replay) -> None:
    status, body = replay("entra-test-connection.json")
    assert status == 200
    assert (body["totalResults"], body["Resources"]) == (0, [])


def test_entra_user_lifecycle_create_find_patch_manager_deactivate_delete(replay: Replay, client: Client,
                                                                         changes) -> None:
    status, created = replay("entra-user-create.json")
    assert status == 201 and created[ENTERPRISE]["department"] == "Research"
    replay.ids[USER] = created["id"]
    status, found = replay("entra-user-get-by-username.json")
    assert [r["id"] for r in found["Resources"]] == [created["id"]]

    status, patched = replay("entra-user-patch-replace.json")
    assert status == 200
    assert patched["emails"][0]["value"] == "updatedEmail@contoso.com"
    assert patched["name"] == {"formatted": "givenName familyName", "familyName": "updatedFamilyName",
                               "givenName": "updatedGivenName"}
    assert {"type": "mobile", "value": "+1 (317) 555-0123"} in patched["phoneNumbers"]  # added: no match before
    assert (patched["title"], patched[ENTERPRISE]["department"]) == ("Senior Engineer", "Finance")

    replay.ids[MANAGER] = client.user("boss@contoso.com")["id"]
    status, managed = replay("entra-user-set-manager.json")
    assert managed[ENTERPRISE]["manager"]["value"] == replay.ids[MANAGER]  # a bare id, accepted

    status, deactivated = replay("entra-user-deactivate.json")  # "value": "False", a string
    assert status == 200 and deactivated["active"] is False

    status, _ = replay("entra-user-delete.json")
    assert status == 204
    assert client.get(f"/Users/{created['id']}").status == 404
    mine = [c for c in changes if c.key == created["id"]]
    assert [c.marker for c in mine] == [1, 2, 3, 4, 5]
    assert mine[3].active is False and mine[4].removed is True


def test_entra_group_with_extra_schemas_and_members_added_and_removed_in_both_forms(replay: Replay,
                                                                                   client: Client) -> None:
    status, group = replay("entra-group-create.json")
    assert status == 201 and group["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Group"]
    replay.ids[GROUP] = group["id"]
    status, found = replay("entra-group-get-by-name.json")
    assert [g["id"] for g in found["Resources"]] == [group["id"]] and "members" not in found["Resources"][0]

    replay.ids[USER] = client.user("member@contoso.com")["id"]
    assert replay("entra-group-add-member.json")[1]["members"] == [{"value": replay.ids[USER]}]
    assert "members" not in replay("entra-group-remove-member.json")[1]  # value form
    replay("entra-group-add-member.json")
    assert "members" not in replay("entra-group-remove-member-by-filter.json")[1]  # filter form


def test_okta_user_lifecycle_create_with_groups_and_password_find_put_deactivate(replay: Replay, repo) -> None:
    status, created = replay("okta-user-create.json")
    assert status == 201 and "password" not in created and "groups" not in created
    assert "1mz050nq" not in next(repo.list("User")).raw
    replay.ids[USER] = created["id"]
    status, found = replay("okta-user-get-by-username.json")
    assert found["totalResults"] == 1 and found["startIndex"] == 1

    status, replaced = replay("okta-user-replace.json")
    assert status == 200
    assert (replaced["title"], replaced["name"]["middleName"]) == ("Director", "Name")

    status, deactivated = replay("okta-user-deactivate.json")
    assert status == 200 and deactivated["active"] is False


def test_okta_group_rename_and_a_patch_that_removes_and_adds_members_at_once(replay: Replay,
                                                                            client: Client) -> None:
    status, group = replay("okta-group-create.json")
    assert status == 201
    replay.ids[GROUP] = group["id"]
    replay.ids[USER] = client.user("test.user@okta.local")["id"]
    replay.ids[MANAGER] = client.user("leaving@okta.local")["id"]
    client.patch(f"/Groups/{group['id']}", {"op": "add", "path": "members",
                                            "value": [{"value": replay.ids[MANAGER]}]})

    status, renamed = replay("okta-group-rename.json")
    assert status == 200 and renamed["displayName"] == "Test SCIMv2 renamed"
    status, after = replay("okta-group-members.json")
    assert after["members"] == [{"value": replay.ids[USER], "display": "test.user@okta.local"}]
    status, again = replay("okta-group-members.json")  # re-sent: no duplicate member
    assert again["members"] == after["members"]
