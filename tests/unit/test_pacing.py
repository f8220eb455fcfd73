"""Pacing you can see (issue 14 item 4): `peoplesync plan` prints per target the writes owed and how long they
take at its rate limit (the report page's `owed_rows`, not a second computation), and warns when a first load
is bound by it; `sync`'s delivery bar says how long is left at the target's rate."""

from __future__ import annotations

from peoplesync import report
from peoplesync.model import Write
from peoplesync.report_page import gather


def owed(n: int, system: str) -> gather.Owed:
    return [(f"p-{i}", system, [Write(system, "create", f"p-{i}", None, {"name": str(i)})]) for i in range(n)]


def test_given_10000_genesys_writes_at_300_a_minute_then_plan_says_about_33_min_and_warns_on_a_first_load(
        capsys) -> None:
    rows = gather.owed_rows(owed(10_000, "cloud") + owed(12, "directory"), {"cloud": 300.0})
    report.pacing(rows, first_load=True)
    text = capsys.readouterr().out
    assert "cloud: 10,000 writes for 10,000 people, at 300 requests/min: about 33 min" in text
    assert "directory: 12 writes for 12 people, no rate limit configured" in text
    assert "warning: this first load is bound by cloud's rate limit: 10,000 writes at 300 requests/min take " \
           "about 33 min" in text


def test_given_a_later_sync_or_a_quick_target_then_there_is_no_warning(capsys) -> None:
    report.pacing(gather.owed_rows(owed(10_000, "cloud"), {"cloud": 300.0}), first_load=False)
    report.pacing(gather.owed_rows(owed(100, "cloud"), {"cloud": 300.0}), first_load=True)  # 20 s
    text = capsys.readouterr().out
    assert "warning" not in text and "about 20 s" in text
    report.pacing([], first_load=True)
    assert capsys.readouterr().out == ""


def test_given_a_delivery_under_way_then_its_bar_says_what_is_left_at_the_rate() -> None:
    assert report._left("deliver:cloud", 6_000, 300.0) == "deliver to cloud: 6000 left, about 20 min at 300/min"
    assert report._left("deliver:directory", 50, None) == "deliver to directory"
    assert report._left("reconcile", 10, 300.0) == "reconcile"
