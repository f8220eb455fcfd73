"""A poll of a real directory that never holds the whole of it (issue 14, item 2): OpenLDAP and Samba AD read
in pages by key range (`connectors/ldap/pages.py`), each invocation taking one page (a budget of 0) and handing
the rest on, as Lambda invocations would; each one opens its own connection, so no paged-results cookie can
carry a read from one to the next. Accounts are listed once each, none missed, also when accounts are added and
removed between pages, and an account gone is found by the sweep after the complete read."""

from __future__ import annotations

from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.connectors.cursor import decode_cursor, encode_cursor
from peoplesync.service.poll import PollReport, poll
from tests.paging import Capture, Listing, reconcile_sent, to_end

PAGE = 5
N = 23


class World:
    def __init__(self, flavor: str, system: dict[str, Any], secrets: Any, console: Any, ou: str) -> None:
        self.console, self.ou, self.flavor = console, ou, flavor
        self.number = "employeeID" if flavor == "ad" else "employeeNumber"
        config = {"systems": {"dir": dict(system)},
                  "fields": {"employee_id": {"source": "dir", "map": {"dir": self.number}},
                             "title": {"source": "dir", "map": {"dir": "title"}}},
                  "match": ["employee_id"], "lifecycle": {"source": "dir"},
                  "policies": {"max_changes_per_run": None}}
        self.bridge = bootstrap.local(config, store=MemoryStore(), secrets=secrets, sleep=lambda s: None)
        self.dir = Listing(self.bridge.connectors["dir"])
        self.dn: dict[int, str] = {}

    def hire(self, n: int) -> None:
        attrs = {self.number: f"E{n}", "title": f"Title {n}"}
        extra = {"password": "Str0ng!Passw0rd-for-tests"} if self.flavor == "ad" else {}
        self.dn[n] = self.console.add_user(self.ou, f"Person {n}", **extra, **attrs)

    def key(self, n: int) -> str:
        found = self.bridge.connectors["dir"].find_account({self.number: f"E{n}"})
        assert found is not None
        return str(found.key)

    def step(self, queue: Capture, **kw: Any) -> PollReport:
        rt = self.bridge.runtime
        return poll("dir", rt.reconciler, self.dir, queue, page_size=PAGE, budget=0, **kw)  # type: ignore[arg-type]

    def to_end(self, queue: Capture, first: PollReport | None = None) -> list[PollReport]:
        return to_end(lambda **kw: self.step(queue, **kw), first)

    def reconcile(self, queue: Capture) -> None:
        reconcile_sent(self.bridge, queue)


@pytest.fixture(params=["openldap", "ad"])
def world(request) -> World:
    if request.param == "ad":
        fx = {k: request.getfixturevalue(k) for k in ("ad_system", "ad_secrets", "ad_console", "ad_ou")}
        return World("ad", fx["ad_system"], fx["ad_secrets"], fx["ad_console"], fx["ad_ou"])
    slapd, ou = request.getfixturevalue("slapd"), request.getfixturevalue("ol_ou")
    system = {"connector": "ldap", "credentials": "secret:peoplesync/ol", "url": slapd.ldaps_url,
              "flavor": "openldap", "base_dn": ou, "ca_file": slapd.ca_file, "page_size": 3}
    return World("ol", system, request.getfixturevalue("ol_secrets"), request.getfixturevalue("ol_console"), ou)


def test_given_a_read_handed_over_page_by_page_then_every_account_is_listed_and_queued_once(world) -> None:
    for n in range(N):
        world.hire(n)
    q = Capture()
    reports = world.to_end(q)

    assert len(reports) >= N // (2 * PAGE)  # handed over, one page per invocation
    assert [r.more for r in reports] == [True] * (len(reports) - 1) + [False]
    assert set(world.dir.listed.values()) == {1}  # nobody listed twice
    assert sorted(world.dir.listed) == sorted(world.key(n) for n in range(N))  # nobody missed
    assert sorted(q.keys()) == sorted(world.dir.listed)  # every account queued once (a first sight)
    assert len({r.run for r in reports}) == 1


def test_given_accounts_added_and_removed_between_pages_then_none_twice_none_missed_and_the_gone_one_vanishes(
        world) -> None:
    for n in range(N):
        world.hire(n)
    q = Capture()
    world.to_end(q)
    world.reconcile(q)
    keys = {n: world.key(n) for n in range(N)}
    world.dir.listed.clear()

    first = world.step(q, full=True)  # page 1 of the next full read (a delta would be one page)
    assert first.more
    unread = [n for n in range(N) if keys[n] not in world.dir.listed]
    gone = unread[-1]
    world.console.delete(world.dn[gone])  # removed before its page is read
    world.hire(100)  # added meanwhile
    reports = world.to_end(q, first)

    listed = world.dir.listed
    assert set(listed.values()) == {1}  # nobody listed twice
    assert set(listed) - {world.key(100)} == {keys[n] for n in range(N) if n != gone}  # nobody present missed
    assert q.keys(removed=True) == [keys[gone]]  # the sweep after the complete read found the gone one
    assert [r.vanished for r in reports] == [0] * (len(reports) - 1) + [1]
    world.reconcile(q)

    world.dir.listed.clear()
    world.to_end(q)  # the next poll: a delta from the mark the paged read began at
    new = world.key(100)
    assert new in listed or world.dir.listed[new] == 1  # the account added meanwhile is not lost


def test_given_a_position_when_the_read_goes_on_then_it_is_on_a_new_connection_and_a_foreign_position_restarts(
        world) -> None:
    for n in range(12):
        world.hire(n)
    conn = world.bridge.connectors["dir"]
    pages = conn.read_pages(None, full=True, page_size=PAGE)
    page = next(pages)
    pages.close()  # the invocation ends: its connection is closed
    assert conn._conn is None and page.position and not page.last
    binds = conn.stats["binds"]

    following = next(conn.read_pages(None, full=True, page_size=PAGE, start=page.position))
    assert conn.stats["binds"] == binds + 1 and not following.restarted
    assert not {o.key for o in following.observations} & {o.key for o in page.observations}

    pos = decode_cursor(page.position, version=1, scope=_scope(page.position))
    assert pos is not None
    if world.flavor == "ad":  # a hand-over that lands on another domain controller's database
        pos["mark"]["inv"] = "00000000-0000-0000-0000-000000000000"
    else:  # a position taken under another configuration
        pos["lo"] = 0
    foreign = encode_cursor(pos, version=1, scope="another" if world.flavor != "ad" else _scope(page.position))
    again = next(conn.read_pages(None, full=True, page_size=PAGE, start=foreign))
    assert again.restarted is True


def _scope(position: str) -> str:
    import json

    return str(json.loads(position)["scope"])
