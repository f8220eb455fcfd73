"""The local run saves each chunk of messages in one SQLite transaction: a crash in the middle of a chunk
(anything the flow does not catch: a kill, an interrupt, a failed commit) must lose nothing and repeat nothing.

Two CSV systems with real delta cursors (a lost observation would not be read again): HR says who exists, a
writable directory holds half of them, so a sync reconciles, links, creates directory rows and updates stale
titles. The sync is crashed at every n-th store write; a second `peoplesync sync` must then end exactly where
an uncrashed sync ends: every person once, every directory row once, every title right.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.sqlite_store import SqliteStore
from peoplesync.service import messages

PEOPLE = 12
CONFIG = """\
systems:
  hr:        {connector: csv, path: hr.csv, key: id, active_column: status, settle_seconds: 0}
  directory: {connector: csv, path: directory.csv, key: id, active_column: status, settle_seconds: 0,
              writable: true, provision: true}
fields:
  employee_id: {source: hr, map: {hr: employee_id, directory: employee_id}}
  title:       {source: hr, map: {hr: title, directory: title}}
  manager:     {source: hr, reference: person, map: {hr: manager, directory: manager},
                ref_by: {hr: employee_id, directory: employee_id}}
match: [employee_id]
lifecycle: {source: hr}
policies: {unmatched: create, max_changes_per_run: 100%}
"""


class Crash(BaseException):
    """The process dies here: nothing in the flow catches it."""


class CrashingStore:
    """The SQLite store, dying at its n-th write (save, decisions, meta, cursor)."""

    WRITES = ("save", "record_decisions", "put_meta", "put_cursor", "add_review")

    def __init__(self, inner: SqliteStore, at: int | None, calls: tuple[str, ...] = WRITES) -> None:
        self._inner, self.at, self.writes, self.calls = inner, at, 0, calls

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self.calls:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            self.writes += 1
            if self.writes == self.at:
                raise Crash(f"killed at write {self.writes} ({name})")
            return attr(*args, **kwargs)

        return write


def files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "peoplesync.yaml").write_text(CONFIG)
    with open(folder / "hr.csv", "w", newline="") as hr, open(folder / "directory.csv", "w", newline="") as di:
        h, d = csv.writer(hr), csv.writer(di)
        h.writerow(["id", "employee_id", "title", "manager", "status"])
        d.writerow(["id", "employee_id", "title", "manager", "status"])
        for n in range(1, PEOPLE + 1):
            manager = "E1" if n > 1 else ""
            h.writerow([f"W{n}", f"E{n}", f"Title {n}", manager, "active"])
            if n % 2:  # half are in the directory already, some with a stale title
                d.writerow([f"D{n}", f"E{n}", f"Old {n}" if n % 3 == 0 else f"Title {n}", manager, "active"])
    return folder / "peoplesync.yaml"


def sync(config: Path, at: int | None = None, calls: tuple[str, ...] = CrashingStore.WRITES) -> int:
    """One `peoplesync sync` (a new process's bridge on the same state file); the writes (`calls`) it made
    before dying."""
    inner = SqliteStore(config.parent / "state.sqlite3")
    store = CrashingStore(inner, at, calls)
    bridge = bootstrap.local_from_file(config, store=store)  # type: ignore[arg-type]
    try:
        bridge.sync()
    finally:
        inner.close()
    return store.writes


def outcome(config: Path) -> tuple[list[tuple[str, str, str]], int, list[tuple[str, ...]]]:
    """(directory rows as (employee, title, manager), person records, (record, system, key) links)."""
    with open(config.parent / "directory.csv", newline="") as fh:
        rows = sorted((r["employee_id"], r["title"], r["manager"]) for r in csv.DictReader(fh))
    store = SqliteStore(config.parent / "state.sqlite3")
    people = sum(1 for _ in store.all_ids("person"))
    links = sorted(store._all("SELECT rid, system, key FROM links", ()))  # what is stored
    store.close()
    return rows, people, links


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, int]:
    config = files(tmp_path_factory.mktemp("clean"))
    writes = sync(config)
    assert sync(config) >= 0  # a second sync, as after a crash: the echo of the first one's writes
    return outcome(config), writes


def test_given_an_uncrashed_sync_then_everyone_is_in_the_directory_once_with_the_hr_title(clean) -> None:
    (rows, people, links), _ = clean
    assert rows == sorted((f"E{n}", f"Title {n}", "E1" if n > 1 else "") for n in range(1, PEOPLE + 1))
    assert people == PEOPLE and len(links) == 2 * PEOPLE


@pytest.mark.parametrize("at", range(1, 50, 2))
def test_given_a_sync_killed_mid_chunk_when_synced_again_then_nothing_is_lost_or_repeated(tmp_path, clean, at):
    expected, writes = clean
    if at > writes:
        pytest.skip(f"a clean sync makes {writes} store writes")
    config = files(tmp_path)

    with pytest.raises(Crash):
        sync(config, at)
    sync(config)
    sync(config)  # the echo

    rows, people, links = outcome(config)
    assert rows == expected[0]  # every row once (no create repeated), every title and manager right
    assert people == expected[1] and links == expected[2]


HINTS = ("expect_links", "expect_records", "keep")  # the calls that let the store read ahead or keep a record


@pytest.mark.parametrize("at", range(1, 40))  # a clean sync of `files` makes 39 such calls: each is crashed at
def test_given_a_sync_killed_at_a_read_ahead_or_a_keep_when_synced_again_then_it_ends_as_an_uncrashed_one(
        tmp_path, clean, at) -> None:
    """A crash between the steps the store's hints sit between (a chunk's links and records read ahead, a
    delivery's new links read ahead, a record handed back after a save or after a delivery worked out its
    writes; about 40 such calls in a clean sync): nothing lost or repeated."""
    expected, _ = clean
    config = files(tmp_path)
    try:
        sync(config, at, HINTS)
    except Crash:
        pass
    else:
        pytest.fail(f"the sync made fewer than {at} read-ahead or keep calls: this test's range is out of date")
    sync(config)
    sync(config)  # the echo
    assert outcome(config) == expected


def test_given_the_same_observations_twice_in_one_chunk_then_the_run_ends_as_an_uncrashed_one(tmp_path, clean) -> None:
    """A message delivered twice (a poll re-run after a crash, SQS at-least-once) lands in the same chunk as
    its first copy: the second is reconciled against the first's save, not yet written to the file."""
    config = files(tmp_path)
    inner = SqliteStore(config.parent / "state.sqlite3")
    bridge = bootstrap.local_from_file(config, store=inner)
    read = {o.key: o for o in bridge.runtime.connector("hr").read(None, full=True).observations}
    twice = messages.observed([read["W3"], read["W1"], read["W3"], read["W1"]])  # W3: a stale title, W1: a manager
    try:
        report = bridge.reconcile_messages(twice)
        assert report.created == 2 and report.errors == []
        bridge.sync(approve=True)  # the rest of HR: 10 more people than the 2 known (the guard would hold it)
    finally:
        inner.close()
    sync(config)  # the echo

    assert outcome(config) == clean[0]


def test_given_a_sync_killed_mid_chunk_then_the_cyclic_collector_runs_again(tmp_path, clean) -> None:
    """Each chunk runs with the cyclic collector paused (as a poll does); a chunk left by a crash must not leave
    the process without it (an interrupted `peoplesync serve` keeps running)."""
    import gc

    config = files(tmp_path)
    assert gc.isenabled()
    with pytest.raises(Crash):
        sync(config, 7)
    assert gc.isenabled()
    sync(config)
    assert gc.isenabled()
    gc.disable()  # a caller's own pause is left as it was
    try:
        sync(config)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_given_a_sync_then_what_it_left_is_handed_to_the_collector_unfrozen_and_its_cycles_are_collected(
        tmp_path, clean, monkeypatch) -> None:
    """A whole run hands what it leaves alive to the oldest generation (`gc.freeze` then `gc.unfreeze`) instead
    of having the next young collection walk it: nothing may stay frozen (nothing left out of collections for
    good), a cycle made during the run must still be collected, and objects someone else froze before the run
    (the AWS adapters' cold start) must stay frozen."""
    import gc
    import weakref

    from peoplesync.service import flow

    class Node:
        pass

    made: list[weakref.ref[Node]] = []
    follow_up = flow.follow_up

    def cyclic(*args: Any, **kwargs: Any) -> Any:  # each reconcile result leaves a cycle behind
        node = Node()
        node.me = node  # type: ignore[attr-defined]
        made.append(weakref.ref(node))
        return follow_up(*args, **kwargs)

    monkeypatch.setattr(flow, "follow_up", cyclic)
    config = files(tmp_path)
    gc.unfreeze()  # whatever an earlier test's cold start froze (as `adapters.aws.reset` gives it back)
    sync(config)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert made
    gc.collect()  # the next full collection
    assert all(ref() is None for ref in made)

    frozen = [Node() for _ in range(3)]
    gc.freeze()  # as `adapters.aws.collector_paused` leaves a cold start's objects
    try:
        before = gc.get_freeze_count()
        sync(config)
        assert gc.get_freeze_count() == before and gc.isenabled()
    finally:
        gc.unfreeze()
    assert frozen
