"""`peoplesync serve` answers the IdP without waiting on the targets: the change is kept in the inbox (in the
state file) and a background worker reconciles and delivers it. What a user checks: the answer comes back while
the target is still busy, the write lands afterwards, and what was accepted before a stop is delivered by the
next start."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.local_inbox import SqliteInbox
from peoplesync.adapters.sqlite_store import SqliteStore
from peoplesync.model import Write
from peoplesync.ports import PeoplesyncError, WriteResult
from peoplesync.scim.devserver import to_event
from peoplesync_dev.memory import MemoryConnector

TOKEN = "background-token-3c9d1f"
CONFIG: dict[str, Any] = {
    "systems": {"idp": {"connector": "scim", "tokens": "secret:idp-tokens"},
                "phonebook": {"connector": "memory", "writable": True, "provision": True}},
    "fields": {"email.work": {"source": "idp", "normalize": ["trim", "lower"],
                              "map": {"idp": "userName", "phonebook": "email"}},
               "title": {"source": "idp", "map": {"idp": "title", "phonebook": "title"}}},
    "match": ["email.work"],
    "policies": {"unmatched": "create", "max_changes_per_run": None},
}


class SlowTarget(MemoryConnector):
    """A phone directory that takes its time: each batch of writes waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__("phonebook", ["email", "title"], writable=True)
        self.go = threading.Event()
        self.busy = threading.Event()
        self.batches = 0

    def write_batch(self, changes: list[Write]) -> list[WriteResult | PeoplesyncError]:
        self.busy.set()
        assert self.go.wait(20), "the test never let the target go"
        self.batches += 1
        return super().write_batch(changes)


def server(state: Path, target: MemoryConnector) -> tuple[Any, Any]:
    bridge = bootstrap.local(CONFIG, store=SqliteStore(state), connectors={"phonebook": target},
                             sleep=lambda s: None)
    background = bootstrap.background_for(bridge)
    handler, base, _ = bootstrap.scim_local(bridge, [TOKEN], background=background)

    def post(user: str, title: str) -> int:
        body = json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user,
                           "title": title}).encode()
        event = to_event("POST", f"{base}/Users", [("Authorization", f"Bearer {TOKEN}"),
                                                   ("Content-Type", "application/scim+json")], body)
        return int(handler(event, None)["statusCode"])

    return background, post


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state.sqlite3"


def rows(target: MemoryConnector) -> list[tuple[Any, Any]]:
    return sorted((o.attrs.get("email"), o.attrs.get("title")) for o in target.read().observations)


def test_given_a_slow_target_when_the_idp_posts_then_the_answer_comes_before_the_write_which_lands_later(
        state: Path) -> None:
    target = SlowTarget()
    background, post = server(state, target)
    background.start()
    try:
        assert post("Ann@Example.com", "Engineer") == 201
        assert target.busy.wait(10)  # the worker is writing to the target, which is still busy...
        assert post("bob@example.com", "Analyst") == 201  # ...and the IdP's next request is answered anyway
        assert rows(target) == []  # nothing has landed yet: neither answer waited for the target

        target.go.set()
        assert background.wait_idle(20)
    finally:
        background.stop()
    assert rows(target) == [("ann@example.com", "Engineer"), ("bob@example.com", "Analyst")]
    assert target.batches == 2  # the first write alone (the worker was idle), then the one that came meanwhile


def test_given_changes_accepted_but_not_delivered_when_the_server_stops_then_the_next_start_delivers_them(
        state: Path) -> None:
    target = SlowTarget()
    background, post = server(state, target)  # never started: stopped before the worker took anything
    assert post("ann@example.com", "Engineer") == 201
    assert post("bob@example.com", "Analyst") == 201
    background.stop()
    assert len(SqliteInbox(state)) == 2  # kept in the state file
    assert rows(target) == []

    target.go.set()
    background, _ = server(state, target)  # the next start, on the same state file and directory
    background.start()
    try:
        assert background.wait_idle(20)
    finally:
        background.stop()
    assert rows(target) == [("ann@example.com", "Engineer"), ("bob@example.com", "Analyst")]
    assert len(SqliteInbox(state)) == 0


def test_given_a_stop_while_the_target_is_busy_then_what_is_owed_is_kept_and_delivered_at_the_next_start(
        state: Path) -> None:
    target = SlowTarget()
    background, post = server(state, target)
    background.start()
    assert post("ann@example.com", "Engineer") == 201
    assert target.busy.wait(10)
    threading.Timer(0.2, target.go.set).start()  # the write under way ends while the server is stopping
    background.stop()
    assert post("bob@example.com", "Analyst") == 201  # accepted after the worker stopped: in the inbox
    assert rows(target) == [("ann@example.com", "Engineer")] and target.batches == 1

    background, _ = server(state, target)
    background.start()
    try:
        assert background.wait_idle(20)
    finally:
        background.stop()
    # each written once: Ann by the server that took her, Bob by the next start
    assert rows(target) == [("ann@example.com", "Engineer"), ("bob@example.com", "Analyst")]
