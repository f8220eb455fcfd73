"""RFC 7643/7644 behaviour of the webhook, in process, over the in-memory repository."""

from __future__ import annotations

import json

import pytest

from .conftest import ENTERPRISE, GROUP, USER, Client


def ids(response) -> list[str]:
    return [r["id"] for r in response.body["Resources"]]


# --- create / read ---------------------------------------------------------------------------------------
def test_given_a_new_user_when_posted_then_201_with_location_and_etag_and_a_get_right_after_shows_it(
        client: Client) -> None:
    r = client.post("/Users", {"schemas": [USER, ENTERPRISE], "userName": "bjensen@example.com",
                               "name": {"givenName": "Barbara"}, ENTERPRISE: {"department": "Tour"}})
    assert r.status == 201
    assert r.headers["Location"] == f"http://localhost/scim/v2/Users/{r.body['id']}"
    assert r.headers["ETag"] == r.body["meta"]["version"] == 'W/"1"'
    got = client.get(f"/Users/{r.body['id']}")
    assert got.status == 200
    assert got.body["userName"] == "bjensen@example.com"
    assert got.body[ENTERPRISE]["department"] == "Tour"
    assert got.body["meta"]["resourceType"] == "User"


def test_given_a_taken_username_in_another_case_when_posted_then_409_uniqueness_and_nothing_stored(
        client: Client, repo) -> None:
    client.user("bjensen@example.com")
    r = client.post("/Users", {"schemas": [USER], "userName": "BJensen@Example.com"})
    assert (r.status, r.body["scimType"], r.body["status"]) == (409, "uniqueness", "409")
    assert r.body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert repo.count("User") == 1


def test_given_a_password_when_a_user_is_posted_then_it_is_neither_stored_nor_returned(client: Client, repo) -> None:
    r = client.post("/Users", {"schemas": [USER], "userName": "p", "password": "hunter2-secret"})
    assert r.status == 201 and "password" not in r.body
    assert "hunter2-secret" not in next(repo.list("User")).raw


def test_given_an_unknown_id_then_404_in_the_scim_error_form(client: Client) -> None:
    r = client.get("/Users/does-not-exist")
    assert (r.status, r.body["status"]) == (404, "404")
    assert client.get("/Nothing").status == 404


# --- replace / ETags -------------------------------------------------------------------------------------
def test_given_a_user_when_put_then_the_whole_resource_is_replaced_and_the_version_moves(client: Client) -> None:
    u = client.user("a", title="Engineer", displayName="A")
    r = client.put(f"/Users/{u['id']}", {"schemas": [USER], "userName": "a", "title": "Director"})
    assert r.status == 200
    assert r.body["title"] == "Director" and "displayName" not in r.body
    assert r.body["meta"]["version"] == 'W/"2"'


def test_given_a_put_that_changes_nothing_then_the_etag_stays(client: Client) -> None:
    u = client.user("a", title="Engineer")
    r = client.put(f"/Users/{u['id']}", {"schemas": [USER], "userName": "a", "title": "Engineer"})
    assert r.status == 200 and r.headers["ETag"] == 'W/"1"'


def test_given_a_stale_if_match_then_412_and_the_resource_is_unchanged(client: Client) -> None:
    u = client.user("a", title="Engineer")
    client.patch(f"/Users/{u['id']}", {"op": "replace", "path": "title", "value": "Lead"})
    stale = {"If-Match": 'W/"1"'}
    assert client.put(f"/Users/{u['id']}", {"schemas": [USER], "userName": "a", "title": "X"},
                      headers=stale).status == 412
    assert client.patch(f"/Users/{u['id']}", {"op": "replace", "path": "title", "value": "Y"},
                        headers=stale).status == 412
    assert client.delete(f"/Users/{u['id']}", headers=stale).status == 412
    assert client.get(f"/Users/{u['id']}").body["title"] == "Lead"
    ok = client.patch(f"/Users/{u['id']}", {"op": "replace", "path": "title", "value": "Z"},
                      headers={"If-Match": 'W/"2"'})
    assert ok.status == 200 and ok.body["title"] == "Z"


def test_given_the_current_etag_when_got_with_if_none_match_then_304(client: Client) -> None:
    u = client.user("a")
    r = client.call("GET", f"/Users/{u['id']}", headers={"If-None-Match": u["meta"]["version"]})
    assert r.status == 304 and r.body is None


# --- PATCH -----------------------------------------------------------------------------------------------
def test_given_value_paths_when_patched_then_add_replace_and_remove_land_where_they_point(client: Client) -> None:
    u = client.user("a", emails=[{"type": "work", "value": "a@work"}, {"type": "home", "value": "a@home"}])
    r = client.patch(f"/Users/{u['id']}",
                     {"op": "replace", "path": 'emails[type eq "work"].value', "value": "a@new-work"},
                     {"op": "add", "path": "title", "value": "Engineer"},
                     {"op": "remove", "path": 'emails[type eq "home"]'})
    assert r.status == 200
    assert r.body["emails"] == [{"type": "work", "value": "a@new-work"}]
    assert r.body["title"] == "Engineer"


def test_given_a_group_when_members_are_patched_by_filter_then_only_that_member_goes(client: Client) -> None:
    a, b = client.user("a")["id"], client.user("b")["id"]
    g = client.group("team", [a, b])
    r = client.patch(f"/Groups/{g['id']}", {"op": "remove", "path": f'members[value eq "{a}"]'})
    assert [m["value"] for m in r.body["members"]] == [b]


def test_given_a_failing_operation_in_a_patch_then_no_operation_of_it_is_applied(client: Client) -> None:
    u = client.user("a", title="Engineer")
    r = client.patch(f"/Users/{u['id']}", {"op": "replace", "path": "title", "value": "Changed"},
                     {"op": "replace", "path": "id", "value": "other"})
    assert (r.status, r.body["scimType"]) == (400, "mutability")
    assert client.get(f"/Users/{u['id']}").body["title"] == "Engineer"


@pytest.mark.parametrize(("operation", "scim_type"), [
    ({"op": "replace", "path": "nosuchattribute", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "emails[type eq", "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "active", "value": "perhaps"}, "invalidValue"),
    ({"op": "replace", "path": "id", "value": "x"}, "mutability"),
    ({"op": "frobnicate", "path": "title", "value": "x"}, "invalidValue"),
])
def test_given_a_bad_patch_then_400_with_the_scim_type_that_names_the_problem(
        client: Client, operation: dict, scim_type: str) -> None:
    u = client.user("a")
    r = client.patch(f"/Users/{u['id']}", operation)
    assert (r.status, r.body.get("scimType")) == (400, scim_type)


def test_given_a_body_that_is_not_json_then_400_invalid_syntax(client: Client) -> None:
    r = client.call("POST", "/Users", raw=b"{not json")
    assert (r.status, r.body["scimType"]) == (400, "invalidSyntax")


# --- filters ---------------------------------------------------------------------------------------------
@pytest.fixture
def people(client: Client) -> dict[str, str]:
    return {
        "ann": client.user("Ann@Example.com", externalId="X-1", title="Engineer", active=True)["id"],
        "bob": client.user("bob@example.com", externalId="x-1", title="Senior Engineer", active=False)["id"],
        "cy": client.user("cy@example.org", externalId="X-3", active=True)["id"],
    }


@pytest.mark.parametrize(("expression", "expected"), [
    ('userName eq "ann@example.COM"', {"ann"}),  # userName is caseExact=false
    ('externalId eq "X-1"', {"ann"}),  # externalId is caseExact=true
    ('userName ne "ann@example.com"', {"bob", "cy"}),
    ('title co "engineer"', {"ann", "bob"}),
    ('userName sw "b"', {"bob"}),
    ('userName ew ".org"', {"cy"}),
    ("title pr", {"ann", "bob"}),
    ('title pr and active eq true', {"ann"}),
    ('userName sw "a" or userName sw "c"', {"ann", "cy"}),
    ('not (title pr)', {"cy"}),
    ('meta.created gt "2000-01-01T00:00:00Z"', {"ann", "bob", "cy"}),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', set()),
    ('userName eq "nobody@example.com"', set()),
])
def test_given_three_users_when_filtered_then_exactly_the_matching_ones_are_listed(
        client: Client, people: dict[str, str], expression: str, expected: set[str]) -> None:
    r = client.get("/Users", filter=expression)
    assert r.status == 200
    assert set(ids(r)) == {people[n] for n in expected}
    assert r.body["totalResults"] == len(expected)


def test_given_a_malformed_filter_then_400_invalid_filter(client: Client) -> None:
    r = client.get("/Users", filter='userName eq')
    assert (r.status, r.body["scimType"]) == (400, "invalidFilter")


# --- paging, projection, search --------------------------------------------------------------------------
def test_given_25_users_when_paged_by_10_then_pages_are_stable_and_cover_everyone_once(client: Client) -> None:
    for i in range(25):
        client.user(f"user{i:02d}")
    pages = [client.get("/Users", startIndex=str(s), count="10") for s in (1, 11, 21)]
    assert [p.body["itemsPerPage"] for p in pages] == [10, 10, 5]
    assert all(p.body["totalResults"] == 25 for p in pages)
    seen = [i for p in pages for i in ids(p)]
    assert len(set(seen)) == 25
    assert seen == ids(client.get("/Users", startIndex="1", count="25"))  # same order when asked again


def test_given_a_count_above_the_maximum_then_at_most_max_results_are_returned(client: Client) -> None:
    for i in range(3):
        client.user(f"u{i}")
    r = client.get("/Users", count="100000")
    assert r.status == 200 and r.body["itemsPerPage"] == 3
    sorted_desc = client.get("/Users", sortBy="userName", sortOrder="descending")
    assert [x["userName"] for x in sorted_desc.body["Resources"]] == ["u2", "u1", "u0"]


def test_given_attributes_and_excluded_attributes_then_only_the_asked_attributes_come_back(client: Client) -> None:
    u = client.user("a", title="Engineer", displayName="A", emails=[{"type": "work", "value": "a@x"}])
    only = client.call("GET", f"/Users/{u['id']}", query={"attributes": "title,emails.value"}).body
    assert set(only) == {"schemas", "id", "title", "emails"}
    assert only["emails"] == [{"value": "a@x"}]
    without = client.call("GET", f"/Users/{u['id']}", query={"excludedAttributes": "title"}).body
    assert "title" not in without and without["displayName"] == "A"
    g = client.group("team", [u["id"]])
    listed = client.get("/Groups", excludedAttributes="members").body["Resources"]
    assert listed[0]["id"] == g["id"] and "members" not in listed[0]


def test_given_a_search_posted_to_dot_search_then_it_answers_like_a_get(client: Client, people) -> None:
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'title co "engineer"', "attributes": ["userName"], "startIndex": 1, "count": 1}
    r = client.post("/Users/.search", body)
    assert r.status == 200 and r.body["totalResults"] == 2 and r.body["itemsPerPage"] == 1
    assert set(r.body["Resources"][0]) == {"schemas", "id", "userName"}
    root = client.post("/.search", {"schemas": body["schemas"], "filter": 'userName sw "cy"'})
    assert ids(root) == [people["cy"]]


# --- discovery -------------------------------------------------------------------------------------------
def test_the_discovery_endpoints_describe_what_the_service_does(client: Client) -> None:
    spc = client.get("/ServiceProviderConfig").body
    assert spc["patch"]["supported"] and spc["filter"]["supported"] and spc["etag"]["supported"]
    assert not spc["bulk"]["supported"] and not spc["changePassword"]["supported"]
    assert spc["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    schemas = {s["id"] for s in client.get("/Schemas").body["Resources"]}
    assert schemas == {USER, GROUP, ENTERPRISE}
    types = {t["name"]: t for t in client.get("/ResourceTypes").body["Resources"]}
    assert types["User"]["schemaExtensions"][0]["schema"] == ENTERPRISE
    assert client.get(f"/Schemas/{USER}").body["id"] == USER


def test_given_a_delete_then_204_and_the_user_is_gone(client: Client, repo) -> None:
    u = client.user("a")
    r = client.delete(f"/Users/{u['id']}")
    assert r.status == 204 and r.body is None
    assert client.get(f"/Users/{u['id']}").status == 404
    assert client.delete(f"/Users/{u['id']}").status == 404
    assert repo.find("User", "userName", "a") == []


def test_responses_are_scim_json(client: Client) -> None:
    r = client.get("/Users")
    assert r.headers["Content-Type"] == "application/scim+json"
    assert json.loads(r.body_bytes())["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
