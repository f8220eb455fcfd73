"""The full sweep (issue 14 item 3) run in-process: each system snapshotted to chunk objects (lifecycle source
first), the chunks handed in batches to the item processor (`service/sweep.py`, the Distributed Map's child),
which reconciles every account as the reconcile function does; the deliveries go through the target's queue.

What a user checks: after one sweep every directory row holds HR's values and every HR person has a row once;
a second sweep writes nothing; a batch handed over twice (a redriven Map run) repeats nothing; one malformed
account in a chunk is parked with its reason and the rest of the chunk still goes through.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from peoplesync import bootstrap
from peoplesync.adapters.blobs import FolderBlobs, MemoryBlobs
from peoplesync.service import sweep
from tests.functions import load_function

PEOPLE = 23
CONFIG = """\
systems:
  directory: {connector: csv, path: directory.csv, key: id, active_column: status, settle_seconds: 0,
              writable: true, provision: true}
  hr:        {connector: csv, path: hr.csv, key: id, active_column: status, settle_seconds: 0}
fields:
  employee_id: {source: hr, map: {hr: employee_id, directory: employee_id}}
  title:       {source: hr, map: {hr: title, directory: title}}
match: [employee_id]
lifecycle: {source: hr}
policies: {unmatched: create, max_changes_per_run: 100%}
"""


def files(folder: Path) -> Path:
    (folder / "peoplesync.yaml").write_text(CONFIG)
    with open(folder / "hr.csv", "w", newline="") as hr, open(folder / "directory.csv", "w", newline="") as di:
        h, d = csv.writer(hr), csv.writer(di)
        h.writerow(["id", "employee_id", "title", "status"])
        d.writerow(["id", "employee_id", "title", "status"])
        for n in range(1, PEOPLE + 1):
            h.writerow([f"W{n}", f"E{n}", f"Title {n}", "active"])
            if n % 2:  # half already in the directory, a third of those with a stale title
                d.writerow([f"D{n}", f"E{n}", f"Old {n}" if n % 3 == 0 else f"Title {n}", "active"])
    return folder / "peoplesync.yaml"


def directory(config: Path) -> list[tuple[str, str]]:
    with open(config.parent / "directory.csv", newline="") as fh:
        return sorted((r["employee_id"], r["title"]) for r in csv.DictReader(fh))


EXPECTED = sorted((f"E{n}", f"Title {n}") for n in range(1, PEOPLE + 1))


def sweep_once(bridge: bootstrap.LocalBridge, blobs: sweep.Blobs, run: str) -> int:
    """One sweep, then the deliveries (as `sync` makes them, after every system is read); the writes made."""
    writes = 0

    def deliver(_rt: object) -> None:
        nonlocal writes
        writes += bridge.deliver_owed().total_writes

    sweep.run_local(bridge.runtime, blobs, run, batch=2, chunk=4, then=deliver)
    return writes


def test_given_a_first_load_when_swept_then_every_target_holds_its_source_and_a_second_sweep_writes_0(
        tmp_path: Path) -> None:
    config = files(tmp_path)
    bridge = bootstrap.local_from_file(config)
    blobs = FolderBlobs(tmp_path / "snapshots")

    first = sweep_once(bridge, blobs, "run-1")

    assert directory(config) == EXPECTED  # every person once, every title HR's
    assert first == 11 + 4  # a row created for each even number, the stale titles (3, 9, 15, 21) updated
    assert sweep_once(bridge, blobs, "run-2") == 0
    assert directory(config) == EXPECTED
    # the lifecycle source's chunks come first, whatever order the configuration lists the systems in
    assert blobs.keys("runs/run-1/")[0].startswith("runs/run-1/00-hr/")


def test_given_hr_chunks_then_the_hr_snapshot_holds_every_account_once_in_chunks_of_the_size_asked(
        tmp_path: Path) -> None:
    bridge = bootstrap.local_from_file(files(tmp_path))
    blobs = MemoryBlobs()
    shot = sweep.snapshot(bridge.runtime, blobs, "r", 0, chunk=5)
    keys = blobs.keys(shot.prefix)
    lines = [json.loads(line) for k in keys for line in blobs.get(k).decode().splitlines()]
    assert (shot.system, shot.accounts, shot.chunks, shot.more, shot.next) == ("hr", PEOPLE, 5, True, 1)
    assert sorted(o["key"] for o in lines) == sorted(f"W{n}" for n in range(1, PEOPLE + 1))


def directory_chunks(bridge: bootstrap.LocalBridge, blobs: sweep.Blobs, run: str) -> None:
    """The second system's snapshot and its chunks (the directory's accounts correlated before delivery)."""
    shot = sweep.snapshot(bridge.runtime, blobs, run, 1, chunk=4)
    sweep.process(blobs.keys(shot.prefix), blobs, bridge.runtime)


def test_given_a_batch_handed_over_twice_when_redriven_then_nothing_is_written_twice(tmp_path: Path) -> None:
    config = files(tmp_path)
    bridge = bootstrap.local_from_file(config)
    blobs = MemoryBlobs()
    shot = sweep.snapshot(bridge.runtime, blobs, "r", 0, chunk=4)
    keys = blobs.keys(shot.prefix)
    sweep.process(keys[:3], blobs, bridge.runtime)
    sweep.process(keys[:3], blobs, bridge.runtime)  # the child failed after its work, and ran again
    sweep.process(keys, blobs, bridge.runtime)
    directory_chunks(bridge, blobs, "r")
    bridge.deliver_owed()
    assert directory(config) == EXPECTED


def test_given_a_malformed_account_in_a_chunk_then_it_is_parked_with_why_and_the_rest_goes_through(
        tmp_path: Path) -> None:
    config = files(tmp_path)
    bridge = bootstrap.local_from_file(config)
    blobs = MemoryBlobs()
    shot = sweep.snapshot(bridge.runtime, blobs, "r", 0, chunk=100)
    key = blobs.keys(shot.prefix)[0]
    blobs.put(key, b'{"system": "hr", "attrs": {}}\n' + blobs.get(key))  # no key: never processable

    done = sweep.process([key], blobs, bridge.runtime)
    directory_chunks(bridge, blobs, "r")
    bridge.deliver_owed()

    assert done.accounts == PEOPLE + 1
    assert directory(config) == EXPECTED
    parked = bridge.dead_letters()
    assert len(parked) == 1 and "malformed observation" in json.dumps(parked[0])


def test_given_the_lambda_functions_then_they_make_the_same_calls(tmp_path: Path) -> None:
    """functions/sweep_snapshot and functions/sweep, handed the local runtime and blobs (as tests/functions.py
    loads every function), answer what the state machine reads: the prefix, `more`/`next`, the batch's tally."""
    config = files(tmp_path)
    bridge = bootstrap.local_from_file(config)
    blobs = MemoryBlobs()
    snap, child = load_function("sweep_snapshot"), load_function("sweep")
    answer = snap.handler({"run": "exec-1", "index": 0}, Context(), rt=bridge.runtime, blobs=blobs)
    assert answer["prefix"] == "runs/exec-1/00-hr/" and answer["more"] is True and answer["next"] == 1
    items = [{"Key": k} for k in blobs.keys(answer["prefix"])]
    tally = child.handler({"Items": items, "BatchInput": {"run": "exec-1"}}, Context(), rt=bridge.runtime,
                          blobs=blobs)
    assert tally == {"chunks": len(items), "accounts": PEOPLE}
    answer = snap.handler({"run": "exec-1", "index": answer["next"]}, Context(), rt=bridge.runtime, blobs=blobs)
    assert answer["prefix"] == "runs/exec-1/01-directory/" and answer["more"] is False
    child.handler({"Items": [{"Key": k} for k in blobs.keys(answer["prefix"])]}, Context(), rt=bridge.runtime,
                  blobs=blobs)
    bridge.deliver_owed()
    assert directory(config) == EXPECTED
    with pytest.raises(ValueError, match="Items"):
        child.handler({"Items": "nope"}, Context(), rt=bridge.runtime, blobs=blobs)


class Context:
    function_name = "peoplesync-sweep"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:peoplesync-sweep"
    aws_request_id = "req-1"
    remaining_ms = 900_000  # a fresh invocation of a 900 s function

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def hr_lines(blobs: sweep.Blobs, prefix: str) -> list[str]:
    return [json.loads(line)["key"] for k in blobs.keys(prefix) for line in blobs.get(k).decode().splitlines()]


def test_given_a_read_longer_than_an_invocation_then_the_snapshot_goes_on_page_by_page_and_reads_each_once(
        tmp_path: Path) -> None:
    bridge = bootstrap.local_from_file(files(tmp_path))
    blobs = MemoryBlobs()
    shot = sweep.snapshot(bridge.runtime, blobs, "r", 0, chunk=4, budget=0)  # each invocation: one page
    invocations = 1
    while shot.more_pages:
        again = sweep.snapshot(bridge.runtime, blobs, "r", 0, chunk=4, budget=0, resume=shot.to_dict())
        retried = sweep.snapshot(bridge.runtime, blobs, "r", 0, chunk=4, budget=0, resume=shot.to_dict())
        assert retried == again  # a retried invocation writes the same objects again, nothing new
        shot, invocations = again, invocations + 1
    assert invocations == 6 and (shot.accounts, shot.chunks, shot.failed) == (PEOPLE, 6, None)
    assert sorted(hr_lines(blobs, shot.prefix)) == sorted(f"W{n}" for n in range(1, PEOPLE + 1))  # once each
    assert blobs.keys(shot.prefix) == [f"runs/r/00-hr/{i:06d}.jsonl" for i in range(6)]


def test_given_the_source_changed_between_invocations_then_the_snapshot_begins_again_beside_the_old_chunks(
        tmp_path: Path) -> None:
    config = files(tmp_path)
    bridge = bootstrap.local_from_file(config)
    blobs = MemoryBlobs()
    shot = sweep.snapshot(bridge.runtime, blobs, "r", 0, chunk=4, budget=0)
    with open(config.parent / "hr.csv", "a", newline="") as hr:
        hr.write("W99,E99,Title 99,active\n")  # a hire between two invocations
    while shot.more_pages:
        shot = sweep.snapshot(bridge.runtime, blobs, "r", 0, chunk=4, budget=0, resume=shot.to_dict())
    assert shot.prefix.startswith("runs/r/00-hr/again-") and shot.accounts == PEOPLE + 1
    assert sorted(hr_lines(blobs, shot.prefix)) == sorted([*(f"W{n}" for n in range(1, PEOPLE + 1)), "W99"])


def test_given_a_short_invocation_then_the_function_answers_more_pages_and_goes_on_from_its_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sweep, "CHUNK", 4)
    bridge = bootstrap.local_from_file(files(tmp_path))
    blobs = MemoryBlobs()
    snap = load_function("sweep_snapshot")
    short = Context()
    short.remaining_ms = 1_000  # less than the margin kept back: one page, then hand on
    answer = snap.handler({"run": "x", "index": 0, "resume": None}, short, rt=bridge.runtime, blobs=blobs)
    assert answer["more_pages"] is True and answer["position"] and answer["chunks"] == 1
    answer = snap.handler({"run": "x", "index": 0, "resume": answer}, Context(), rt=bridge.runtime, blobs=blobs)
    assert answer["more_pages"] is False and answer["accounts"] == PEOPLE
    assert sorted(hr_lines(blobs, answer["prefix"])) == sorted(f"W{n}" for n in range(1, PEOPLE + 1))
    with pytest.raises(ValueError, match="resume"):
        snap.handler({"run": "x", "index": 0, "resume": {"position": "p"}}, Context(), rt=bridge.runtime,
                     blobs=blobs)


def mid_sweep_first_load(tmp_path: Path, *, through_the_function: bool) -> tuple[Path, bootstrap.LocalBridge]:
    """HR's snapshot reconciled and its deliveries drained (as SQS drains them while the sweep runs) before the
    directory's snapshot is read: the directory's rows are not linked yet when their creates are delivered."""
    config = files(tmp_path)
    bridge = bootstrap.local_from_file(config)
    blobs = MemoryBlobs()
    if through_the_function:  # the state machine's first step: the sweep's window opens
        shot = load_function("sweep_snapshot").handler({"run": "x", "index": 0, "resume": None}, Context(),
                                                        rt=bridge.runtime, blobs=blobs)
        prefix = shot["prefix"]
    else:
        prefix = sweep.snapshot(bridge.runtime, blobs, "x", 0).prefix
    sweep.process(blobs.keys(prefix), blobs, bridge.runtime)
    bridge.deliver_owed()
    directory_chunks(bridge, blobs, "x")
    bridge.deliver_owed()
    return config, bridge


def test_given_a_first_load_in_aws_when_deliveries_run_during_the_sweep_then_no_account_is_created_twice(
        tmp_path: Path) -> None:
    from peoplesync.service import sweep_window

    config, bridge = mid_sweep_first_load(tmp_path, through_the_function=True)
    assert directory(config) == EXPECTED  # the 12 rows already there were found and linked, 11 created
    assert sweep_window.running(bridge.store) == "x"
    sweep_window.end(bridge.store, "x")  # the report step
    assert sweep_window.running(bridge.store) is None


def test_given_no_sweep_window_when_deliveries_overtake_the_snapshots_then_accounts_would_be_doubled(
        tmp_path: Path) -> None:
    """Why the window exists: the same sweep without it creates a second row for the people already there."""
    config, _ = mid_sweep_first_load(tmp_path, through_the_function=False)
    rows = directory(config)
    assert len(rows) > PEOPLE and len({e for e, _ in rows}) == PEOPLE


def test_given_a_sweep_that_never_reported_then_its_window_closes_after_a_day(tmp_path: Path) -> None:
    from peoplesync.service import sweep_window

    store = bootstrap.memory_store()
    sweep_window.begin(store, "stuck", now=1_000.0)
    assert sweep_window.running(store, now=1_000.0 + 23 * 3600) == "stuck"
    assert sweep_window.running(store, now=1_000.0 + 25 * 3600) is None
    sweep_window.begin(store, "next", now=2_000.0)
    sweep_window.end(store, "stuck")  # an older run's report does not close a newer run's window
    assert sweep_window.running(store, now=2_000.0) == "next"


# --- who vanished (the state machine's vanished step; run_local runs it after each system's chunks) ---------
def leave_hr(config: Path, numbers: set[int]) -> None:
    """People leave HR (the lifecycle source): their rows are gone from its file."""
    with open(config.parent / "hr.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["employee_id"][1:]) not in numbers]
    with open(config.parent / "hr.csv", "w", newline="") as fh:
        out = csv.DictWriter(fh, ["id", "employee_id", "title", "status"])
        out.writeheader()
        out.writerows(rows)


def statuses(config: Path) -> dict[str, str]:
    with open(config.parent / "directory.csv", newline="") as fh:
        return {r["employee_id"]: r["status"] for r in csv.DictReader(fh)}


def swept_then_left(tmp_path: Path, numbers: set[int]) -> tuple[Path, bootstrap.LocalBridge, FolderBlobs]:
    """A first sweep, then these people leave HR."""
    config = files(tmp_path)
    bridge = bootstrap.local_from_file(config)
    blobs = FolderBlobs(tmp_path / "snapshots")
    sweep_once(bridge, blobs, "run-1")
    leave_hr(config, numbers)
    return config, bridge, blobs


def test_given_people_gone_from_hr_when_swept_then_their_directory_accounts_are_deactivated(tmp_path: Path) -> None:
    config, bridge, blobs = swept_then_left(tmp_path, {2, 5, 9})

    sweep_once(bridge, blobs, "run-2")

    after = statuses(config)
    assert {e for e, status in after.items() if status != "active"} == {"E2", "E5", "E9"}
    assert len(after) == PEOPLE  # deactivated, not deleted


def test_given_the_vanished_step_cut_into_pieces_then_each_record_is_examined_once_and_the_guard_counts_across(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = files(tmp_path)
    config.write_text(CONFIG.replace("max_changes_per_run: 100%", "max_changes_per_run: 2"))
    bridge = bootstrap.local_from_file(config)
    blobs = FolderBlobs(tmp_path / "snapshots")
    bridge.sync(approve=True)  # the first load, past the guard
    leave_hr(config, {2, 5, 9})  # three leave: one more than a run may change
    rt = bridge.runtime
    shot = sweep.snapshot(rt, blobs, "run-2", 0)  # HR: the lifecycle source comes first
    assert shot.system == "hr" and shot.complete
    sent: list[dict] = []
    queue = type("Queue", (), {"send": lambda self, messages, **_: sent.extend(messages)})()

    counts: list[int] = []  # the guard's base, the people known: each count lists every record id
    people_known = sweep.guard.people_known
    monkeypatch.setattr(sweep.guard, "people_known", lambda store: counts.append(1) or people_known(store))
    pieces, answer = 0, {}
    while pieces == 0 or answer["more"]:  # no time left at all: every piece stops after its first record
        answer = sweep.who_vanished(rt, blobs, "run-2", shot.to_dict(), queue, resume=answer, budget=0.0)
        pieces += 1

    assert pieces == PEOPLE  # one linked record a piece, none twice, none skipped
    assert len(counts) == 1 and answer["population"] == PEOPLE  # counted by the first piece, carried after
    assert answer["vanished"] == 3
    # the guard's count went from piece to piece: two removals sent on, the third (past the limit) held
    assert len(sent) == 2 and {m["observation"]["key"] for m in sent} < {"W2", "W5", "W9"}  # in record id order
    assert all(m["observation"]["removed"] for m in sent)
    assert [h["system"] for h in bridge.holds()] == ["hr"]


def test_given_the_vanished_step_retried_after_its_work_then_each_account_is_deactivated_once(tmp_path: Path) -> None:
    config, bridge, blobs = swept_then_left(tmp_path, {2, 5, 9})
    rt = bridge.runtime
    shot = sweep.snapshot(rt, blobs, "run-2", 0).to_dict()
    sent: list[dict] = []
    queue = type("Queue", (), {"send": lambda self, messages, **_: sent.extend(messages)})()

    first = sweep.who_vanished(rt, blobs, "run-2", shot, queue)
    again = sweep.who_vanished(rt, blobs, "run-2", shot, queue)  # the invocation retried: its answer was lost
    bridge.reconcile_messages(sent)  # both invocations' messages reach the reconcile queue (at least once)
    writes = bridge.deliver_owed().total_writes
    late = sweep.who_vanished(rt, blobs, "run-2", shot, queue)  # a retry after the removals were reconciled

    assert first == again and first["vanished"] == 3 and len(sent) == 6
    assert writes == 3  # each directory account deactivated once
    assert late["vanished"] == 0  # the records hold the accounts as gone: nothing is sent again
    assert {e for e, status in statuses(config).items() if status != "active"} == {"E2", "E5", "E9"}
