"""`peoplesync sync --full` as the full sweep in-process (issue 14 item 3) against the full polls it replaced,
in the same run, on `bench/local_speed.py`'s three CSV systems.

    PYTHONPATH=layers/peoplesync:tools python3 bench/sync_full.py [--people 5000] [--rounds 3]

Each round: fresh files, a first `sync` (creates everyone), then `sync --full` twice from copies of that state:
once through the sweep (`sweep.LocalSweep`), once with it switched off (each system polled with a full read, as
before). CPU seconds of this process (`time.process_time`) per `--full` run, medians over the rounds; the
writes each made (both must be the same: a full run after a first sync decides everyone again and writes
nothing new).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import local_speed

from peoplesync import bootstrap
from peoplesync.service import sweep


def full(folder: Path, state: Path, through_sweep: bool) -> tuple[float, Any]:
    real = sweep.LocalSweep
    if not through_sweep:
        sweep.LocalSweep = lambda *a, **k: None  # type: ignore[assignment,misc]
    try:
        bridge = bootstrap.local_from_file(folder / "peoplesync.yaml", state=state)
        cpu = time.process_time()
        report = bridge.sync(full=True)
        return time.process_time() - cpu, report
    finally:
        sweep.LocalSweep = real  # type: ignore[misc]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows: list[tuple[float, float]] = []
    for _ in range(args.rounds):
        folder = Path(tempfile.mkdtemp(prefix="sync_full_"))
        local_speed.generate(folder, args.people, 5.0)
        state = folder / "first.sqlite3"
        bootstrap.local_from_file(folder / "peoplesync.yaml", state=state).sync()
        times, writes = [], []
        for through in (True, False):  # each from its own copy of the folder as the first sync left it
            copy = Path(tempfile.mkdtemp(prefix="sync_full_copy_")) / "site"
            shutil.copytree(folder, copy)
            cpu, report = full(copy, copy / "first.sqlite3", through)
            times.append(cpu)
            writes.append(dict(report.writes))
            shutil.rmtree(copy.parent, ignore_errors=True)
        print(f"sweep {times[0]:.2f} s, full polls {times[1]:.2f} s CPU; writes {writes[0]} / {writes[1]}")
        rows.append((times[0], times[1]))
        shutil.rmtree(folder, ignore_errors=True)
    swept, polled = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
    print(f"{args.people:,} people, median of {args.rounds}: sync --full through the sweep {swept:.2f} s CPU, "
          f"as full polls {polled:.2f} s")


if __name__ == "__main__":
    main()
