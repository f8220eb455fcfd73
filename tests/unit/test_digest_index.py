"""The poll's pre-screen decides from the store's digest index (`StateStore.link_digests`) which accounts are
no news: read exactly as last time, or our own write read back (the echo). A wrong "no news" loses an edit, so
these tests edit, revert, tamper with the index and crash between the index and the record, and check what a
user would: the files end right, the echo writes nothing, and nothing is skipped that had changed.

Three CSV systems with real delta cursors: HR says who exists and their titles; a writable directory holds
everyone (phones in mixed formats, the source of the phone; some titles stale); a writable badge system,
provisioned, gets the phone.
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.sqlite_store import SqliteStore
from peoplesync.model import PERSON

PEOPLE = 8
CONFIG = """\
systems:
  hr:        {connector: csv, path: hr.csv, key: id, active_column: status, settle_seconds: 0}
  directory: {connector: csv, path: directory.csv, key: id, active_column: status, settle_seconds: 0,
              writable: true, provision: true}
  badges:    {connector: csv, path: badges.csv, key: badge, active_column: state, settle_seconds: 0,
              writable: true, provision: true}
fields:
  employee_id: {source: hr, map: {hr: employee_id, directory: employee_id, badges: employee}}
  title:       {source: hr, map: {hr: title, directory: title}}
  phone.work:  {source: directory, normalize: e164, map: {directory: phone, badges: phone}}
match: [employee_id]
lifecycle: {source: hr}
policies: {unmatched: create, max_changes_per_run: 100%}
"""


def files(folder: Path) -> Path:
    (folder / "peoplesync.yaml").write_text(CONFIG)
    with open(folder / "hr.csv", "w", newline="") as hr, open(folder / "directory.csv", "w", newline="") as di:
        h, d = csv.writer(hr), csv.writer(di)
        h.writerow(["id", "employee_id", "title", "status"])
        d.writerow(["id", "employee_id", "title", "phone", "status"])
        for n in range(1, PEOPLE + 1):
            h.writerow([f"W{n}", f"E{n}", f"Title {n}", "active"])
            d.writerow([f"D{n}", f"E{n}", f"Old {n}" if n % 3 == 0 else f"Title {n}", f"(317) 555-010{n}",
                        "active"])
    (folder / "badges.csv").write_text("badge,employee,phone,state\n")
    return folder / "peoplesync.yaml"


class CountingStore:
    """The SQLite store, counting the records it loads."""

    def __init__(self, inner: SqliteStore) -> None:
        self._inner, self.loaded = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def load(self, record_id: str) -> Any:
        self.loaded += 1
        return self._inner.load(record_id)

    def load_many(self, record_ids: Any) -> Any:
        found = self._inner.load_many(record_ids)
        self.loaded += len(found)
        return found


def sync(config: Path, **kw: Any) -> tuple[Any, int]:
    """One `peoplesync sync` (a new process's bridge on the same state file): (its report, records loaded)."""
    inner = SqliteStore(config.parent / "state.sqlite3")
    store = CountingStore(inner)
    try:
        report = bootstrap.local_from_file(config, store=store).sync(**kw)  # type: ignore[arg-type]
    finally:
        inner.close()
    return report, store.loaded


def rows(config: Path, name: str) -> dict[str, dict[str, str]]:
    with open(config.parent / f"{name}.csv", newline="") as fh:
        return {r.get("employee_id") or r["employee"]: r for r in csv.DictReader(fh)}


def edit(config: Path, name: str, employee: str, **cells: str) -> None:
    path = config.parent / f"{name}.csv"
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        columns, table = list(reader.fieldnames or []), list(reader)
    for row in table:
        if (row.get("employee_id") or row.get("employee")) == employee:
            row.update(cells)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows(table)


def queued(report: Any) -> int:
    return sum(p["queued"] for p in report.polls.values())


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    """A first sync and its echo done: everyone in every system, every title right."""
    config = files(tmp_path)
    first, _ = sync(config)
    assert first.writes["badges"] == PEOPLE and first.writes["directory"] == PEOPLE // 3
    sync(config)
    return config


def test_given_our_writes_when_read_back_then_no_account_is_news_and_no_record_is_loaded(tmp_path,
                                                                                         monkeypatch) -> None:
    config = files(tmp_path)
    sync(config)
    decoded: list[str] = []  # records the store decodes, whoever asks (its own index answers included)
    state_of = SqliteStore._state
    monkeypatch.setattr(SqliteStore, "_state", lambda self, row: decoded.append("") or state_of(self, row))

    echo, loaded = sync(config)

    assert echo.total_writes == 0
    assert echo.polls["badges"]["read"] == PEOPLE and echo.polls["directory"]["read"] == PEOPLE // 3
    assert queued(echo) == 0 and loaded == 0 and decoded == []  # decided from the index alone
    assert rows(config, "directory")["E3"]["title"] == "Title 3"
    assert rows(config, "badges")["E3"]["phone"] == "+13175550103"


def test_given_a_target_edited_then_it_is_news_and_put_right(synced) -> None:
    edit(synced, "directory", "E2", title="Title 2x")  # one character more than what we wrote

    report, _ = sync(synced)

    assert report.polls["directory"]["queued"] == 1
    assert report.writes["directory"] == 1 and rows(synced, "directory")["E2"]["title"] == "Title 2"
    again, _ = sync(synced)
    assert again.total_writes == 0 and queued(again) == 0


def test_given_an_edit_reverted_to_the_value_we_wrote_before_we_deliver_then_nothing_is_written(synced) -> None:
    edit(synced, "directory", "E3", title="Hacked")
    polled, _ = sync(synced, deliver=False)  # the edit is seen: the record owes the directory its title
    assert polled.polls["directory"]["queued"] == 1
    edit(synced, "directory", "E3", title="Title 3")  # put back by hand before the bridge delivered

    report, _ = sync(synced)

    assert report.polls["directory"]["queued"] == 1  # a record that owes a write: its read is always news
    assert report.total_writes == 0 and rows(synced, "directory")["E3"]["title"] == "Title 3"
    again, _ = sync(synced)
    assert again.total_writes == 0 and queued(again) == 0


def test_given_a_source_edited_and_reverted_then_each_value_reaches_the_target(synced) -> None:
    edit(synced, "directory", "E4", phone="317.555.0199")
    changed, _ = sync(synced)
    assert changed.writes["badges"] == 1 and rows(synced, "badges")["E4"]["phone"] == "+13175550199"

    edit(synced, "directory", "E4", phone="(317) 555-0104")  # back to what it held before
    reverted, _ = sync(synced)

    assert reverted.writes["badges"] == 1 and rows(synced, "badges")["E4"]["phone"] == "+13175550104"


def test_given_an_index_digest_differing_in_its_last_character_then_the_account_is_news(synced) -> None:
    """Digests are compared whole: one that shares all but its last character with the read's is no match (a
    store that shortened or damaged a digest costs a reconcile, never a skipped change)."""
    db = sqlite3.connect(synced.parent / "state.sqlite3")
    read, settled = db.execute("SELECT read, settled FROM links WHERE system = 'directory' AND key = 'D5'").fetchone()
    flip = {"0": "1"}
    db.execute("UPDATE links SET read = ?, settled = ? WHERE system = 'directory' AND key = 'D5'",
               (read[:-1] + flip.get(read[-1], "0"), settled[:-1] + flip.get(settled[-1], "0")))
    db.commit()
    db.close()
    path = synced.parent / "directory.csv"  # D4 and D5 written again with a quoted title: read again, unchanged
    text = path.read_text()
    path.write_text(text.replace("D4,E4,Title 4,", 'D4,E4,"Title 4",').replace("D5,E5,Title 5,", 'D5,E5,"Title 5",'))

    report, _ = sync(synced)

    assert report.polls["directory"]["read"] == 2 and report.polls["directory"]["queued"] == 1  # D5 alone
    assert report.total_writes == 0


def test_given_a_crash_after_the_digests_are_written_then_the_record_and_its_digests_roll_back_together(
        synced, monkeypatch) -> None:
    edit(synced, "directory", "E6", title="Hand edit")
    flush = SqliteStore._flush_saves

    def then_die(self: SqliteStore) -> None:
        flush(self)  # the chunk's records and digests are written: the process dies before its commit
        raise KeyboardInterrupt("killed between the digests and the commit")

    monkeypatch.setattr(SqliteStore, "_flush_saves", then_die)
    with pytest.raises(KeyboardInterrupt):
        sync(synced)
    monkeypatch.undo()
    store = SqliteStore(synced.parent / "state.sqlite3")
    state = store.load(store.by_link(PERSON, "directory", "D6") or "")
    digests = store.link_digests(PERSON, "directory", ["D6"])
    store.close()
    assert state is not None and state.shadows["directory"].values["title"] == "Title 6"
    assert digests["D6"].settled is not None  # still those of the stored record: the edit not taken as seen

    report, _ = sync(synced)  # the chunk handed back to its queue, reconciled again

    assert report.writes["directory"] == 1 and rows(synced, "directory")["E6"]["title"] == "Title 6"
    again, _ = sync(synced)
    assert again.total_writes == 0 and queued(again) == 0


def test_given_a_state_file_from_before_the_digest_index_then_it_is_migrated_and_nothing_is_news(synced) -> None:
    db = sqlite3.connect(synced.parent / "state.sqlite3")
    db.executescript("""
        CREATE TABLE old_links (kind TEXT, system TEXT, key TEXT, rid TEXT NOT NULL, PRIMARY KEY (kind, system, key));
        INSERT INTO old_links SELECT kind, system, key, rid FROM links;
        DROP TABLE links;
        ALTER TABLE old_links RENAME TO links;
    """)
    db.close()
    edit(synced, "directory", "E7", title="Hand edit")

    report, _ = sync(synced)

    assert report.polls["directory"]["queued"] == 1 and queued(report) == 1
    assert rows(synced, "directory")["E7"]["title"] == "Title 7"
