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
