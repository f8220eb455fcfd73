"""The change guard (SPEC 16, issue 12 item 4) through `LocalBridge.sync`, the flow `peoplesync sync` runs:
a hold says exactly whom and what it holds, lifts by itself once those changes are gone, is approved one by
one, lets unrelated changes below the limit through, and a configuration change counts only the people who
would really get a write. (The same through the Lambda handlers: tests/e2e/test_spec_through_handlers.py;
through the real CLI on files: tests/integration/test_cli_runs.py.)"""

from __future__ import annotations

from typing import Any

from tests.unit.conftest import World, config, hire

GUARDED = {"max_changes_per_run": "10%"}  # 20 people: at most 2 may change in one run


def staff(n: int = 20, **extra: Any) -> World:
    world = World(config(policies=GUARDED))
    for i in range(1, n + 1):
        hire(world, i, **{k: v(i) for k, v in extra.items()})
    world.sync()
    return world


def holds(world: World) -> list[dict[str, Any]]:
    return [r for r in world.store.reviews() if r.get("kind") == "run"]


def test_a_hold_names_each_person_and_the_writes_it_keeps_back() -> None:
    world = staff()
    for n in range(1, 8):
        world["hr"].remove(f"W{n}")
    report = world.sync()
    [item] = holds(world)
    assert report.status == "held" and report.exit_code == 2 and report.holds[0]["id"] == item["id"]
    assert item["id"].startswith("hold:hr:") and item["count"] == 7 and item["accounts"] == 7
    people = {p["person"]: p["changes"] for p in item["people"]}
    assert people["E3, p3@corp.example"] == "ad deactivate; cloud deactivate"
    assert len(people) == 7 and not any(p.startswith("p-") for p in people)


def test_the_hold_lifts_by_itself_when_the_changes_are_undone_one_account_at_a_time() -> None:
    world = staff()
    for n in range(1, 8):
        world["hr"].remove(f"W{n}")
    world.sync()
    for n in range(1, 5):  # part of the export restored: the hold shrinks to what is still missing
        world["hr"].put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@corp.example")
    report = world.sync()
    [item] = holds(world)
    assert report.exit_code == 2 and item["accounts"] == 3
    assert sorted(p["person"] for p in item["people"]) == [f"E{n}, p{n}@corp.example" for n in (5, 6, 7)]
    for n in range(5, 8):
        world["hr"].put(f"W{n}", Employee_ID=f"E{n}", Work_Email=f"p{n}@corp.example")
    report = world.sync()
    assert holds(world) == [] and report.released == [item["id"]] and report.status == "in agreement"
    assert all(world["ad"].accounts[f"guid-{n}"]["active"] for n in range(1, 8))


def test_an_unrelated_change_below_the_limit_flows_while_a_hold_stays_open() -> None:
    world = staff()
    for n in range(1, 8):
        world["hr"].remove(f"W{n}")
    world.sync()
    world["ad"].set("guid-9", title="Promoted")
    report = world.sync()
    assert report.writes == {"cloud": 1} and world["cloud"].get("u9", "title") == "Promoted"
    assert report.status == "held" and len(holds(world)) == 1
    assert all(world["ad"].accounts[f"guid-{n}"]["active"] for n in range(1, 8))


def test_holds_are_approved_one_by_one() -> None:
    world = staff()
    for n in range(1, 4):  # 3 leavers in HR: one hold
        world["hr"].remove(f"W{n}")
    for n in range(11, 16):  # 5 retitled in AD: another
        world["ad"].set(f"guid-{n}", title="Reorganised")
    world.sync()
    by_system = {h["system"]: h["id"] for h in holds(world)}
    assert sorted(by_system) == ["ad", "hr"]
    world.bridge.approve(by_system["hr"])
    report = world.sync()
    assert [world["ad"].accounts[f"guid-{n}"]["active"] for n in (1, 2, 3, 4)] == [False, False, False, True]
    assert world["cloud"].get("u11", "title") == "Title 11"  # the other hold still holds
    assert [h["id"] for h in holds(world)] == [by_system["ad"]] and report.exit_code == 2
    world.bridge.approve(by_system["ad"])
    world.sync()
    assert [world["cloud"].get(f"u{n}", "title") for n in range(11, 16)] == ["Reorganised"] * 5
    assert holds(world) == []


def test_a_new_field_counts_the_people_whose_value_differs_not_everyone_re_evaluated() -> None:
    def department(n: int) -> dict[str, str]:
        return {"department": f"Dept {n}"}

    world = staff(ad=department, cloud=lambda n: {"department": "Old" if n <= 2 else f"Dept {n}"})
    cfg = config(policies=GUARDED)
    cfg["fields"]["department"] = {"source": "ad", "map": {"ad": "department", "cloud": "department"}}
    world.reconfigure(cfg)
    report = world.sync()  # 20 people re-evaluated, 2 need a write: within the limit
    assert report.holds == [] and report.writes == {"cloud": 2}
    assert world["cloud"].get("u1", "department") == "Dept 1"

    world = staff(ad=department, cloud=lambda n: {"department": "Old" if n <= 5 else f"Dept {n}"})
    world.reconfigure(cfg)
    report = world.sync()
    [item] = holds(world)
    assert item["count"] == 5 and "5 people would change (20 changed accounts in ad)" in item["reason"]
    assert item["accounts"] == 5  # the other 15 accounts' news writes nobody anything: it went on
    assert report.total_writes == 0 and world["cloud"].get("u1", "department") == "Old"
    world.bridge.approve(item["id"])
    report = world.sync()
    assert report.writes == {"cloud": 5} and world["cloud"].get("u1", "department") == "Dept 1"


def test_a_hold_left_by_an_older_version_is_dropped_and_its_changes_judged_again() -> None:
    world = staff()
    # the old guard held a whole poll and kept its cursor: its changes are simply read again
    world.store.add_review("run|hr", {"kind": "run", "system": "hr", "reason": "9 people would change"})
    world["ad"].set("guid-9", title="Promoted")
    report = world.sync()
    assert holds(world) == [] and report.status == "done" and world["cloud"].get("u9", "title") == "Promoted"
