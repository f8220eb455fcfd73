"""The `graph` connector (issue 13.2) against the Microsoft Graph stand-in over loopback HTTP: users and groups
read through delta rounds and nextLink paging, membership written with members/$ref in $batches of at most 20,
429 Retry-After waited out (outside and inside a $batch), a failed member read raising ReadFailed, groups Graph
cannot write refused with the reason and the ways that work."""

from __future__ import annotations

import pytest

from peoplesync.connectors import settings_problems
from peoplesync.model import Write
from peoplesync.ports import PermanentError, ReadFailed, TransientError

from .conftest import Tenant


def members(gid: str, add: list[str] = (), remove: list[str] = ()) -> Write:  # type: ignore[assignment]
    return Write("entra", "update", "grp-1", gid, {}, kind="group",
                 delta={"members": {"add": list(add), "remove": list(remove)}})


def by_key(result: object) -> dict[str, object]:
    return {o.key: o for o in result.observations}  # type: ignore[attr-defined]


# --- reads -------------------------------------------------------------------------------------------------
def test_a_full_read_has_every_user_and_every_member_of_a_group_spread_over_delta_pages(tenant: Tenant) -> None:
    ids = tenant.people(250)
    agents = tenant.g.add_group("Agents", members=ids[:230], mail="agents@contoso.example")
    small = tenant.g.add_group("Small", members=ids[:2])
    tenant.g.add_group("Out of scope", members=ids[:5])
    result = tenant.connector(groups={"ids": [agents, small]}).read()
    assert result.complete and result.cursor
    seen = by_key(result)
    group = seen[agents]
    assert group.kind == "group"  # type: ignore[attr-defined]
    assert group.attrs == {"displayName": "Agents", "members": tuple(sorted(ids[:230]))}  # type: ignore[attr-defined]
    assert seen[small].attrs["members"] == tuple(sorted(ids[:2]))  # type: ignore[attr-defined]
    user = seen[ids[7]]
    assert user.kind == "person" and user.active  # type: ignore[attr-defined]
    assert user.attrs == {"userPrincipalName": "p7@contoso.example", "employeeId": "E7", "jobTitle": "Agent",  # type: ignore[attr-defined]
                          "displayName": "Person 7"}
    assert len([o for o in result.observations if o.kind == "person"]) == 250  # type: ignore[attr-defined]


def test_groups_in_scope_by_a_filter(tenant: Tenant) -> None:
    ids = tenant.people(3)
    m365 = tenant.g.add_group("Team", members=ids, mailEnabled=True, groupTypes=["Unified"])
    tenant.g.add_group("Security", members=ids)
    result = tenant.connector(groups={"filter": "groupTypes/any(c:c eq 'Unified')"}).read()
    assert [o.key for o in result.observations if o.kind == "group"] == [m365]  # type: ignore[attr-defined]


def test_a_delta_read_returns_only_what_changed_and_reads_a_changed_group_whole(tenant: Tenant) -> None:
    ids = tenant.people(300)
    agents = tenant.g.add_group("Agents", members=ids[:250])
    quiet = tenant.g.add_group("Quiet", members=ids[:3])
    c = tenant.connector(groups={"ids": [agents, quiet]}, page_size=100)
    first = c.read()
    assert c.read(first.cursor).observations == []  # nothing changed: nothing read again
    tenant.g.edit_members(agents, add=ids[250:253], remove=ids[:2])
    tenant.g.edit_user(ids[9], jobTitle="Lead")
    result = c.read(first.cursor)
    assert not result.complete
    seen = by_key(result)
    assert set(seen) == {agents, ids[9]}
    assert seen[agents].attrs["members"] == tuple(sorted(ids[2:253]))  # type: ignore[attr-defined]
    assert seen[ids[9]].attrs["jobTitle"] == "Lead" and seen[ids[9]].attrs["employeeId"] == "E9"  # type: ignore[attr-defined]
    assert c.groups is not None and c.groups.stats["members read"] == 251  # 3 pages of 100 from /members


def test_a_removed_user_and_a_deleted_group_are_observed_as_removed(tenant: Tenant) -> None:
    ids = tenant.people(3)
    gid = tenant.g.add_group("Agents", members=ids)
    c = tenant.connector(groups={"ids": [gid]})
    first = c.read()
    tenant.g.remove_user(ids[0])
    tenant.g.delete_group(gid)
    seen = by_key(c.read(first.cursor))
    assert seen[ids[0]].removed and seen[gid].removed  # type: ignore[attr-defined]


def test_an_expired_delta_link_gives_a_full_read(tenant: Tenant) -> None:
    ids = tenant.people(3)
    gid = tenant.g.add_group("Agents", members=ids)
    c = tenant.connector(groups={"ids": [gid]})
    first = c.read()
    tenant.g.expire_delta_links()
    again = c.read(first.cursor)
    assert again.complete and len(again.observations) == 4


def test_a_member_listing_cut_short_fails_the_read_so_nobody_is_removed(tenant: Tenant) -> None:
    ids = tenant.people(150)
    gid = tenant.g.add_group("Agents", members=ids[:140])
    c = tenant.connector(groups={"ids": [gid]}, page_size=50)
    first = c.read()
    tenant.g.edit_members(gid, remove=[ids[0]])
    tenant.g.break_member_paging(gid)  # the second page of /members is refused
    with pytest.raises(ReadFailed, match="page token"):
        c.read(first.cursor)


def test_a_read_that_keeps_failing_raises_read_failed(tenant: Tenant) -> None:
    tenant.people(3)
    c = tenant.connector(max_retries=2)
    tenant.g.fail_next(10, 503, "GET")
    with pytest.raises(ReadFailed):
        c.read()


def test_a_429_on_a_read_is_waited_out_as_retry_after_says(tenant_factory: object) -> None:
    tenant = tenant_factory(budget=3, window=10, delta_page=10)  # type: ignore[operator]
    ids = tenant.people(60)
    gid = tenant.g.add_group("Agents", members=ids)
    result = tenant.connector(groups={"ids": [gid]}, page_size=10).read()
    assert by_key(result)[gid].attrs["members"] == tuple(sorted(ids))  # type: ignore[attr-defined]
    assert tenant.g.stats["429"] >= 1 and tenant.clock.slept >= 1


def test_a_wrong_secret_is_a_clear_failure(tenant: Tenant) -> None:
    with pytest.raises(ReadFailed, match="refused a token"):
        tenant.connector(secret="wrong").read()


# --- writes ------------------------------------------------------------------------------------------------
def test_adds_and_removes_go_as_members_ref_in_batches_of_at_most_20(tenant: Tenant) -> None:
    ids = tenant.people(60)
    gid = tenant.g.add_group("Agents", members=ids[:10])
    c = tenant.connector(groups={"ids": [gid]})
    c.write(members(gid, add=ids[10:55], remove=ids[:5]))
    assert sorted(tenant.g.member_ids(gid)) == sorted(ids[5:55])
    assert tenant.g.stats["batches"] == 3  # 50 requests: 20 + 20 + 10
    assert tenant.g.stats["objects deleted"] == 0 and len(tenant.g.users) == 60  # always /$ref


def test_adding_a_member_already_there_and_removing_one_already_gone_are_done(tenant: Tenant) -> None:
    ids = tenant.people(3)
    gid = tenant.g.add_group("Agents", members=ids[:1])
    c = tenant.connector(groups={"ids": [gid]})
    c.write(members(gid, add=ids[:2], remove=[ids[2]]))
    assert sorted(tenant.g.member_ids(gid)) == sorted(ids[:2])
    assert c.groups is not None and c.groups.stats == {"members read": 0, "already members": 1, "already gone": 1}


def test_a_429_inside_a_batch_is_retried_after_its_retry_after(tenant_factory: object) -> None:
    tenant = tenant_factory(budget=15, window=10)  # type: ignore[operator]
    ids = tenant.people(40)
    gid = tenant.g.add_group("Agents")
    c = tenant.connector(groups={"ids": [gid]})
    c.write(members(gid, add=ids))
    assert sorted(tenant.g.member_ids(gid)) == sorted(ids)
    assert tenant.g.stats["429"] >= 1 and tenant.clock.slept >= 1
    assert c.api.http.stats["batch retries"] >= 1


def test_a_batch_still_throttled_after_the_last_retry_goes_back_with_its_retry_after(tenant_factory: object) -> None:
    tenant = tenant_factory(budget=3, window=60)  # type: ignore[operator]
    ids = tenant.people(25)
    gid = tenant.g.add_group("Agents")
    c = tenant.connector(groups={"ids": [gid]}, max_retries=0)
    with pytest.raises(TransientError) as caught:
        c.write(members(gid, add=ids))
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


def test_an_unknown_member_is_refused_by_name_and_the_others_are_made(tenant: Tenant) -> None:
    ids = tenant.people(3)
    gid = tenant.g.add_group("Agents")
    with pytest.raises(PermanentError, match=r"1 of 4 membership changes refused.*no-such-user"):
        tenant.connector(groups={"ids": [gid]}).write(members(gid, add=[*ids, "no-such-user"]))
    assert sorted(tenant.g.member_ids(gid)) == sorted(ids)


@pytest.mark.parametrize(("security", "kind"), [(False, "distribution list"),
                                                 (True, "mail-enabled security group")])
def test_a_group_graph_cannot_write_is_refused_naming_its_type_and_the_ways_that_work(
        tenant: Tenant, security: bool, kind: str) -> None:
    ids = tenant.people(2)
    gid = tenant.g.add_group("All staff", members=ids[:1], mailEnabled=True, securityEnabled=security)
    with pytest.raises(PermanentError) as caught:
        tenant.connector(groups={"ids": [gid]}).write(members(gid, add=[ids[1]]))
    text = str(caught.value)
    assert f"is a {kind}" in text and "Microsoft Graph cannot change its members" in text
    assert "Active Directory" in text and "Microsoft 365 group" in text and "Exchange Online PowerShell" in text
    assert tenant.g.member_ids(gid) == ids[:1]


def test_a_filter_selecting_distribution_lists_is_a_validation_error_unless_read_only() -> None:
    settings = {"tenant_id": "t", "groups": {"filter": "mailEnabled eq true and securityEnabled eq false"}}
    problems = settings_problems("graph", settings)
    assert len(problems) == 1 and problems[0][0] == "groups"
    assert "distribution lists or mail-enabled security groups" in problems[0][1]
    assert "Exchange Online PowerShell" in problems[0][1]
    settings["groups"]["read_only"] = True  # type: ignore[index]
    assert settings_problems("graph", settings) == []
    assert settings_problems("graph", {"tenant_id": "t", "batch_size": 21})[0][0] == "batch_size"


def test_user_writes_are_refused_with_the_reason(tenant: Tenant) -> None:
    uid = tenant.people(1)[0]
    with pytest.raises(PermanentError, match="writing users through Microsoft Graph is not supported"):
        tenant.connector().write(Write("entra", "update", "p-1", uid, {"jobTitle": "Lead"}))


def test_keys_read_again_tell_groups_from_users_and_gone_users(tenant: Tenant) -> None:
    ids = tenant.people(2)
    gid = tenant.g.add_group("Team", members=ids, mailEnabled=True, groupTypes=["Unified"])
    c = tenant.connector(groups={"filter": "groupTypes/any(c:c eq 'Unified')"})
    tenant.g.remove_user(ids[1])
    seen = by_key(c.read_keys([gid, ids[0], ids[1]]))
    assert (seen[gid].kind, seen[gid].removed) == ("group", False)  # type: ignore[attr-defined]
    assert seen[gid].attrs["members"] == (ids[0],)  # type: ignore[attr-defined]
    assert (seen[ids[0]].kind, seen[ids[0]].removed) == ("person", False)  # type: ignore[attr-defined]
    assert (seen[ids[1]].kind, seen[ids[1]].removed) == ("person", True)  # type: ignore[attr-defined]


def test_more_than_50_groups_are_read_in_several_delta_queries_and_followed_each(tenant: Tenant) -> None:
    ids = tenant.people(3)
    groups = [tenant.g.add_group(f"G{i}", members=ids[: i % 3 + 1]) for i in range(60)]
    c = tenant.connector(groups={"ids": groups})
    first = c.read()
    assert len([o for o in first.observations if o.kind == "group"]) == 60  # type: ignore[attr-defined]
    tenant.g.edit_members(groups[55], add=[ids[2]])
    tenant.g.edit_members(groups[3], remove=[ids[0]])
    changed = by_key(c.read(first.cursor))
    assert set(changed) == {groups[55], groups[3]}


def test_the_stand_in_keeps_graphs_limits(tenant: Tenant) -> None:
    import requests

    token = requests.post(f"{tenant.base_url}/{tenant.g.tenant}/oauth2/v2.0/token", timeout=5, data={
        "grant_type": "client_credentials", "client_id": "peoplesync-app", "client_secret": "app-secret",
        "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    root = f"{tenant.base_url}/v1.0"
    too_big = requests.get(f"{root}/users", params={"$top": 1000}, headers=auth, timeout=5)
    assert too_big.status_code == 400 and "between 1 and 999" in too_big.json()["error"]["message"]
    batch = {"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]}
    assert requests.post(f"{root}/$batch", json=batch, headers=auth, timeout=5).status_code == 400
    ids = " or ".join(f"id eq 'g{i}'" for i in range(51))
    assert requests.get(f"{root}/groups/delta", params={"$filter": ids}, headers=auth, timeout=5).status_code == 400
    refused = requests.post(f"{tenant.base_url}/{tenant.g.tenant}/oauth2/v2.0/token", timeout=5, data={
        "grant_type": "client_credentials", "client_id": "peoplesync-app", "client_secret": "app-secret",
        "scope": "User.Read"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


def test_validate_says_graph_creates_and_deactivates_nothing(tenant: Tenant) -> None:
    from peoplesync import bootstrap

    config = {"systems": {"hr": {"connector": "csv", "path": "hr.csv", "key": "id"},
                          "entra": {"connector": "graph", "tenant_id": tenant.g.tenant, "provision": True}},
              "fields": {"employee_id": {"source": "hr", "map": {"hr": "id", "entra": "employeeId"}}},
              "match": ["employee_id"]}
    plan = bootstrap.plan_of(bootstrap.load_config(config))
    assert plan.systems["entra"].writable and not plan.systems["entra"].provision
    assert "creates neither users nor groups" in plan.systems["entra"].cannot["create"]


def test_a_group_that_comes_to_match_the_filter_joins_at_the_next_poll_with_all_its_members(tenant: Tenant) -> None:
    ids = tenant.people(130)
    tenant.g.add_group("Team A", members=ids[:2], mailEnabled=True, groupTypes=["Unified"])
    c = tenant.connector(groups={"filter": "groupTypes/any(c:c eq 'Unified')"})
    first = c.read()
    late = tenant.g.add_group("Team B", members=ids[2:130], mailEnabled=True, groupTypes=["Unified"])
    second = c.read(first.cursor)
    assert set(by_key(second)) == {late}
    assert by_key(second)[late].attrs["members"] == tuple(sorted(ids[2:130]))  # type: ignore[attr-defined]
    tenant.g.edit_members(late, remove=[ids[2]])
    assert by_key(c.read(second.cursor))[late].attrs["members"] == tuple(sorted(ids[3:130]))  # type: ignore[attr-defined]


def test_a_whole_member_set_is_refused_never_applied(tenant: Tenant) -> None:
    ids = tenant.people(3)
    gid = tenant.g.add_group("Agents", members=ids)
    with pytest.raises(PermanentError, match="adds and removes"):
        tenant.connector(groups={"ids": [gid]}).write(Write("entra", "update", "g", gid, {"members": (ids[0],)},
                                                            kind="group"))
    assert tenant.g.member_ids(gid) == ids


def test_a_smaller_batch_size_is_kept(tenant: Tenant) -> None:
    ids = tenant.people(50)
    gid = tenant.g.add_group("Agents")
    tenant.connector(groups={"ids": [gid]}, batch_size=7).write(members(gid, add=ids))
    assert tenant.g.stats["batches"] == 8 and sorted(tenant.g.member_ids(gid)) == sorted(ids)
