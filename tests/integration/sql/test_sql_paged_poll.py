"""A poll of a real database that never holds the whole table (issue 14, item 2): PostgreSQL and SQLite read
with keyset pagination (`connectors/sql/pages.py`), each invocation taking one page (a budget of 0) and handing
the rest on. Rows are listed once each, none missed, also when rows are added and removed between pages; a row
gone is found by the sweep after the complete read; a watermark delta goes on from the mark the read began at."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.service.poll import PollReport, poll
from tests.integration.sql.sql_fixtures import T0, Db
from tests.paging import Capture, Listing, reconcile_sent, to_end

PAGE = 4
N = 18


def row(i: int) -> dict[str, Any]:
    return {"badge_holder_id": i, "employee_id": f"E{i:03d}", "badge_number": f"B-{1000 + i}",
            "display_name": f"Person {i}", "site": "HQ", "active": True, "updated_at": T0 + timedelta(seconds=i)}


class World:
    def __init__(self, db: Db, **settings: Any) -> None:
        self.db = db
        db.execute(sa.delete(db.table))
        with db.admin.begin() as c:
            c.execute(sa.insert(db.table), [row(i) for i in range(1, N + 1)])
        system = {"connector": "sql", "url": db.url, "table": "badge_holders", "key": "badge_holder_id",
                  "active_column": "active", **settings}
        if db.kind == "pg":
            system["credentials"] = "secret:peoplesync/badges"
        config = {"systems": {"badges": system},
                  "fields": {"employee_id": {"source": "badges", "map": {"badges": "employee_id"}},
                             "badge": {"source": "badges", "map": {"badges": "badge_number"}}},
                  "match": ["employee_id"], "lifecycle": {"source": "badges"},
                  "policies": {"max_changes_per_run": None}}
        self.bridge = bootstrap.local(config, store=MemoryStore(), secrets=db.secrets, sleep=lambda s: None)
        self.conn = Listing(self.bridge.connectors["badges"])

    def step(self, queue: Capture, **kw: Any) -> PollReport:
        rt = self.bridge.runtime
        return poll("badges", rt.reconciler, self.conn, queue, page_size=PAGE, budget=0,  # type: ignore[arg-type]
                    **kw)

    def to_end(self, queue: Capture, first: PollReport | None = None) -> list[PollReport]:
        return to_end(lambda **kw: self.step(queue, **kw), first)

    def reconcile(self, queue: Capture) -> None:
        reconcile_sent(self.bridge, queue)


@pytest.fixture(params=["watermark", "hashes"])
def world(db: Db, request) -> World:
    return World(db, **({"watermark": "updated_at"} if request.param == "watermark" else {}))


def test_given_a_read_handed_over_page_by_page_then_every_row_is_listed_and_queued_once(world) -> None:
    q = Capture()
    reports = world.to_end(q)

    assert len(reports) == N // PAGE + 1  # one page per invocation: handed over after each
    assert [r.more for r in reports] == [True] * (len(reports) - 1) + [False]
    assert set(world.conn.listed.values()) == {1}  # nobody listed twice
    assert sorted(world.conn.listed, key=int) == [str(i) for i in range(1, N + 1)]  # nobody missed
    assert sorted(q.keys(), key=int) == [str(i) for i in range(1, N + 1)]


def test_given_rows_added_and_removed_between_pages_then_none_twice_none_missed_and_the_gone_one_vanishes(
        world) -> None:
    q = Capture()
    world.to_end(q)
    world.reconcile(q)
    world.conn.listed.clear()
    table = world.db.table

    first = world.step(q, full=True)  # page 1 of the next full read: rows 1-4
    assert first.more and sorted(world.conn.listed, key=int) == ["1", "2", "3", "4"]
    world.db.execute(sa.delete(table).where(table.c.badge_holder_id == 11))  # gone before its page
    world.db.execute(sa.insert(table).values(row(2000)))  # added ahead of the position
    world.db.execute(sa.insert(table).values(row(0) | {"updated_at": T0 + timedelta(hours=1)}))  # added behind it
    reports = world.to_end(q, first)

    listed = world.conn.listed
    assert set(listed.values()) == {1}
    assert sorted(listed, key=int) == [str(i) for i in range(1, N + 1) if i != 11] + ["2000"]
    assert q.keys(removed=True) == ["11"]  # the sweep after the complete read
    assert [r.vanished for r in reports] == [0] * (len(reports) - 1) + [1]
    world.reconcile(q)

    world.conn.listed.clear()
    world.to_end(q)  # the next poll: a watermark delta from the mark the read began at, or (row hashes) a
    assert world.conn.listed["0"] == 1  # full read again: the row added behind the position is not lost


def test_given_a_position_from_another_configuration_then_the_read_begins_again(db: Db) -> None:
    conn = db.connector(MAPPED_ATTRS)
    page = next(conn.read_pages(None, full=True, page_size=2))
    assert page.position and [o.key for o in page.observations] == ["1", "2"]
    following = next(conn.read_pages(None, full=True, page_size=2, start=page.position))
    assert [o.key for o in following.observations] == ["3", "4"] and not following.restarted

    other = db.connector(["badge_number"])  # another mapping: another scope
    again = next(other.read_pages(None, full=True, page_size=2, start=page.position))
    assert again.restarted and [o.key for o in again.observations] == ["1", "2"]


MAPPED_ATTRS = ["badge_number", "display_name", "employee_id"]
