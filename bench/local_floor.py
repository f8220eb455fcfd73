"""What the local first sync cannot do without, each part measured against reading the files, in the same run.

    python bench/local_floor.py [--people 5000] [--rounds 3] [--tree /path/to/checkout]

`bench/local_speed.py`'s three CSV systems (the bar: the first sync within 25x of reading and parsing the files
with `csv.reader`). A first sync cannot do less than these, whatever the flow around them:
- read: the three files read by peoplesync's CSV connectors (each row made an observation, values as written);
- engine: every observation correlated and decided by the engine, on a plain dict index (what the store's
  index gives it; `bench/engine_throughput.py`'s `DictIndex`), the cyclic collector paused as the sync pauses it;
- encode: each record the engine made, and each observation's decisions, written as their stored JSON
  (`to_dict` then `fastjson.dumps`: the state a later sync reads, the history `explain` reads);
- store: that state (records, links, references, value index, decision history, cursors), as the first sync
  itself kept it, inserted into an empty SQLite file with the store's own schema in one transaction,
  JSON already encoded (the inserts and the indexes alone);
- targets: the two writable files written once with `csv.writer` (the least a CSV target can do: one rewrite).
Their sum is the floor of this state model, this engine and this store's schema; the sync itself is timed in
the same round (a new `LocalBridge`, as `bench/local_speed.py` does) so the flow's own share is the difference.
CPU seconds (`time.process_time`), medians over rounds, each as a multiple of the `csv.reader` read.
"""

from __future__ import annotations

import argparse
import csv
import gc
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import local_speed  # first: it puts the tree (--tree, or this checkout) on the path
from engine_throughput import DictIndex

from peoplesync import bootstrap, fastjson
from peoplesync.engine.correlation import UNMATCHED, correlate, new_record_id
from peoplesync.model import RecordState

SYSTEMS = ("hr", "directory", "badges")  # the order the sync polls them (the lifecycle source first)


def cpu(fn):  # type: ignore[no-untyped-def]
    started = time.process_time()
    out = fn()
    return time.process_time() - started, out


def connectors_read(folder: Path) -> tuple[float, dict[str, list]]:
    bridge = bootstrap.local_from_file(folder / "peoplesync.yaml", state=folder / "scratch.sqlite3")
    seconds, read = cpu(lambda: {s: bridge.runtime.connector(s).read(None, full=True).observations
                                 for s in SYSTEMS})
    engine = bridge.reconciler.engine
    bridge.runtime.close()
    bridge.store.close()  # type: ignore[attr-defined]
    return seconds, {"read": read, "engine": engine}


def engine_run(engine, read: dict[str, list]) -> tuple[float, DictIndex, list]:  # type: ignore[no-untyped-def]
    plan, index, decided = engine.plan, DictIndex(), []

    def run() -> None:
        for system in SYSTEMS:
            for obs in read[system]:
                m = correlate(plan, obs, index)
                if m.outcome == UNMATCHED:
                    state = RecordState(id=new_record_id(obs.kind, obs.system, obs.key), kind=obs.kind,
                                        fingerprint=plan.fingerprint)
                elif m.record_id is not None:
                    state = index.states[m.record_id]
                else:
                    continue
                out = engine.observe(state, obs, index)
                index.save(state)
                if out.decisions:
                    decided.append(out.decisions)

    gc.disable()
    try:
        seconds, _ = cpu(run)
    finally:
        gc.enable()
    return seconds, index, decided


def encode(index: DictIndex, decided: list) -> None:  # type: ignore[type-arg]
    """Each record and each observation's decisions as the store keeps them (`RecordState.to_dict`, one
    `[at, [decision, ...]]` per call, `fastjson`)."""
    for state in index.states.values():
        fastjson.dumps(state.to_dict())
    for decisions in decided:
        fastjson.dumps([0.0, [d.to_dict() for d in decisions]])


def store_floor(kept: Path, into: Path) -> float:
    """Insert what the first sync kept into an empty file with the same schema, one transaction."""
    source = sqlite3.connect(kept)
    schema = [sql for (sql,) in source.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                                               "AND name NOT LIKE 'sqlite_%'")]
    tables = {name: source.execute(f'SELECT * FROM "{name}"').fetchall()  # the names come from the file
              for (name,) in source.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                            "AND name NOT LIKE 'sqlite_%'").fetchall()}
    source.close()
    db = sqlite3.connect(into)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    for sql in schema:
        db.execute(sql)

    def insert() -> None:
        with db:
            for name, rows in tables.items():
                if rows:
                    db.executemany(f'INSERT INTO "{name}" VALUES ({",".join("?" * len(rows[0]))})', rows)

    seconds, _ = cpu(insert)
    db.close()
    return seconds


def targets_floor(folder: Path, into: Path) -> float:
    rows = {}
    for name in ("directory", "badges"):
        with open(folder / "data" / f"{name}.csv", newline="", encoding="utf-8") as fh:
            rows[name] = list(csv.reader(fh))

    def write() -> None:
        for name, table in rows.items():
            with open(into / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(table)

    return cpu(write)[0]


def one_round(people: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="ps-local-floor-"))
    try:
        local_speed.generate(folder, people, 5.0)
        pristine = folder / "pristine"
        shutil.copytree(folder / "data", pristine)
        read = min(local_speed.read_files(folder)[1] for _ in range(5))
        out: dict[str, float] = {"read": read}
        out["connectors"], got = connectors_read(folder)
        out["engine"], index, decided = engine_run(got["engine"], got["read"])
        out["encode"], _ = cpu(lambda: encode(index, decided))
        gc.collect()
        bridge = bootstrap.local_from_file(folder / "peoplesync.yaml", state=folder / "state.sqlite3")
        out["sync"], report = cpu(bridge.sync)
        bridge.store.close()  # type: ignore[attr-defined]
        out["store"] = store_floor(folder / "state.sqlite3", folder / "floor.sqlite3")
        out["targets"] = targets_floor(folder, folder)
        out["floor"] = out["connectors"] + out["engine"] + out["encode"] + out["store"] + out["targets"]
        assert len(index.states) == report.created, (len(index.states), report.created)  # the same people
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tree", help="another checkout's code (read by local_speed when imported): a baseline")
    args = ap.parse_args()
    rounds = [one_round(args.people) for _ in range(args.rounds)]
    print(f"code of {local_speed.ROOT}")
    print(f"{args.people:,} people, 3 CSV systems, medians of {args.rounds} round(s), CPU seconds and x read:")
    for part in ("read", "connectors", "engine", "encode", "store", "targets", "floor", "sync"):
        seconds = statistics.median(r[part] for r in rounds)
        ratio = statistics.median(r[part] / r["read"] for r in rounds)
        print(f"  {part:11} {seconds * 1000:9.0f} ms  {ratio:7.1f}x")
    print(f"  the bar: 25x read; the floor leaves the flow "
          f"{statistics.median(25 - r['floor'] / r['read'] for r in rounds):.1f}x read; the sync's own share "
          f"beyond the floor {statistics.median((r['sync'] - r['floor']) / r['read'] for r in rounds):.1f}x")


if __name__ == "__main__":
    main()
