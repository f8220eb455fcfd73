"""A create is made once: Genesys Cloud's users search finds an account a lost answer left behind, and a write's
result carries the user's `version` (the stand-in over HTTP; the whole bridge through `bootstrap.local`)."""

from __future__ import annotations

import copy
from typing import Any

from peoplesync.model import Write

from .conftest import Cloud
from .test_genesys_scenarios import CONFIG, World

EMAIL, EMPLOYEE_ID = "email", "employerInfo.employeeId"


def provisioning(cloud: Cloud) -> World:
    """The bridge with HR and AD in memory and the cloud (the stand-in) creating accounts for new hires."""
    cfg = copy.deepcopy(CONFIG)
    cfg["systems"]["cloud"]["provision"] = True
    return World(cloud, cfg)


def users_with(cloud: Cloud, email: str) -> list[dict[str, Any]]:
    return [u for u in cloud.standin.users.values() if u["email"] == email and u["state"] != "deleted"]


def create(**attrs: Any) -> Write:
    return Write("cloud", "create", "rec-1", None, dict(attrs))


# --- the bridge: a create that landed but was not recorded is linked, not made twice ------------------------
def test_a_create_whose_answer_was_lost_is_found_by_email_and_linked_not_created_twice(cloud: Cloud) -> None:
    world = provisioning(cloud)
    world.hire(1, cloud=False)  # a new hire: in HR and AD, not yet in the cloud
    cloud.standin.lose_next_answers(1, status=504, method="POST")  # the POST lands; its caller sees a 504
    report = world.sync()
    created = users_with(cloud, "p1@corp.example")
    assert len(created) == 1, created  # one account, not two
    assert cloud.standin.stats["answers lost (504)"] == 1 and cloud.standin.stats["searches"] == 1
    rid = world.store.by_link("person", "hr", "W1")
    assert rid is not None and world.store.by_link("person", "cloud", created[0]["id"]) == rid
    user = cloud.standin.user(created[0]["id"])  # what the lost answer's follow-up PATCH never set is written
    assert user["employerInfo"] == {"employeeId": "E1"} and user["title"] == "Title 1"
    assert not report.dead_letters and not world.bridge.dead_letters()
    before = world.writes_to_cloud()
    world.sync()
    assert world.writes_to_cloud() == before  # in agreement: nothing more to write


def test_a_create_that_did_not_land_is_made_once_after_the_search_finds_nothing(cloud: Cloud) -> None:
    world = provisioning(cloud)
    world.hire(1, cloud=False)
    cloud.standin.fail_next(1, status=503, method="POST")  # refused before the platform took it
    world.sync()
    assert len(users_with(cloud, "p1@corp.example")) == 1
    # looked up right after the failed POST (by e-mail), and before the retry once per match rule with a value
    # (employee id, then e-mail): nothing found, created once
    assert cloud.standin.stats["searches"] == 3 and cloud.standin.stats["injected 503"] == 1


class Crash(Exception):
    """The function died after the target took the write and before the bridge recorded it."""


def crash_after_create(world: World, *, half: bool = False) -> list[str]:
    """The next create lands in the cloud (with its follow-up PATCH, or, `half`, without it), then the
    delivery fails as if the function had died: nothing of it is recorded. Returns the ids created."""
    made: list[str] = []
    conn = world.connector
    real, real_update, real_post = conn._create, conn._update, conn.api.create_user

    def post(body: dict[str, Any]) -> Any:
        response = real_post(body)
        made.append(str(response.json()["id"]))
        return response

    def die(*args: Any, **kwargs: Any) -> Any:
        raise Crash("killed between the POST and its PATCH")

    def create(change: Write) -> Any:
        if made:
            return real(change)
        conn.api.create_user, conn._update = post, die if half else real_update  # type: ignore[method-assign]
        try:
            real(change)
        finally:
            conn.api.create_user, conn._update = real_post, real_update  # type: ignore[method-assign]
        raise Crash("killed after the create landed")

    conn._create = create  # type: ignore[method-assign]
    return made


def test_a_crash_after_a_create_landed_is_repaired_by_finding_the_user_by_employee_id(cloud: Cloud) -> None:
    world = provisioning(cloud)
    world.hire(1, cloud=False)
    made = crash_after_create(world)
    world.sync()
    assert [u["id"] for u in users_with(cloud, "p1@corp.example")] == made  # the one created before the crash
    rid = world.store.by_link("person", "hr", "W1")
    assert world.store.by_link("person", "cloud", made[0]) == rid
    assert cloud.standin.stats["searches"] >= 1 and not world.bridge.dead_letters()


def test_a_crash_between_the_post_and_its_patch_is_found_by_email_when_email_is_the_match_key(
        cloud: Cloud) -> None:
    cfg = copy.deepcopy(CONFIG)
    cfg["systems"]["cloud"]["provision"] = True
    cfg["match"] = ["email.work", "employee_id"]
    world = World(cloud, cfg)
    world.hire(1, cloud=False)
    made = crash_after_create(world, half=True)
    world.sync()
    assert [u["id"] for u in users_with(cloud, "p1@corp.example")] == made
    assert cloud.standin.user(made[0])["employerInfo"] == {"employeeId": "E1"}  # written after linking
    assert world.store.by_link("person", "cloud", made[0]) == world.store.by_link("person", "hr", "W1")
    assert not world.bridge.dead_letters()


# --- the connector -----------------------------------------------------------------------------------------
def test_find_account_by_email_returns_the_users_observation_as_a_read_would(cloud: Cloud) -> None:
    uid = cloud.hire(7)
    cloud.hire(8)
    conn = cloud.connector()
    found = conn.find_account({EMAIL: "P7@Corp.Example", EMPLOYEE_ID: "E7"})
    assert found is not None and found == conn.read_keys([uid]).observations[0]
    assert found.marker == 1 and found.attrs[EMPLOYEE_ID] == "E7"
    assert conn.find_account({EMPLOYEE_ID: "E8"}) is not None  # on a profile field alone
    assert conn.find_account({EMAIL: "nobody@corp.example"}) is None


def test_find_account_refuses_several_a_different_key_deleted_users_and_unsearchable_matches(cloud: Cloud) -> None:
    cloud.hire(1)
    cloud.hire(2, employerInfo={"employeeId": "E1"})  # two users with employee id E1
    gone = cloud.hire(3)
    cloud.standin.users[gone]["state"] = "deleted"
    inactive = cloud.hire(4, state="inactive")
    conn = cloud.connector()
    assert conn.find_account({EMPLOYEE_ID: "E1"}) is None  # several
    assert conn.find_account({EMAIL: "p1@corp.example", EMPLOYEE_ID: "E9"}) is None  # not the same person
    assert conn.find_account({EMAIL: "p3@corp.example"}) is None  # deleted: not an account to link
    found = conn.find_account({EMAIL: "p4@corp.example"})
    assert found is not None and found.key == inactive and not found.active
    assert conn.find_account({"addresses[mediaType=PHONE,type=WORK]": "+13175550100"}) is None  # not searchable
    assert conn.find_account({"unmapped": "x"}) is None


def test_find_account_is_one_search_request_paced_by_the_same_budget(cloud_factory: Any) -> None:
    cloud = cloud_factory(budget_per_minute=2)
    cloud.hire(1)
    conn = cloud.connector()
    assert conn.find_account({EMAIL: "p1@corp.example"}) is not None
    assert conn.find_account({EMAIL: "p1@corp.example"}) is not None
    assert conn.find_account({EMAIL: "p1@corp.example"}) is not None  # the third waits for the window
    assert cloud.standin.stats["searches"] == 3 and cloud.clock.slept >= 59


def test_a_create_returns_the_version_after_its_follow_up_patch_and_a_state_change_its_own(cloud: Cloud) -> None:
    conn = cloud.connector()
    result = conn.write(create(name="Ada Lee", email="ada@corp.example", title="Engineer", **{EMPLOYEE_ID: "E7"}))
    user = cloud.standin.user(str(result.key))
    assert user["version"] == 2 and result.marker == 2  # POST (1), then the PATCH of employerInfo (2)
    plain = conn.write(create(name="Bo Chen", email="bo@corp.example"))
    assert plain.marker == 1  # the POST's answer
    off = conn.write(Write("cloud", "deactivate", "rec-1", str(result.key), {}))
    assert off.marker == cloud.standin.user(str(result.key))["version"] == 3
