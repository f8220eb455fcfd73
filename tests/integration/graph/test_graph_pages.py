"""The Graph connector's paged users round against the stand-in over HTTP (issue 14 item 2): a first
`users/delta` round read by several invocations, each going on from the nextLink the one before handed on.

What a user checks: every user observed exactly once across the invocations, the last page complete with the
cursor a one-go read gives (the next poll reads only changes), groups in scope with the last page; a position
Graph no longer takes begins the round again (never a read stuck on a dead link); a position pointing off the
Graph root is never followed (the token is not sent elsewhere)."""

from __future__ import annotations

import base64
import json
from typing import Any

from peoplesync.ports import ReadPage

from .conftest import Tenant


def one_page_each(connector: Any, page_size: int, between: Any = None) -> list[ReadPage]:
    pages: list[ReadPage] = []
    start = None
    while True:
        page = next(connector.read_pages(None, full=True, page_size=page_size, start=start))
        pages.append(page)
        if page.last:
            return pages
        start = page.position
        if between is not None:
            between(len(pages))


def persons(pages: list[ReadPage]) -> list[str]:
    return [o.key for p in pages for o in p.observations if o.kind == "person"]


def test_a_users_round_read_one_page_per_invocation_lists_each_user_once_and_ends_with_the_cursor(
        tenant: Tenant) -> None:
    ids = tenant.people(130)  # the stand-in's delta pages hold 40
    gid = tenant.g.add_group("Agents", members=ids[:3])
    c = tenant.connector(groups={"ids": [gid]})
    pages = one_page_each(c, page_size=40)
    assert len(pages) == 4 and sorted(persons(pages)) == sorted(ids)
    last = pages[-1]
    assert last.complete and last.cursor and not any(p.restarted for p in pages)
    assert [o.key for o in last.observations if o.kind == "group"] == [gid]
    tenant.g.edit_user(ids[5], jobTitle="Lead")
    after = c.read(last.cursor)  # the cursor is the round's deltaLink: the next read is the change only
    assert [(o.key, o.attrs["jobTitle"]) for o in after.observations if o.kind == "person"] == [(ids[5], "Lead")]


def test_a_position_graph_no_longer_takes_begins_the_round_again(tenant: Tenant) -> None:
    ids = tenant.people(100)
    c = tenant.connector()
    pages = one_page_each(c, page_size=40, between=lambda n: tenant.g.expire_skip_tokens() if n == 1 else None)
    assert pages[1].restarted  # the second invocation found its link dead and began again: nothing before counts
    assert sorted(persons(pages[1:])) == sorted(ids) and pages[-1].complete


def test_a_position_off_the_graph_root_is_never_followed(tenant: Tenant) -> None:
    ids = tenant.people(10)
    elsewhere = base64.urlsafe_b64encode(json.dumps({"next": "http://127.0.0.9:1/steal?$skiptoken=x"}).encode())
    pages = list(tenant.connector().read_pages(None, full=True, page_size=40, start=elsewhere.decode()))
    assert pages[0].restarted and sorted(persons(pages)) == sorted(ids)


def test_a_poll_with_no_time_left_hands_over_after_each_page_and_queues_each_user_once(tenant: Tenant) -> None:
    from peoplesync import bootstrap
    from peoplesync.service.poll import poll
    from tests.paging import Capture

    ids = tenant.people(90)
    plan = bootstrap.compile_config(bootstrap.load_config({
        "systems": {"entra": {"connector": "memory"}},
        "fields": {"upn": {"source": "entra", "map": {"entra": "userPrincipalName"}}}}))
    connector = tenant.connector(["userPrincipalName"])
    bridge = bootstrap.local(plan, store=bootstrap.memory_store(), connectors={"entra": connector})
    queue = Capture()
    reports = [poll("entra", bridge.reconciler, connector, queue, page_size=40, budget=0)]  # type: ignore[arg-type]
    while reports[-1].more:
        reports.append(poll("entra", bridge.reconciler, connector, queue, page_size=40, budget=0,  # type: ignore[arg-type]
                            resume=reports[-1].run))
    assert len(reports) == 3 and sorted(queue.keys()) == sorted(ids)
    assert bridge.store.get_cursor("entra")  # the round's deltaLink saved: the next poll reads changes only
