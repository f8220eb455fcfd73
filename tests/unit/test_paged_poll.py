"""A poll that never holds a whole system (issue 14, item 2): the CSV file read in pages, each page's changes
queued and its position checkpointed, the rest handed on when the budget is spent, and who vanished found by a
sweep after a complete read. The faults: a crash between pages, a duplicate hand-over, a page read twice, the
file changing between pages and while a page is read.

A budget of 0 seconds stops every invocation after one page: each test walks a read page by page, as Lambda
invocations handing over would."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.service.poll import PollReport, poll
from tests import paging
from tests.paging import Capture, reconcile_sent

CONFIG = """\
systems:
  hr: {connector: csv, path: hr.csv, key: id, active_column: status, settle_seconds: 0}
fields:
  employee_id: {source: hr, map: {hr: employee_id}}
  title:       {source: hr, map: {hr: title}}
match: [employee_id]
lifecycle: {source: hr}
"""
PAGE = 10


class Crash(BaseException):
    """The invocation dies (a Lambda timeout): nothing in the flow catches it."""


def write(folder: Path, rows: list[tuple[str, str]]) -> None:
    with open(folder / "hr.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "employee_id", "title", "status"])
        for key, title in rows:
            w.writerow([key, f"E{key}", title, "active"])


def people(n: int) -> list[tuple[str, str]]:
    return [(f"{i:03d}", f"Title {i}") for i in range(1, n + 1)]


@pytest.fixture
def bridge(tmp_path: Path) -> Any:
    (tmp_path / "peoplesync.yaml").write_text(CONFIG)
    write(tmp_path, people(25))
    return bootstrap.local_from_file(tmp_path / "peoplesync.yaml", store=MemoryStore())


def step(bridge: Any, queue: Capture, **kw: Any) -> PollReport:
    """One invocation: at most one page (budget 0)."""
    rt = bridge.runtime
    return poll("hr", rt.reconciler, rt.connector("hr"), queue, page_size=PAGE, budget=0, **kw)  # type: ignore[arg-type]


def to_end(bridge: Any, queue: Capture, first: PollReport | None = None) -> list[PollReport]:
    """The run to its end, one page an invocation (`tests/paging.to_end`), from `first` if it was taken."""
    return paging.to_end(lambda **kw: step(bridge, queue, **kw), first, limit=50)


def settled(bridge: Any, tmp_path: Path) -> None:
    """Everyone in the file known (a first paged read, reconciled)."""
    q = Capture()
    to_end(bridge, q)
    reconcile_sent(bridge, q)


def test_given_a_read_handed_over_page_by_page_then_every_account_is_queued_once(bridge, tmp_path) -> None:
    q = Capture()
    reports = to_end(bridge, q)
    assert [r.more for r in reports] == [True, True, False]  # 25 rows in pages of 10: two hand-overs
    assert sorted(q.keys()) == [k for k, _ in people(25)]  # nothing read twice, nothing missed
    assert sum(r.read for r in reports) == 25 and not any(r.failed for r in reports)


def test_given_everything_known_when_accounts_leave_the_file_then_the_sweep_after_the_last_page_finds_them(
        bridge, tmp_path) -> None:
    settled(bridge, tmp_path)
    write(tmp_path, [p for p in people(25) if p[0] not in ("004", "017", "025")])
    q = Capture()
    reports = to_end(bridge, q)
    assert sorted(q.keys(removed=True)) == ["004", "017", "025"]
    assert [r.vanished for r in reports] == [0, 0, 3]  # concluded only once the read is complete
    assert q.keys(removed=False) == []  # unchanged accounts cost no message


def test_given_a_crash_between_pages_when_resumed_then_nothing_is_missed_or_queued_twice_as_new(
        bridge, tmp_path, monkeypatch) -> None:
    settled(bridge, tmp_path)
    write(tmp_path, [(k, f"New {k}") for k, _ in people(25)])  # everyone changed
    q = Capture()
    step(bridge, q)  # page 1 queued and checkpointed
    store = bridge.runtime.store
    real = store.put_meta

    def dying(name: str, value: Any) -> None:
        if name == "poll|hr":
            raise Crash("killed after page 2 was queued, before its checkpoint")
        real(name, value)

    monkeypatch.setattr(store, "put_meta", dying)
    with pytest.raises(Crash):
        step(bridge, q)
    monkeypatch.setattr(store, "put_meta", real)
    before = q.keys()  # pages 1 and 2, queued before the crash
    reconcile_sent(bridge, q)  # what was queued before the crash is reconciled (the queue kept it)
    while True:
        report = step(bridge, q)
        if not report.more:
            break
    queued = Counter(q.keys())
    assert sorted(queued) == [f"{i:03d}" for i in range(21, 26)]  # page 2 re-read costs nothing; page 3 queued
    assert sorted(before) == [f"{i:03d}" for i in range(1, 21)]  # with the resumed read: all 25, each once
    assert not report.failed and report.vanished == 0


def test_given_a_duplicate_hand_over_then_it_does_nothing(bridge, tmp_path) -> None:
    q = Capture()
    first = step(bridge, q)
    second = step(bridge, q, resume=first.run)
    again = step(bridge, q, resume=first.run)  # the same hand-over delivered twice: the run is on page 3 now
    assert (second.read, again.read) == (10, 5) and not again.more  # a duplicate resumes at the checkpoint
    late = step(bridge, q, resume=first.run)  # the run is over: a late duplicate reads nothing
    assert late.read == 0 and late.pages == 0 and not late.more
    assert sorted(q.keys()) == [k for k, _ in people(25)]


def test_given_a_page_read_twice_then_its_accounts_are_not_queued_again_as_news(bridge, tmp_path) -> None:
    settled(bridge, tmp_path)
    write(tmp_path, [(k, f"New {k}") for k, _ in people(25)])
    q = Capture()
    step(bridge, q)
    store = bridge.runtime.store
    checkpoint = store.get_meta("poll|hr")
    step(bridge, q)  # page 2
    reconcile_sent(bridge, q)
    store.put_meta("poll|hr", checkpoint)  # as if a second invocation had resumed from the same checkpoint
    reports = [step(bridge, q)]
    while reports[-1].more:
        reports.append(step(bridge, q))
    assert reports[0].read == 10 and reports[0].queued == 0  # page 2 again: read, nothing queued
    assert sorted(q.keys()) == [f"{i:03d}" for i in range(21, 26)]


def test_given_the_file_rewritten_between_pages_then_the_read_restarts_and_concludes_nobody_gone(
        bridge, tmp_path) -> None:
    settled(bridge, tmp_path)
    step(bridge, Capture())  # page 1 of a run
    rows = list(reversed(people(25)))  # the same people, another order: a trusted offset would skip some
    rows[0] = (rows[0][0], "Changed")
    write(tmp_path, rows)
    q = Capture()
    first = step(bridge, q)
    reports = to_end(bridge, q, first)
    assert first.pages == 1 and first.read == 10  # from the top of the new file
    assert sum(r.read for r in reports) == 25  # every account of the new file, once
    assert sum(r.vanished for r in reports) == 0 and q.keys() == ["025"]


def test_given_the_file_changing_while_a_page_is_read_then_the_poll_fails_and_concludes_nothing(
        bridge, tmp_path, monkeypatch) -> None:
    settled(bridge, tmp_path)
    write(tmp_path, people(24))  # 025 left
    from peoplesync.connectors import csv_file

    real, calls = csv_file._stat, []

    def moving(path: str) -> Any:
        calls.append(path)
        st = real(path)
        return st._replace(tag=f"{st.tag}:{len(calls)}")  # a new version at every look

    monkeypatch.setattr(csv_file, "_stat", moving)
    q = Capture()
    report = step(bridge, q)
    assert report.failed and "changed while it was read" in report.failed
    assert q.keys() == [] and report.vanished == 0


GUARDED = """\
systems:
  hr: {connector: csv, path: hr.csv, key: id, active_column: status, settle_seconds: 0}
  directory: {connector: csv, path: directory.csv, key: id, active_column: status, settle_seconds: 0,
              writable: true}
fields:
  employee_id: {source: hr, map: {hr: employee_id, directory: employee_id}}
  title:       {source: hr, map: {hr: title, directory: title}}
match: [employee_id]
lifecycle: {source: hr}
policies: {max_changes_per_run: 5}
"""


def test_given_the_guard_then_each_page_is_judged_with_the_runs_count_so_far(tmp_path) -> None:
    (tmp_path / "peoplesync.yaml").write_text(GUARDED)
    write(tmp_path, people(25))
    (tmp_path / "directory.csv").write_bytes((tmp_path / "hr.csv").read_bytes())
    bridge = bootstrap.local_from_file(tmp_path / "peoplesync.yaml", store=MemoryStore())
    bridge.sync()  # everyone known and linked in both (`peoplesync sync`: the same poll, one page)
    rows = people(25)
    for i in (0, 1, 2, 3, 10, 11, 12, 13):  # 4 changes on page 1, 4 on page 2: 8 in the run, above 5
        rows[i] = (rows[i][0], "Changed")
    write(tmp_path, rows)
    q = Capture()
    reports = to_end(bridge, q)
    assert sorted(q.keys()) == ["001", "002", "003", "004"]  # page 2 alone (4) would pass; the run's 8 do not
    assert reports[1].holds and reports[1].holds[0].startswith("hold:hr:")
    assert "4 people would change" in (reports[1].held or "")


def test_given_no_page_size_then_the_read_is_one_page_as_before(bridge, tmp_path) -> None:
    rt, q = bridge.runtime, Capture()
    report = poll("hr", rt.reconciler, rt.connector("hr"), q)  # type: ignore[arg-type]
    assert report.pages == 1 and not report.more and sorted(q.keys()) == [k for k, _ in people(25)]
    assert bridge.runtime.store.get_meta("poll|hr") is None  # a one-page read writes no checkpoint


def test_given_the_csv_connector_then_its_pages_list_what_a_whole_read_lists(bridge, tmp_path) -> None:
    connector = bridge.runtime.connector("hr")
    pages = list(connector.read_pages(None, full=True, page_size=7))
    whole = connector.read(None, full=True)
    assert [o.key for p in pages for o in p.observations] == [o.key for o in whole.observations]
    assert [p.last for p in pages] == [False, False, False, True] and pages[-1].complete


def test_given_the_poll_handler_with_its_time_spent_then_it_hands_over_and_the_hand_over_resumes(bridge) -> None:
    from peoplesync.service import handlers

    handed: list[dict[str, Any]] = []
    event: dict[str, Any] = {"system": "hr", "page_size": PAGE}
    answers = []
    while event is not None and len(answers) < 10:
        answers.append(handlers.poll_event(event, bridge.runtime, remaining_ms=1000, hand_over=handed.append))
        event = handed.pop() if handed else None  # type: ignore[assignment]
    assert [a["continue"] for a in answers] == [True, True, False]
    assert sum(a["read"] for a in answers) == 25 and len({a["run"] for a in answers}) == 1
