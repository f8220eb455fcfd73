"""The Genesys Cloud connector's paged read against the stand-in over HTTP (issue 14 item 2): a read that
another invocation goes on from, so no poll or snapshot holds a million users or runs past Lambda's 15 minutes.

What a user checks: read in invocations of one page each, every user is observed exactly once; a read made in
one invocation is complete (nobody missed), a read that went on from another invocation's position is not (the
users an earlier invocation saw cannot be counted again); a user hired between two invocations makes the read
not complete; a position that is not ours begins at the first page. A poll whose read went on across
invocations concludes gone only the linked users a re-read by id finds deleted: one that a shifted page skipped
(renamed onto a page already read: the listing is sorted by name) is queued as it is now, never deactivated; a
re-read that fails concludes nobody gone."""

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
    assert not runs[-1][0].complete and runs[-1][0].confirm  # across invocations: who it missed is re-read
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
    assert queue.keys(removed=True) == []  # nobody was deleted: nobody is concluded gone


def poll_across_invocations(cloud: Cloud, between: Any = None, *, re_read_fails: bool = False
                            ) -> tuple[list[str], Any]:
    """120 users linked by a first read, then a poll that takes one page of 50 an invocation (budget 0);
    `between(n, order)` runs after invocation n; `re_read_fails`: the platform answers 503 to every request
    from the moment the poll re-reads the users it did not list. Returns the users in the listing's order
    (by name) and what the poll queued."""
    from peoplesync.service.poll import poll
    from tests.paging import Capture

    order, bridge = linked(cloud, 120)
    delete(cloud, order[3])  # gone before the read begins
    queue = Capture()

    def connectors(name: str) -> Any:  # as the poll function and `sync` pass them
        real = bridge.runtime.connector(name)
        if not re_read_fails:
            return real

        class Failing:
            def read_keys(self, keys: list[str]) -> Any:
                cloud.standin.fail_next(1000, status=503)
                return real.read_keys(keys)
        return Failing()

    reports = [poll("cloud", bridge.reconciler, bridge.runtime.connector("cloud"), queue,  # type: ignore[arg-type]
                    page_size=50, budget=0, connectors=connectors)]
    while reports[-1].more:
        if between is not None:
            between(len(reports), order)
        reports.append(poll("cloud", bridge.reconciler, bridge.runtime.connector("cloud"), queue,  # type: ignore[arg-type]
                            page_size=50, budget=0, connectors=connectors, resume=reports[-1].run))
    cloud.standin.clear_faults()
    return order, queue


def linked(cloud: Cloud, people: int) -> tuple[list[str], Any]:
    """`people` users, each linked to a record by a first read (in one invocation); the users in the listing's
    order (by name), and the local bridge that linked them."""
    from peoplesync import bootstrap

    for n in range(people):
        cloud.hire(n)
    with cloud.standin.lock:
        order = [u["id"] for u in sorted(cloud.standin.users.values(), key=lambda u: (u["name"].lower(), u["id"]))]
    plan = bootstrap.compile_config(bootstrap.load_config({
        "systems": {"cloud": {"connector": "memory"}},
        "fields": {"email": {"source": "cloud", "map": {"cloud": "email"}}},
        "policies": {"unmatched": "create"}}))
    bridge = bootstrap.local(plan, store=bootstrap.memory_store(), connectors={"cloud": cloud.connector(page_size=25)})
    bridge.sync()
    return order, bridge


def delete(cloud: Cloud, uid: str) -> None:
    with cloud.standin.lock:
        cloud.standin.users[uid]["state"] = "deleted"


def test_given_a_deletion_and_a_rename_during_a_read_across_invocations_then_only_the_deleted_is_concluded_gone(
        cloud: Cloud) -> None:
    # the listing is sorted by name: after the first page, the 81st user is renamed to the front of it, onto a
    # page already read, so no page of this read lists them
    def rename(n: int, order: list[str]) -> None:
        if n == 1:
            cloud.standin.edit_user(order[80], {"name": "Aaron Moved"})

    order, queue = poll_across_invocations(cloud, rename)

    assert queue.keys(removed=True) == [order[3]]  # deleted before the read, and re-read by id to be sure
    assert order[80] in queue.keys(removed=False)  # not listed, but there: re-read, queued as it is now


def test_given_the_re_read_failing_then_a_read_across_invocations_concludes_nobody_gone(cloud: Cloud) -> None:
    order, queue = poll_across_invocations(cloud, re_read_fails=True)

    listed = queue.keys()
    assert queue.keys(removed=True) == [] and order[3] not in listed


def test_given_a_sweep_snapshot_across_invocations_then_its_vanished_step_re_reads_who_it_did_not_list(
        cloud: Cloud) -> None:
    """The full sweep's snapshot (one page an invocation) and its vanished step (`service/sweep.py`)."""
    from peoplesync.adapters.blobs import MemoryBlobs
    from peoplesync.service import sweep
    from tests.paging import Capture

    order, bridge = linked(cloud, 60)
    delete(cloud, order[3])
    rt, blobs, queue = bridge.runtime, MemoryBlobs(), Capture()

    shot = sweep.snapshot(rt, blobs, "run-1", 0, chunk=25, budget=0)
    cloud.standin.edit_user(order[-1], {"name": "Aaron Moved"})  # from the last page onto the one already read
    while shot.more_pages:
        shot = sweep.snapshot(rt, blobs, "run-1", 0, chunk=25, budget=0, resume=shot.to_dict())
    answer = sweep.who_vanished(rt, blobs, "run-1", shot.to_dict(), queue)

    assert shot.parts >= 2 and not shot.complete and shot.confirm  # read by several invocations
    assert queue.keys(removed=True) == [order[3]] and answer["vanished"] == 1
    assert order[-1] in queue.keys(removed=False)


def shift_during_read(cloud: Cloud, order: list[str]) -> None:
    """While the next read is paged (25 users a request): as page 2 is asked for, the 81st user (by name) is
    renamed to the front of the listing, onto the page already read, so no page lists them; the total stays
    the same, but fewer distinct users come back than it announced."""
    def hook(method: str, path: str, query: dict[str, list[str]]) -> None:
        if method == "GET" and path == "/api/v2/users" and query.get("pageNumber") == ["2"] and not done:
            done.append(True)
            cloud.standin.edit_user(order[80], {"name": "Aaron Moved"})
    done: list[bool] = []
    cloud.standin.hooks.append(hook)


def test_given_a_read_in_one_invocation_that_shifted_then_only_the_deleted_is_concluded_gone(cloud: Cloud) -> None:
    """A poll that reads the whole listing at once (no `page_size`: the local run, a small tenant): the count
    check fails, so who it did not list is re-read by id, as a read across invocations is."""
    from peoplesync.service.poll import poll
    from tests.paging import Capture

    order, bridge = linked(cloud, 120)
    delete(cloud, order[3])
    shift_during_read(cloud, order)
    queue = Capture()

    report = poll("cloud", bridge.reconciler, bridge.runtime.connector("cloud"), queue,  # type: ignore[arg-type]
                  connectors=bridge.runtime.connector)

    assert queue.keys(removed=True) == [order[3]] and report.vanished == 1
    assert order[80] in queue.keys(removed=False)  # not listed, but there: re-read, queued as it is now


def test_given_sync_full_over_a_read_that_shifted_then_only_the_deleted_is_deactivated(cloud: Cloud) -> None:
    """`peoplesync sync --full` (the full sweep's steps in-process) over the same shifted read."""
    order, bridge = linked(cloud, 120)
    delete(cloud, order[3])
    shift_during_read(cloud, order)

    bridge.sync(full=True)

    store = bridge.reconciler.store
    def removed(uid: str) -> bool:
        record = store.load(store.by_link("person", "cloud", uid))
        return record.shadows["cloud"].removed
    assert removed(order[3])
    assert not any(removed(uid) for uid in order if uid != order[3])
