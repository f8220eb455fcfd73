"""The local run against the cost of reading: `peoplesync sync` (in process, SQLite state) over three CSV
systems, each sync timed against reading and parsing the same three files, measured in the same run.

    python bench/local_speed.py                       # 20,000 people, 3 rounds
    python bench/local_speed.py --people 2000 --rounds 1 --profile first

Systems: an HR export (read-only, says who exists: awkward names with accents, apostrophes, commas and
doubled spaces), a phone directory (writable, holds everyone; phones in mixed formats, normalised to E.164 and
taken from it; `--stale` percent of its titles out of date) and a badge system (writable, provisioned; holds
every other person). So the first sync creates 20,000 people, links 40,000 accounts, creates 10,000 badges
and corrects the stale titles; the echo sync re-reads what the first one wrote and must write nothing.

Each round starts from freshly generated files and an empty state. Timed (wall clock, `perf_counter`, and CPU
seconds, `process_time`: on a shared machine the CPU ratio is the one to trust):
- read: the three files read and parsed by `csv.reader` (best of 5, wall and CPU: the floor any sync pays);
- read (connectors): the three files read by peoplesync's CSV connectors, full reads (best of 3);
- first sync, echo sync (the one after it), quiet sync (nothing changed): each in a new `LocalBridge` from
  `bootstrap.local_from_file` (as a new `peoplesync sync` process builds it, without interpreter start-up).
`settle_seconds: 0` on every system: the files are written by this process, nothing is waited for.
Printed: medians over the rounds, and each sync's ratio to the read in the same round (median of ratios), in CPU
seconds (the bar's verdict) and in wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if "--tree" in sys.argv:  # another checkout's code (a baseline: run both, interleaved, on the same load)
    ROOT = Path(sys.argv[sys.argv.index("--tree") + 1]).resolve()
sys.path[:0] = [str(ROOT / "layers" / "peoplesync"), str(ROOT / "tools")]

CONFIG = """\
systems:
  hr:        {connector: csv, path: data/hr.csv, key: Employee_ID, active_column: Status, settle_seconds: 0}
  directory: {connector: csv, path: data/directory.csv, key: id, active_column: status, settle_seconds: 0,
              writable: true, provision: true}
  badges:    {connector: csv, path: data/badges.csv, key: badge, active_column: state, settle_seconds: 0,
              writable: true, provision: true}
fields:
  employee_id: {source: hr, map: {hr: Employee_ID, directory: employee_id, badges: employee}}
  name:        {source: hr, normalize: collapse, map: {hr: Name, directory: name, badges: holder}}
  email.work:  {source: hr, normalize: [trim, lower], map: {hr: Work_Email, directory: email}}
  title:       {source: hr, map: {hr: Title, directory: title}}
  department:  {source: hr, map: {hr: Department, directory: department, badges: department}}
  manager:     {source: hr, reference: person, map: {hr: Manager_ID, directory: manager_employee_id},
                ref_by: {hr: employee_id, directory: employee_id}}
  hire_date:   {source: hr, apply: on_create, normalize: date, map: {hr: Hire_Date, directory: hired}}
  phone.work:  {source: directory, normalize: e164, map: {directory: phone, badges: phone}}
match: [employee_id, email.work]
lifecycle: {source: hr}
policies:
  unmatched: create
  ambiguous: review
  removed: deactivate
  max_changes_per_run: 100%
"""
HR = ["Employee_ID", "Name", "Work_Email", "Title", "Department", "Manager_ID", "Hire_Date", "Status"]
DIRECTORY = ["id", "employee_id", "name", "email", "title", "department", "manager_employee_id", "hired", "phone",
             "status"]
BADGES = ["badge", "employee", "holder", "department", "phone", "state"]
TITLES = ["Engineer", "Analyst", "Manager", "Designer", "Technician", "Accountant", "Nurse", "Clerk"]
DEPARTMENTS = ["R&D", "Finance", "Operations", "Sales, EMEA", "Care", "Legal"]
FIRST = ["Zoë", "José", "Anne-Marie", "Seán", "Łukasz", "Chloé", "Björn", "Mary Ann", "D'Arcy", "Nguyễn"]
LAST = ["O'Brien", "García Márquez", "van der Berg", "Smith,  Jr.", "Müller", "Ødegård", "Le Blanc", "D'Souza"]


def phone(n: int) -> tuple[str, str]:
    """(as the directory writes it, in one of five formats; as E.164)."""
    local = f"317555{n % 10000:04d}"
    shown = [f"+1 {local[:3]} {local[3:6]} {local[6:]}", f"({local[:3]}) {local[3:6]}-{local[6:]}",
             f"{local[:3]}.{local[3:6]}.{local[6:]}", f"1-{local[:3]}-{local[3:6]}-{local[6:]}", f"+1{local}"]
    return shown[n % 5], f"+1{local}"


def generate(folder: Path, people: int, stale_percent: float) -> dict[str, int]:
    (folder / "data").mkdir(parents=True)
    (folder / "peoplesync.yaml").write_text(CONFIG)
    stale_every = int(100 / stale_percent) if stale_percent else 0
    counts = {"stale": 0, "badges": 0}
    with open(folder / "data" / "hr.csv", "w", newline="") as hr, \
            open(folder / "data" / "directory.csv", "w", newline="") as di, \
            open(folder / "data" / "badges.csv", "w", newline="") as ba:
        hw, dw, bw = csv.writer(hr), csv.writer(di), csv.writer(ba)
        hw.writerow(HR)
        dw.writerow(DIRECTORY)
        bw.writerow(BADGES)
        for n in range(1, people + 1):
            eid = f"E{n:06d}"
            manager = f"E{(n // 10):06d}" if n >= 10 else ""
            name = f"{FIRST[n % len(FIRST)]}  {LAST[(n // 7) % len(LAST)]} {n}"
            email = f"person.{n}@example.com"
            title, dept = TITLES[n % len(TITLES)], DEPARTMENTS[n % len(DEPARTMENTS)]
            hired = f"20{10 + n % 14:02d}-{1 + n % 12:02d}-{1 + n % 28:02d}"
            hw.writerow([eid, name, f" {email.upper()} " if n % 9 == 0 else email, title, dept, manager, hired,
                         "active"])
            shown, e164 = phone(n)
            old_title = title
            if stale_every and n % stale_every == 0:
                old_title = f"Former {title}"
                counts["stale"] += 1
            dw.writerow([f"D-{n}", eid, " ".join(name.split()), email, old_title, dept, manager, hired, shown,
                         "active"])
            if n % 2 == 0:
                bw.writerow([f"B{n:07d}", eid, " ".join(name.split()), dept, e164, "active"])
                counts["badges"] += 1
    return counts


def read_files(folder: Path) -> tuple[float, float]:
    """(wall, CPU) seconds to read and parse the three files with `csv.reader`."""
    started, cpu = time.perf_counter(), time.process_time()
    for name in ("hr", "directory", "badges"):
        with open(folder / "data" / f"{name}.csv", newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
        assert rows
    return time.perf_counter() - started, time.process_time() - cpu


def read_connectors(folder: Path) -> float:
    from peoplesync import bootstrap

    bridge = bootstrap.local_from_file(folder / "peoplesync.yaml", state=folder / "scratch.sqlite3")
    started = time.perf_counter()
    for system in ("hr", "directory", "badges"):
        assert bridge.runtime.connector(system).read(None, full=True).observations
    seconds = time.perf_counter() - started
    bridge.runtime.close()
    bridge.store.close()  # type: ignore[attr-defined]
    return seconds


def sync(folder: Path, profile: bool) -> tuple[float, float, object]:
    from peoplesync import bootstrap

    bridge = bootstrap.local_from_file(folder / "peoplesync.yaml")
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    report = bridge.sync()
    if profiler:
        profiler.disable()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    bridge.store.close()  # type: ignore[attr-defined]
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    return seconds, cpu, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--stale", type=float, default=5.0, help="percent of directory titles out of date")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=["first", "echo", "quiet"], help="cProfile one sync (round 1)")
    parser.add_argument("--tree", help="measure the code of another checkout (e.g. a worktree of main)")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {k: [] for k in ("read", "read (CPU)", "read (connectors)", "first", "echo",
                                                       "quiet", "first (CPU)", "echo (CPU)", "quiet (CPU)")}
    ratios: dict[str, list[float]] = {k: [] for k in ("first", "echo", "quiet")}
    cpu_ratios: dict[str, list[float]] = {k: [] for k in ("first", "echo", "quiet")}
    for round_ in range(1, args.rounds + 1):
        folder = Path(tempfile.mkdtemp(prefix="ps-local-speed-"))
        try:
            counts = generate(folder, args.people, args.stale)
            reads = [read_files(folder) for _ in range(5)]
            read, read_cpu = min(w for w, _ in reads), min(c for _, c in reads)
            figures["read"].append(read)
            figures["read (CPU)"].append(read_cpu)
            figures["read (connectors)"].append(min(read_connectors(folder) for _ in range(3)))
            line = [f"round {round_}: read {read * 1000:.0f} ms, CPU {read_cpu * 1000:.0f} ms"]
            for phase in ("first", "echo", "quiet"):
                seconds, cpu, report = sync(folder, args.profile == phase and round_ == 1)
                figures[phase].append(seconds)
                figures[f"{phase} (CPU)"].append(cpu)
                ratios[phase].append(seconds / read)
                cpu_ratios[phase].append(cpu / read_cpu)
                line.append(f"{phase} {seconds:.2f} s, CPU {cpu:.2f} s (wall {seconds / read:.0f}x, CPU "
                            f"{cpu / read_cpu:.1f}x): writes "
                            f"{dict(report.writes)}, created {report.created}, errors {len(report.errors)}")
                if phase != "first" and report.total_writes:
                    line.append(f"  !! the {phase} sync wrote {report.total_writes}")
            print("\n  ".join(line), flush=True)
            print(f"  ({counts['stale']} stale titles, {counts['badges']} badges held before)")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\n{args.people:,} people, 3 CSV systems, code of {ROOT}, medians of {args.rounds} round(s):")
    for name, values in figures.items():
        print(f"  {name:<18} {statistics.median(values) * 1000:>9.0f} ms")
    bars = {"first": 25, "echo": 5, "quiet": None}
    for phase in ratios:
        bar = bars[phase]
        wall, cpu = statistics.median(ratios[phase]), statistics.median(cpu_ratios[phase])
        verdict = "" if bar is None else f" (bar <= {bar}x: {'met' if cpu <= bar else 'missed'} by CPU)"
        print(f"  {phase} sync / read: CPU {cpu:.1f}x, wall {wall:.1f}x{verdict}")


if __name__ == "__main__":
    main()
