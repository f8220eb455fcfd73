"""The report's numbers: writes per operation (membership as members added and removed), owed writes timed at
each target's rate limit, and the rate read from the system's configuration (or its connector's default)."""

from __future__ import annotations

from peoplesync import bootstrap
from peoplesync.model import Write
from peoplesync.report_page import gather, page
from peoplesync.report_page.local import rates


def test_writes_are_counted_per_operation_and_membership_by_members_moved() -> None:
    owed = [("p-1", "ad", [Write("ad", "update", "p-1", "a1", {"title": "x"}),
                           Write("ad", "deactivate", "p-1", "a1")]),
            ("g-1", "ad", [Write("ad", "update", "g-1", "cn=staff", {}, kind="group",
                                 delta={"member": {"add": ["cn=a", "cn=b"], "remove": ["cn=c"]}})]),
            ("p-2", "cloud", [Write("cloud", "create", "p-2", None, {"name": "Ada"})])]
    ops = gather.ops_by_system(owed)
    assert dict(ops["ad"]) == {"update": 1, "deactivate": 1, "membership": 3}
    assert dict(ops["cloud"]) == {"create": 1}


def test_owed_writes_take_their_time_at_the_targets_rate_limit() -> None:
    owed = [(f"p-{i}", "cloud", [Write("cloud", "update", f"p-{i}", str(i), {"t": 1})]) for i in range(2000)]
    owed += [("p-1", "ad", [Write("ad", "update", "p-1", "a", {"t": 1})] * 2)]
    rows = gather.owed_rows(owed, {"cloud": 300.0})
    assert rows == [{"system": "ad", "writes": 2, "people": 1, "per_minute": None, "seconds": None},
                    {"system": "cloud", "writes": 2000, "people": 2000, "per_minute": 300.0, "seconds": 400.0}]
    assert page._duration(400.0) == "7 min" and page._duration(0.2) == "under 1 s"


def test_the_rate_comes_from_the_configuration_or_the_connectors_default() -> None:
    plan = bootstrap.compile_config(bootstrap.load_config({
        "systems": {"cloud": {"connector": "genesys_cloud", "region": "mypurecloud.com",
                              "credentials": "secret:genesys"},
                    "fast": {"connector": "genesys_cloud", "region": "mypurecloud.com",
                             "credentials": "secret:genesys", "requests_per_minute": 1200},
                    "hr": {"connector": "memory"}},
        "fields": {"id": {"source": "hr", "map": {"hr": "id", "cloud": "employerInfo.employeeId",
                                                  "fast": "employerInfo.employeeId"}}}}))
    assert rates(plan) == {"cloud": 300.0, "fast": 1200.0}


def test_groups_are_drawn_as_rows_of_their_own_below_the_people() -> None:
    from peoplesync.report_page import render

    plan = bootstrap.compile_config(bootstrap.load_config({
        "systems": {"ad": {"connector": "memory"}, "cloud": {"connector": "memory"}},
        "fields": {"email": {"source": "ad", "map": {"ad": "mail", "cloud": "email"}}},
        "match": ["email"],
        "groups": {"source": "ad", "match": ["name"], "fields": {
            "name": {"map": {"ad": "cn", "cloud": "name"}},
            "members": {"map": {"ad": "member", "cloud": "members"}, "reference": "person", "multi": True}}}}))
    data = gather.report_data(plan, title="groups")
    assert [k["kind"] for k in data["mapping"]["kinds"]] == ["person", "group"]
    members = data["mapping"]["kinds"][1]["fields"][1]
    assert members["arrows"] == [{"from": "ad", "to": "cloud", "two_way": False, "written": True}]
    assert "multi-valued" in members["badges"] and "reference: person" in members["badges"]
    html = render(data)
    assert '<text class="kind" x="8"' in html and ">groups</text>" in html
    assert 'data-field="members" data-kind="group"' in html
    assert "groups: matched by name; lifecycle (who exists) from ad" in html


def _synced_bridge(people: int) -> object:
    from peoplesync_dev.memory import MemoryConnector

    plan = bootstrap.compile_config(bootstrap.load_config({
        "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory", "provision": True}},
        "fields": {"employee_id": {"source": "hr", "map": {"hr": "id", "ad": "employeeID"}},
                   "name": {"source": "hr", "map": {"hr": "name", "ad": "displayName"}}},
        "match": ["employee_id"]}))
    hr = MemoryConnector("hr", bootstrap.system_attributes(plan, "hr"), writable=False,
                         accounts={str(i): {"id": f"E{i:03}", "name": f"Person {i:03}"} for i in range(people)})
    ad = MemoryConnector("ad", bootstrap.system_attributes(plan, "ad"), accounts={})
    bridge = bootstrap.local(plan, store=bootstrap.memory_store(), connectors={"hr": hr, "ad": ad})
    bridge.sync(deliver=False)  # the creates in ad stay owed
    return bridge


def test_a_page_lists_a_bounded_number_of_people_and_says_how_many_it_left_out(monkeypatch) -> None:
    from peoplesync.report_page import local, render

    bridge = _synced_bridge(12)
    monkeypatch.setattr(gather, "PEOPLE_SHOWN", 5)
    data = local.page_data(bridge, title="state")
    assert data["people_total"] == 12
    first = sorted(bridge.store.all_ids("person"))[:5]  # the first by record id, listed by name
    assert [p["label"] for p in data["people"]] == sorted(bridge.label(rid) for rid in first)
    assert "5 of 12 people listed" in render(data)
    monkeypatch.setattr(gather, "PEOPLE_SHOWN", 50)
    assert "people listed" not in render(local.page_data(bridge, title="state"))


def test_the_page_in_aws_reads_what_is_owed_and_names_people_as_the_local_page_does() -> None:
    from peoplesync.report_page import local
    from peoplesync.report_page.aws import RuntimeView

    bridge = _synced_bridge(3)
    view = RuntimeView(bridge)  # a Lambda's Runtime has the same plan, store and reconciler
    assert view.owed() == bridge.owed() == sorted((rid, "ad") for rid in bridge.store.all_ids("person"))
    aws_people = local.page_data(view, title="sweep")["people"]
    assert [p["label"] for p in aws_people] == ["Person 000 (E000)", "Person 001 (E001)", "Person 002 (E002)"]
    assert aws_people == local.page_data(bridge, title="sweep")["people"]
