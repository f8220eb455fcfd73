"""Genesys Cloud groups (issue 13.3) against the stand-in over loopback HTTP: groups and members read page by
page, membership written as adds and removes in batches of at most 50 with the group's version, a 409 retried
with the new version, a truncated or failed member read raising ReadFailed, groups created."""

from __future__ import annotations

import pytest

from peoplesync.model import Write
from peoplesync.ports import PermanentError, ReadFailed
from peoplesync_dev.standins import genesys_groups as gg

from .conftest import Cloud

ATTRS = ["name", "email", "employerInfo.employeeId", "members", "description"]


def members_write(gid: str | None, add: list[str] = (), remove: list[str] = (), op: str = "update",  # type: ignore[assignment]
                  **attrs: object) -> Write:
    return Write("cloud", op, "grp-1", gid, dict(attrs), kind="group",
                 delta={"members": {"add": list(add), "remove": list(remove)}})


def groups_of(result: object) -> dict[str, object]:
    return {o.key: o for o in result.observations if o.kind == "group"}  # type: ignore[attr-defined]


def test_groups_in_scope_are_read_with_every_member_page_by_page(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(120)]
    agents = gg.add_group(cloud.standin, "Agents", members=ids[:105], description="Front line")
    gg.add_group(cloud.standin, "Other", members=ids[:3])
    c = cloud.connector(ATTRS, groups={"names": ["Agents"], "page_size": 25})
    result = c.read(full=True)
    assert result.complete
    groups = groups_of(result)
    assert list(groups) == [agents]  # only the group in scope
    obs = groups[agents]
    assert obs.kind == "group" and obs.marker == 1  # type: ignore[attr-defined]
    assert obs.attrs == {"name": "Agents", "description": "Front line", "members": tuple(sorted(ids[:105]))}  # type: ignore[attr-defined]
    assert cloud.standin.stats["GET requests"] >= 5 + 1  # 5 member pages of 25, and the group listing
    users = [o for o in result.observations if o.kind == "person"]
    assert len(users) == 120 and "members" not in users[0].attrs


def test_groups_by_id_and_by_name_prefix(cloud: Cloud) -> None:
    uid = cloud.hire(1)
    a = gg.add_group(cloud.standin, "Sales EMEA", members=[uid])
    b = gg.add_group(cloud.standin, "Sales US")
    gg.add_group(cloud.standin, "Support")
    assert set(groups_of(cloud.connector(ATTRS, groups={"ids": [b]}).read(full=True))) == {b}
    assert set(groups_of(cloud.connector(ATTRS, groups={"name_prefix": "Sales "}).read(full=True))) == {a, b}


def test_a_truncated_member_read_fails_the_read_so_nobody_is_removed(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(60)]
    gid = gg.add_group(cloud.standin, "Agents", members=ids)
    gg.truncate_members(cloud.standin, gid, 7)
    with pytest.raises(ReadFailed, match="could not be read whole"):
        cloud.connector(ATTRS, groups={"ids": [gid], "page_size": 25}).read(full=True)


def test_a_member_read_that_keeps_failing_fails_the_read(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(3)]
    gid = gg.add_group(cloud.standin, "Agents", members=ids)
    c = cloud.connector(ATTRS, groups={"ids": [gid]}, max_retries=1)
    cloud.standin.fail_next(10, 503, "GET")
    with pytest.raises(ReadFailed):
        c.read(full=True)


def test_adds_and_removes_go_in_batches_of_at_most_50_with_the_groups_version(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(130)]
    keep, leave, join = ids[:10], ids[10:30], ids[30:]
    gid = gg.add_group(cloud.standin, "Agents", members=keep + leave)
    c = cloud.connector(ATTRS, groups={"ids": [gid]})
    c.write(members_write(gid, add=join, remove=leave))
    assert sorted(gg.group(cloud.standin, gid)["members"]) == sorted(keep + join)
    stats = cloud.standin.stats
    assert stats["group member adds"] == 2 and stats["group member removes"] == 1  # 100 added as 50 + 50
    assert stats["answered 409"] == 0  # each batch was sent with the version the last one left
    assert gid in cloud.standin.users[join[0]]["groups"]


def test_a_stale_version_is_retried_with_the_new_one_and_keeps_the_other_change(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(3)]
    gid = gg.add_group(cloud.standin, "Agents", members=[ids[0]])
    c = cloud.connector(ATTRS, groups={"ids": [gid]})
    edited: list[bool] = []

    def meanwhile(method: str, path: str, query: object) -> None:
        if method == "POST" and path.endswith("/members") and not edited:
            edited.append(True)
            gg.edit_members(cloud.standin, gid, add=[ids[2]])  # an admin, between our read and our add

    cloud.standin.hooks.append(meanwhile)
    c.write(members_write(gid, add=[ids[1]]))
    assert sorted(gg.group(cloud.standin, gid)["members"]) == sorted(ids)
    assert cloud.standin.stats["answered 409"] == 1


def test_adding_a_member_already_there_and_removing_one_already_gone_are_done(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(3)]
    gid = gg.add_group(cloud.standin, "Agents", members=[ids[0]])
    c = cloud.connector(ATTRS, groups={"ids": [gid]})
    result = c.write(members_write(gid, add=[ids[0], ids[1]], remove=[ids[2]]))
    assert result.key == gid
    assert sorted(gg.group(cloud.standin, gid)["members"]) == sorted(ids[:2])


def test_a_429_on_a_member_add_is_waited_out(cloud_factory: object) -> None:
    cloud = cloud_factory(budget_per_minute=2)  # type: ignore[operator]
    ids = [cloud.hire(n) for n in range(120)]
    gid = gg.add_group(cloud.standin, "Agents")
    c = cloud.connector(ATTRS, groups={"ids": [gid]}, requests_per_minute=10_000)  # the client trusts too much
    c.write(members_write(gid, add=ids))
    assert sorted(gg.group(cloud.standin, gid)["members"]) == sorted(ids)
    assert cloud.standin.stats["429"] >= 1 and cloud.clock.slept > 0


def test_a_group_is_created_with_its_members(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(60)]
    c = cloud.connector(ATTRS, groups={"name_prefix": ""})
    result = c.write(members_write(None, add=ids, op="create", name="New team", description="made by the bridge"))
    made = gg.group(cloud.standin, str(result.key))
    assert made["name"] == "New team" and sorted(made["members"]) == sorted(ids)
    assert made["type"] == "official"


def test_a_rename_is_written_with_the_version(cloud: Cloud) -> None:
    gid = gg.add_group(cloud.standin, "Agents")
    cloud.connector(ATTRS, groups={"ids": [gid]}).write(members_write(gid, name="Agents EMEA"))
    assert gg.group(cloud.standin, gid)["name"] == "Agents EMEA"


def test_a_group_write_to_a_system_without_groups_is_refused(cloud: Cloud) -> None:
    with pytest.raises(PermanentError, match="members"):  # members is not mapped where groups are not set
        cloud.connector(["name", "email"]).write(members_write("g1", add=["u1"]))
    with pytest.raises(PermanentError, match="groups"):
        cloud.connector(["name", "email"]).write(Write("cloud", "update", "g", "g1", {"name": "x"}, kind="group"))


def test_a_group_key_re_read_is_observed_as_a_group_not_a_removed_user(cloud: Cloud) -> None:
    uid = cloud.hire(1)
    gid = gg.add_group(cloud.standin, "Agents", members=[uid])
    result = cloud.connector(ATTRS, groups={"ids": [gid]}).read_keys([gid, uid])
    kinds = {o.key: (o.kind, o.removed) for o in result.observations}
    assert kinds == {gid: ("group", False), uid: ("person", False)}


def test_the_batch_limit_of_50_is_kept_by_the_settings_and_by_the_stand_in(cloud: Cloud) -> None:
    from peoplesync.connectors import settings_problems

    problems = settings_problems("genesys_cloud", {"base_url": cloud.base_url, "groups": {"ids": ["g"],
                                                                                         "batch_size": 51}})
    assert [p[0] for p in problems] == ["groups.batch_size"]
    assert settings_problems("genesys_cloud", {"base_url": cloud.base_url, "groups": {}})[0][0] == "groups"
    ids = [cloud.hire(n) for n in range(51)]
    gid = gg.add_group(cloud.standin, "Agents")
    c = cloud.connector(ATTRS, groups={"ids": [gid]})
    response = c.api.http.request("POST", f"/api/v2/groups/{gid}/members", json={"memberIds": ids, "version": 1})
    assert response.status_code == 400 and "maximum of 50" in response.json()["message"]


def test_a_whole_member_set_is_refused_never_applied(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(3)]
    gid = gg.add_group(cloud.standin, "Agents", members=ids)
    with pytest.raises(PermanentError, match="adds and removes"):
        cloud.connector(ATTRS, groups={"ids": [gid]}).write(Write("cloud", "update", "g", gid,
                                                                  {"members": (ids[0],)}, kind="group"))
    assert gg.group(cloud.standin, gid)["members"] == ids


def test_an_attribute_neither_users_nor_groups_have_is_named_with_both(cloud: Cloud) -> None:
    with pytest.raises(PermanentError, match=r"unknown Genesys Cloud user attribute 'mail'.*a group has name"):
        cloud.connector(["name", "members", "mail"], groups={"ids": ["g"]})
