"""The Genesys Cloud connector's paged read against the stand-in over HTTP (issue 14 item 2): a read that
another invocation goes on from, so no poll or snapshot holds a million users or runs past Lambda's 15 minutes.

What a user checks: read in invocations of one page each, every user is observed exactly once; a read made in
one invocation is complete (nobody missed), a read that went on from another invocation's position is not (the
users an earlier invocation saw cannot be counted again, so nobody is concluded gone from it); a user hired
between two invocations makes the read not complete; a position that is not ours begins at the first page."""

from __future__ import annotations

from typing import Any

from peoplesync.connectors import resumable
from peoplesync.ports import ReadPage

from .conftest import Cloud


def invocations(connector: Any, page_size: int, between: Any = None) -> list[list[ReadPage]]:
    """The read taken one page per invocation: each invocation a fresh generator from the position handed on."""
    out: list[list[ReadPage]] = []
    start = None
    while True:
        page = next(connector.read_pages(None, full=True, page_size=page_size, start=start))
        out.append([page])
        if page.last:
            return out
        start = page.position
        if between is not None:
            between(len(out))


def keys(runs: list[list[ReadPage]]) -> list[str]:
    return [o.key for run in runs for page in run for o in page.observations]


def test_given_230_users_read_one_page_per_invocation_then_each_is_observed_once_and_none_is_missed(
        cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(230)]
    runs = invocations(cloud.connector(page_size=25), page_size=50)
    assert len(runs) == 5  # 50 users an invocation (two requests of 25), the last with 30
    assert sorted(keys(runs)) == sorted(ids) and len(keys(runs)) == 230
    assert not runs[-1][0].complete  # went on across invocations: nobody concluded gone from it
    assert cloud.standin.stats["GET requests"] == 10  # no page requested twice


def test_given_a_paged_read_made_in_one_invocation_then_it_is_complete(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(60)]
    pages = list(cloud.connector(page_size=25).read_pages(None, full=True, page_size=25))
    assert [len(p.observations) for p in pages] == [25, 25, 10] and pages[-1].last
    assert pages[-1].complete and sorted(o.key for p in pages for o in p.observations) == sorted(ids)


def test_given_a_hire_between_two_invocations_then_the_read_is_not_complete(cloud: Cloud) -> None:
    for n in range(60):
        cloud.hire(n)
    runs = invocations(cloud.connector(page_size=25), page_size=25,
                       between=lambda n: cloud.standin.add_user("Aaron Early", "aaron@corp.example") if n == 1
                       else None)
    assert not runs[-1][0].complete
    position = resumable.decode_position(runs[-2][0].position)
    assert position is not None and position["moved"] is True  # the total changed under the position


def test_given_a_position_that_is_not_ours_then_the_read_begins_at_the_first_page(cloud: Cloud) -> None:
    ids = [cloud.hire(n) for n in range(30)]
    pages = list(cloud.connector(page_size=25).read_pages(None, full=True, page_size=100, start="bm90IG91cnM="))
    assert sorted(o.key for p in pages for o in p.observations) == sorted(ids)


def test_given_a_poll_with_no_time_left_then_it_hands_over_after_each_page_and_queues_each_user_once(
        cloud: Cloud) -> None:
    """Through the poll itself (`service/poll.py`, budget 0: every invocation one page), on the memory store."""
    from peoplesync import bootstrap
    from peoplesync.service.poll import poll
    from tests.paging import Capture

    ids = [cloud.hire(n) for n in range(120)]
    plan = bootstrap.compile_config(bootstrap.load_config({
        "systems": {"cloud": {"connector": "memory"}},
        "fields": {"email": {"source": "cloud", "map": {"cloud": "email"}}}}))
    bridge = bootstrap.local(plan, store=bootstrap.memory_store(), connectors={"cloud": cloud.connector(page_size=25)})
    queue = Capture()
    connector = bridge.runtime.connector("cloud")
    reports = [poll("cloud", bridge.reconciler, connector, queue, page_size=50, budget=0)]  # type: ignore[arg-type]
    while reports[-1].more:
        reports.append(poll("cloud", bridge.reconciler, connector, queue, page_size=50, budget=0,  # type: ignore[arg-type]
                            resume=reports[-1].run))
    assert len(reports) == 3 and sorted(queue.keys()) == sorted(ids)  # none twice, none missed
    assert queue.keys(removed=True) == []  # a read across invocations concludes nobody gone
