"""Issue 12 through the deployed shape (poll -> SQS -> reconcile -> SQS per target -> deliver, real handlers,
DynamoDB and SQS on moto): managers created in the same run as their reports (SPEC 13), a full poll that sees
a missing manager as owed, a stale manager cleared, and a duplicate account held (SPEC 12)."""

from __future__ import annotations

from tests.e2e.conftest import Cloud
from tests.unit.conftest import config, hire

N = 14


def org(aws_env: None) -> Cloud:
    cfg = config()
    cfg["systems"]["cloud"]["provision"] = True
    cloud = Cloud(cfg)
    for i in range(N, 0, -1):  # reports before their managers
        cloud["hr"].put(f"W{i}", Employee_ID=f"E{i}", Work_Email=f"p{i}@corp.example")
        cloud["ad"].put(f"guid-{i}", ref=f"CN=Person {i},OU=Staff,DC=corp", employeeID=f"E{i}",
                        mail=f"p{i}@corp.example", title="Engineer",
                        manager=f"CN=Person {i // 2},OU=Staff,DC=corp" if i > 1 else None)
    return cloud


def wrong_managers(cloud: Cloud) -> list[int]:
    accounts = cloud["cloud"].accounts
    by_eid = {a["attrs"].get("employerInfo.employeeId"): key for key, a in accounts.items()}
    return [i for i in range(2, N + 1)
            if cloud["cloud"].get(by_eid[f"E{i}"], "manager") != by_eid[f"E{i // 2}"]]


def test_managers_created_in_the_same_run_reach_the_cloud_through_the_handlers(aws_env: None) -> None:
    cloud = org(aws_env)
    cloud.sync()
    assert len(cloud["cloud"].accounts) == N
    assert wrong_managers(cloud) == []
    before = cloud.writes()
    cloud.sync()
    assert cloud.writes() == before


def test_a_full_poll_sees_a_missing_manager_as_owed(aws_env: None) -> None:
    """Records as an older run left them: cloud accounts created without their managers, the shadows saying
    so too. A scheduled poll sees nothing to do; a full poll (`{"full": true}`) decides again and writes them."""
    cloud = org(aws_env)
    cloud.sync()
    for rid in list(cloud.store.all_ids("person")):
        state = cloud.store.load(rid)
        shadow = state.shadows["cloud"]
        if shadow.values.get("manager"):
            shadow.values["manager"] = None
            cloud["cloud"].accounts[shadow.key]["attrs"]["manager"] = None
            cloud.store.save(state)
    broken = wrong_managers(cloud)
    assert len(broken) == N - 1
    cloud.sync()
    assert wrong_managers(cloud) == broken  # a scheduled poll: nothing changed, nothing owed
    cloud.poll("cloud", full=True)
    cloud.drain()
    assert wrong_managers(cloud) == []


def test_a_stale_manager_is_cleared_until_the_new_one_has_an_account(aws_env: None) -> None:
    cloud = Cloud(config())
    hire(cloud, 1)
    hire(cloud, 2, ad={"manager": "CN=Person 1,OU=Staff,DC=corp"}, cloud={"manager": "u1"})
    cloud.sync()
    cloud["hr"].put("W3", Employee_ID="E3", Work_Email="p3@corp.example")
    cloud["ad"].put("guid-3", ref="CN=Person 3,OU=Staff,DC=corp", employeeID="E3", mail="p3@corp.example")
    cloud["ad"].set("guid-2", manager="CN=Person 3,OU=Staff,DC=corp")
    cloud.sync()
    assert cloud["cloud"].get("u2", "manager") is None
    cloud["cloud"].put("u3", **{"employerInfo.employeeId": "E3", "email": "p3@corp.example"})
    cloud.sync()
    assert cloud["cloud"].get("u2", "manager") == "u3"


def test_a_duplicate_cloud_user_is_held_and_never_becomes_a_person(aws_env: None) -> None:
    cloud = Cloud(config())
    hire(cloud, 1)
    cloud.sync()
    cloud["cloud"].put("u1-copy", **{"employerInfo.employeeId": "E1", "email": "p1@corp.example"})
    cloud.sync()
    assert len(list(cloud.store.all_ids("person"))) == 1
    [item] = cloud.store.reviews()
    assert item["key"] == "u1-copy" and item["duplicate_of"] == ["cloud:u1"]
