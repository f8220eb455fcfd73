"""SPEC scenarios at engine level: each test is one row of the scenario table (Given / When / Then).

The systems are in-memory (MemoryConnector); a `sync()` polls every system, reconciles and delivers, exactly
as a scheduled run does. End-to-end versions through the Lambda handlers live in tests/e2e.
"""

from __future__ import annotations

from peoplesync.model import Observation
from tests.unit.conftest import World, config, hire

PHONE = "addresses[mediaType=PHONE,type=WORK]"
HOME_EMAIL = "addresses[mediaType=EMAIL,type=HOME]"


def test_01_a_title_changed_in_its_source_reaches_every_system_that_maps_it(world: World) -> None:
    hire(world)
    world.sync()
    world["ad"].set("guid-1", title="Principal Engineer")
    report = world.sync()
    assert world["cloud"].get("u1", "title") == "Principal Engineer"
    assert report.writes == {"cloud": 1}


def test_02_a_cloud_edit_of_an_ad_sourced_title_is_put_back(world: World) -> None:
    hire(world)
    world.sync()
    world["cloud"].set("u1", title="Chief Everything Officer")
    world.sync()
    assert world["cloud"].get("u1", "title") == "Title 1"
    assert world["ad"].get("guid-1", "title") == "Title 1"


def test_03_personal_email_flows_from_the_cloud_and_an_ad_edit_is_overwritten(world: World) -> None:
    hire(world)
    world.sync()
    world["cloud"].set("u1", **{HOME_EMAIL: "me@home.example"})
    world.sync()
    assert world["ad"].get("guid-1", "otherMailbox") == "me@home.example"
    world["ad"].set("guid-1", otherMailbox="someone@else.example")
    world.sync()
    assert world["ad"].get("guid-1", "otherMailbox") == "me@home.example"


def test_04_a_two_way_phone_changed_on_either_side_reaches_the_other(world: World) -> None:
    hire(world)
    world.sync()
    world["cloud"].set("u1", **{PHONE: "+1 317 555 0142"})
    world.sync()
    assert world["ad"].get("guid-1", "telephoneNumber") == "+13175550142"
    world["ad"].set("guid-1", telephoneNumber="(317) 555-0199")
    world.sync()
    assert world["cloud"].get("u1", PHONE) == "+13175550199"


def test_05_both_sides_change_the_phone_between_syncs_the_winner_ends_on_both_and_it_is_recorded(
        world: World) -> None:
    hire(world)
    world.sync()
    world["ad"].set("guid-1", telephoneNumber="+13175550111")
    world["cloud"].set("u1", **{PHONE: "+13175550222"})
    report = world.sync()
    assert world["ad"].get("guid-1", "telephoneNumber") == "+13175550111"
    assert world["cloud"].get("u1", PHONE) == "+13175550111"
    assert report.conflicts == 1
    rid = world.store.by_link("person", "ad", "guid-1")
    conflicts = [d for d in world.store.decisions(rid, "phone.work") if d["conflict"]]
    assert conflicts and conflicts[-1]["system"] == "ad"


def test_05b_the_winner_prevails_whichever_side_is_reconciled_first() -> None:
    cfg = config()
    cfg["systems"] = {"cloud": {"connector": "memory"}, "hr": {"connector": "memory", "writable": False},
                      "ad": {"connector": "memory"}}  # the cloud is polled first this time
    world = World(cfg)
    hire(world)
    world.sync()
    world["ad"].set("guid-1", telephoneNumber="+13175550111")
    world["cloud"].set("u1", **{PHONE: "+13175550222"})
    report = world.sync()
    assert world["ad"].get("guid-1", "telephoneNumber") == "+13175550111"
    assert world["cloud"].get("u1", PHONE) == "+13175550111"
    assert report.conflicts == 1


def test_06_ad_and_cloud_both_take_hr_s_email(world: World) -> None:
    hire(world)
    world["ad"].set("guid-1", mail="old@corp.example")
    world["cloud"].set("u1", email="stale@corp.example")
    world.sync()
    assert world["ad"].get("guid-1", "mail") == "p1@corp.example"
    assert world["cloud"].get("u1", "email") == "p1@corp.example"


def test_10_a_second_sync_with_nothing_changed_writes_nothing(world: World) -> None:
    for n in range(1, 6):
        hire(world, n)
    world["cloud"].set("u3", title="drifted")
    first = world.sync()
    assert first.total_writes == 1
    before = {name: len(c.writes) for name, c in world.systems.items()}
    second = world.sync()
    assert second.total_writes == 0
    assert {name: len(c.writes) for name, c in world.systems.items()} == before
    assert second.decisions == []


def test_11_a_duplicated_or_reordered_event_changes_nothing_and_no_value_goes_back_in_time(
        world: World) -> None:
    hire(world)
    world.sync()
    old = world["ad"].observation("guid-1")
    world["ad"].set("guid-1", title="Newer")
    new = world["ad"].observation("guid-1")
    world.bridge.receive(new)
    world.bridge.receive(new)  # delivered twice
    world.bridge.receive(old)  # the older event arrives last
    rid = world.store.by_link("person", "ad", "guid-1")
    assert world.store.load(rid).golden["title"] == "Newer"
    world.sync()
    assert world["cloud"].get("u1", "title") == "Newer"
    assert len([w for w in world["cloud"].writes if "title" in w.attrs]) == 1


def test_12_existing_accounts_are_linked_to_one_person_and_an_ambiguous_one_is_held(world: World) -> None:
    hire(world, 1)
    hire(world, 2)
    # an AD account with no employee id and an e-mail two HR workers share: ambiguous
    world["hr"].put("W3", Employee_ID="E3", Work_Email="shared@corp.example")
    world["hr"].put("W4", Employee_ID="E4", Work_Email="shared@corp.example")
    world["ad"].put("guid-x", mail="Shared@Corp.example", title="Mystery")
    report = world.sync()
    people = list(world.store.all_ids("person"))
    assert len(people) == 4  # W1..W4; the AD and cloud accounts of 1 and 2 joined them
    assert world.record_of("ad", "guid-1").id == world.record_of("cloud", "u1").id
    assert world.record_of("ad", "guid-x") is None
    assert report.held_for_review == 1
    assert [r["key"] for r in world.store.reviews()] == ["guid-x"]
    assert world["ad"].get("guid-x", "title") == "Mystery"
    assert not [w for w in world["ad"].writes if w.key == "guid-x"]


def test_13_a_manager_dn_becomes_the_managers_cloud_id_even_when_the_manager_comes_later() -> None:
    world = World(config())
    hire(world, 2, ad={"manager": "cn=person 1,ou=staff,dc=corp"})  # the manager is not known yet
    world.sync()
    assert world["cloud"].get("u2", "manager") is None
    hire(world, 1)
    world.sync()
    assert world["cloud"].get("u2", "manager") == "u1"
    assert world.sync().total_writes == 0


def test_14_phones_equal_after_e164_normalisation_are_no_change(world: World) -> None:
    hire(world, 1, ad={"telephoneNumber": "+1 (317) 555-0100"}, cloud={PHONE: "+13175550100"})
    report = world.sync()
    assert report.total_writes == 0


def test_15_a_person_disabled_in_hr_is_deactivated_elsewhere_and_comes_back_when_reenabled(
        world: World) -> None:
    hire(world)
    world.sync()
    world["hr"].disable("W1")
    world.sync()
    assert world["ad"].accounts["guid-1"]["active"] is False
    assert world["cloud"].accounts["u1"]["active"] is False
    assert "guid-1" in world["ad"].accounts  # deactivated, not deleted
    world["hr"].disable("W1", active=True)
    world.sync()
    assert world["ad"].accounts["guid-1"]["active"] is True
    assert world["cloud"].accounts["u1"]["active"] is True


def test_15b_removed_from_hr_with_policy_delete_deletes_elsewhere() -> None:
    world = World(config(policies={"removed": "delete", "max_changes_per_run": None}))
    hire(world, 1)
    hire(world, 2)
    world.sync()
    world["hr"].remove("W1")
    world.sync()
    assert "guid-1" not in world["ad"].accounts
    assert "u1" not in world["cloud"].accounts


def test_19_hire_date_is_set_at_creation_only_and_location_fills_only_a_blank() -> None:
    cfg = config()
    cfg["systems"]["cloud"]["provision"] = True
    cfg["fields"]["hire_date"] = {"source": "hr", "apply": "on_create", "normalize": "date",
                                  "map": {"hr": "Hire_Date", "cloud": "employerInfo.dateHire"}}
    cfg["fields"]["location"] = {"source": "hr", "apply": "if_empty",
                                 "map": {"hr": "Work_Location", "cloud": "locations"}}
    world = World(cfg)
    world["hr"].put("W1", Employee_ID="E1", Work_Email="p1@corp.example", Hire_Date="2024-03-01T00:00:00",
                    Work_Location="Indianapolis")
    world.sync()
    [key] = world["cloud"].accounts
    assert world["cloud"].get(key, "employerInfo.dateHire") == "2024-03-01"
    assert world["cloud"].get(key, "locations") == "Indianapolis"
    world["hr"].set("W1", Hire_Date="2024-04-01", Work_Location="Remote")
    world.sync()
    assert world["cloud"].get(key, "employerInfo.dateHire") == "2024-03-01"
    assert world["cloud"].get(key, "locations") == "Indianapolis"
    world["cloud"].set(key, locations=None)  # blanked in the cloud: the next sync fills it
    world.sync()
    assert world["cloud"].get(key, "locations") == "Remote"


def test_21_a_new_field_is_applied_to_everyone_after_the_mapping_changes(world: World) -> None:
    for n in range(1, 4):
        hire(world, n, ad={"department": f"Dept {n}"})
    world.sync()
    assert world.sync().total_writes == 0
    cfg = config()
    cfg["fields"]["department"] = {"source": "ad", "map": {"ad": "department", "cloud": "department"}}
    world.reconfigure(cfg)
    report = world.sync()
    assert report.full
    assert [world["cloud"].get(f"u{n}", "department") for n in range(1, 4)] == ["Dept 1", "Dept 2", "Dept 3"]
    assert world.sync().total_writes == 0


def test_21b_a_resourced_field_is_reevaluated_for_people_who_did_not_change(world: World) -> None:
    hire(world, 1)
    world.sync()
    world["cloud"].set("u1", title="Cloud Title")
    cfg = config()
    cfg["fields"]["title"] = {"source": "cloud", "map": {"ad": "title", "cloud": "title"}}
    world.reconfigure(cfg)
    world.sync()
    assert world["ad"].get("guid-1", "title") == "Cloud Title"


def test_16_a_run_changing_more_than_the_allowed_share_is_held_and_reported() -> None:
    world = World(config(policies={"max_changes_per_run": "10%"}))
    for n in range(1, 21):
        hire(world, n)
    world.sync()
    for n in range(1, 6):  # 5 of 20 people = 25% > 10%
        world["ad"].set(f"guid-{n}", title="Reorganised")
    report = world.sync()
    assert report.held_by_guard and "5 people" in report.held_by_guard
    assert report.total_writes == 0
    assert world["cloud"].get("u1", "title") == "Title 1"
    approved = world.sync(approve=True)
    assert approved.writes == {"cloud": 5}


def test_16b_a_held_run_releases_once_the_change_is_undone_and_a_small_change_then_goes_through() -> None:
    world = World(config(policies={"max_changes_per_run": "10%"}))
    for n in range(1, 21):
        hire(world, n)
    world.sync()
    for n in range(1, 8):  # 7 of 20 leave HR by mistake: held
        world["hr"].remove(f"W{n}")
    assert world.sync().held_by_guard
    for n in range(1, 8):  # the export is restored
        world["hr"].put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@corp.example")
    world["ad"].set("guid-9", title="Promoted")  # and one ordinary change
    report = world.sync()
    assert report.held_by_guard is None
    assert report.writes == {"cloud": 1} and world["cloud"].get("u9", "title") == "Promoted"
    assert all(world["ad"].accounts[f"guid-{n}"]["active"] for n in range(1, 8))


def test_20_an_empty_or_failed_read_deactivates_nobody(world: World) -> None:
    hire(world)
    world.sync()
    world["hr"].remove("W1")  # the report came back empty
    report = world.sync()
    assert "hr" in report.read_failures
    assert world["ad"].accounts["guid-1"]["active"] is True
    world["hr"].put("W1", Employee_ID="E1", Work_Email="p1@corp.example")
    world["hr"].fail_reads = ConnectionError("connection refused")
    report = world.sync()
    assert "connection refused" in report.read_failures["hr"]
    assert world["ad"].accounts["guid-1"]["active"] is True


def test_18_writes_to_a_down_target_wait_then_dead_letter_and_replay_loses_nothing(world: World) -> None:
    from peoplesync.ports import TransientError

    hire(world)
    world.sync()
    world["ad"].set("guid-1", title="Director")
    world["cloud"].fail_writes = TransientError("429 Too Many Requests", retry_after=2.0)
    slept: list[float] = []
    world.bridge.sleep = slept.append
    report = world.sync()
    assert report.dead_letters == 1 and slept == [2.0, 2.0, 2.0, 2.0]
    assert world["cloud"].get("u1", "title") == "Title 1"
    assert world.bridge.dead_letters()[0]["reason"].startswith("TransientError: 429")
    world["cloud"].fail_writes = None
    world.bridge.replay()
    assert world["cloud"].get("u1", "title") == "Director"
    assert world.bridge.dead_letters() == []


def test_unmapped_attributes_in_an_observation_change_nothing(world: World) -> None:
    hire(world)
    world.sync()
    obs = world["ad"].observation("guid-1")
    obs.attrs["mobile"] = "+15550000000"
    obs.marker = 10**9
    result = world.bridge.reconciler.observation(obs)
    assert result.writes == set() and result.decisions == []
    state = world.record_of("ad", "guid-1")
    assert "mobile" not in state.shadows["ad"].values


def test_every_decision_explains_itself_in_one_line(world: World) -> None:
    hire(world)
    world.sync()
    world["cloud"].set("u1", title="drift")
    report = world.sync()
    lines = report.decisions
    assert lines and all("\n" not in line for line in lines)
    assert any("title: 'drift' -> 'Title 1' (ad is the source; cloud's edit overwritten)" in line
               for line in lines)


def test_a_stale_observation_is_reported_as_such(world: World) -> None:
    hire(world)
    world.sync()
    stale = Observation("ad", "guid-1", {"title": "Old"}, marker=0)
    assert world.bridge.reconciler.observation(stale).status == "stale"


# --- the SCIM identity provider: push-only, one direction (seeds/002) ---------------------------------------
DEPT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"


def idp_world() -> World:
    cfg = config()
    cfg["systems"]["idp"] = {"connector": "scim", "tokens": "secret:scim-tokens"}
    cfg["fields"]["department"] = {"source": "idp", "map": {"idp": DEPT, "ad": "department",
                                                            "cloud": "department"}}
    cfg["fields"]["email.work"]["map"]["idp"] = "userName"
    w = World(cfg)
    hire(w)
    w.sync()
    return w


def push(w: World, version: int, **attrs: object) -> None:
    w.bridge.receive(Observation("idp", "scim-1", {"userName": "p1@corp.example", **attrs}, marker=version))
    w.bridge.deliver_owed()


def test_07_a_department_pushed_by_the_idp_overwrites_the_cloud_and_ad() -> None:
    w = idp_world()
    push(w, 1, **{DEPT: "Finance"})
    assert w["cloud"].get("u1", "department") == "Finance"
    assert w["ad"].get("guid-1", "department") == "Finance"


def test_08_a_cloud_edit_of_an_idp_field_stands_until_the_idp_syncs_that_user_again() -> None:
    w = idp_world()
    push(w, 1, **{DEPT: "Finance"})
    w["cloud"].set("u1", department="Sales")
    w.sync()
    assert w["cloud"].get("u1", "department") == "Sales"  # stands: the IdP has not synced since
    push(w, 2, **{DEPT: "Finance"})  # the IdP syncs the user again, same department
    assert w["cloud"].get("u1", "department") == "Finance"
    assert not any(write.system == "idp" for c in w.systems.values() for write in c.writes)


def test_09_a_mobile_the_idp_does_not_map_is_neither_written_nor_overwritten() -> None:
    w = idp_world()
    before = {name: len(c.writes) for name, c in w.systems.items()}
    w.bridge.receive(Observation("idp", "scim-1", {"userName": "p1@corp.example",
                                                   "phoneNumbers[type eq \"mobile\"].value": "+15550001"},
                                 marker=1))
    w.bridge.deliver_owed()
    assert {name: len(c.writes) for name, c in w.systems.items()} == before
    w["cloud"].set("u1", **{"addresses[mediaType=PHONE,type=MOBILE]": "+13175550123"})
    w.sync()
    push(w, 2)
    assert {name: len(c.writes) for name, c in w.systems.items()} == before  # nothing written anywhere
    assert w["cloud"].get("u1", "addresses[mediaType=PHONE,type=MOBILE]") == "+13175550123"
    assert "mobile" not in str(w.record_of("cloud", "u1").to_dict())
