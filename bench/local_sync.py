"""`peoplesync sync` on a generated population, locally: SQLite state, an HR export (CSV, read-only) and a
phone directory (CSV, writable), in a temporary directory. The command runs twice on a terminal (under
`script`, so the progress bar renders as a user would see it); the second run must write nothing.

    python bench/local_sync.py                    # 10,000 people
    python bench/local_sync.py --people 2000 --stale 5

The configuration is the demo's first one (HR and the phone directory: CONFIG). The phone directory starts with every
person already in it and in agreement, except `--stale` percent whose title is out of date (so the first
run links everyone and writes those titles). A baseline measured in the same run: `peoplesync validate`
(interpreter start-up, imports, configuration), so the figures can be compared across machines.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The demo's first configuration (examples/demo grows as connectors add their systems; this stays two CSVs).
CONFIG = """\
systems:
  hr:        {connector: csv, path: data/hr.csv, key: Employee_ID, active_column: Status}
  phonebook: {connector: csv, path: data/phonebook.csv, key: id, active_column: status,
              writable: true, provision: true}
fields:
  employee_id: {source: hr, map: {hr: Employee_ID, phonebook: employee_id}}
  name:        {source: hr, normalize: collapse, map: {hr: Name, phonebook: name}}
  email.work:  {source: hr, normalize: [trim, lower], map: {hr: Work_Email, phonebook: email}}
  title:       {source: hr, map: {hr: Title, phonebook: title}}
  manager:     {source: hr, reference: person, map: {hr: Manager_ID, phonebook: manager_employee_id},
                ref_by: {hr: employee_id, phonebook: employee_id}}
  hire_date:   {source: hr, apply: on_create, normalize: date, map: {hr: Hire_Date, phonebook: hired}}
  phone.work:  {source: phonebook, normalize: e164, map: {phonebook: phone}}
match: [employee_id, email.work]
lifecycle: {source: hr}
policies:
  unmatched: create
  ambiguous: review
  removed: deactivate
  max_changes_per_run: 50%
"""
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
HR_COLUMNS = ["Employee_ID", "Name", "Work_Email", "Title", "Manager_ID", "Hire_Date", "Status"]
PB_COLUMNS = ["id", "employee_id", "name", "email", "title", "manager_employee_id", "hired", "phone", "status"]
TITLES = ["Engineer", "Analyst", "Manager", "Designer", "Technician", "Accountant", "Nurse", "Clerk"]


def generate(folder: Path, people: int, stale_percent: float) -> int:
    """The demo's configuration and two CSV files; returns how many directory rows are out of date."""
    (folder / "data").mkdir(parents=True)
    (folder / "peoplesync.yaml").write_text(CONFIG)
    stale_every = int(100 / stale_percent) if stale_percent else 0
    stale = 0
    with open(folder / "data" / "hr.csv", "w", newline="") as hr, \
            open(folder / "data" / "phonebook.csv", "w", newline="") as pb:
        hw, pw = csv.writer(hr), csv.writer(pb)
        hw.writerow(HR_COLUMNS)
        pw.writerow(PB_COLUMNS)
        for n in range(1, people + 1):
            eid = f"E{n:06d}"
            manager = f"E{(n // 10):06d}" if n >= 10 else ""  # ten reports per manager
            name = f"Person {n}"
            email = f"person.{n}@example.com"
            title = TITLES[n % len(TITLES)]
            hired = f"20{10 + n % 14:02d}-{1 + n % 12:02d}-{1 + n % 28:02d}"
            hw.writerow([eid, name, email, title, manager, hired, "active"])
            old_title = title
            if stale_every and n % stale_every == 0:
                old_title, stale = f"Former {title}", stale + 1
            pw.writerow([f"PB-{n}", eid, name, email, old_title, manager, hired, f"+1317555{n % 10000:04d}",
                         "active"])
    return stale


def summary(text: str) -> dict[str, int]:
    """The run summary's rows (rich table on stdout), as numbers."""
    out = {}
    for line in ANSI.sub("", text).splitlines():
        m = re.match(r"^\s*[│|]\s*(.+?)\s*[│|]\s*(\d+)\s*[│|]\s*$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def on_terminal(command: list[str], cwd: Path) -> tuple[float, str, int]:
    """Run on a pseudo-terminal (util-linux `script`): wall seconds, everything the terminal showed, status."""
    line = " ".join(shlex.quote(c) for c in command)
    started = time.perf_counter()
    out = subprocess.run(["script", "-q", "-e", "-c", line, "/dev/null"], cwd=cwd, capture_output=True,
                         timeout=3600, env={**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"})
    return time.perf_counter() - started, out.stdout.decode(errors="replace"), out.returncode


def piped(command: list[str], cwd: Path) -> tuple[float, str, int]:
    started = time.perf_counter()
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=3600)
    return time.perf_counter() - started, out.stdout + out.stderr, out.returncode


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def state_versions(db: Path) -> tuple[int, int]:
    """(records, sum of their versions): a save anywhere raises the sum."""
    with sqlite3.connect(db) as con:
        rows, total = con.execute("SELECT count(*), coalesce(sum(version), 0) FROM records").fetchone()
    return int(rows), int(total)


def bar_frames(raw: str) -> list[str]:
    """The progress bar's frames as the terminal drew them (each redraw starts with a carriage return; rich's
    bar is made of '━' cells, shortened here)."""
    frames = (ANSI.sub("", piece).strip() for piece in re.split(r"\r|\x1b\[2K", raw))
    return [re.sub("━+", "━━━━", f) for f in frames if "━" in f and ("reconcile" in f or "deliver" in f)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--stale", type=float, default=5.0, help="percent of directory rows out of date")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    peoplesync = shutil.which("peoplesync") or sys.exit("the peoplesync command is not installed")

    folder = Path(tempfile.mkdtemp(prefix="ps-local-sync-"))
    try:
        stale = generate(folder, args.people, args.stale)
        config = str(folder / "peoplesync.yaml")
        baseline = [piped([peoplesync, "validate", config], folder)[0] for _ in range(5)]
        print(f"{args.people} people, {stale} directory rows out of date; files in {folder}")
        print(f"baseline `peoplesync validate` (start-up + imports + configuration): median "
              f"{statistics.median(baseline) * 1000:.0f} ms of 5")
        phonebook = folder / "data" / "phonebook.csv"
        db = folder / ".peoplesync" / "state.sqlite3"
        results = []
        for run in (1, 2, 3):
            before = digest(phonebook)
            versions = state_versions(db) if db.exists() else (0, 0)
            seconds, shown, status = on_terminal([peoplesync, "sync", config], folder)
            numbers = summary(shown)
            frames = bar_frames(shown)
            after_versions = state_versions(db)
            results.append((seconds, numbers))
            extra = " (extra: the steady state, once run 2 has read back what run 1 wrote)" if run == 3 else ""
            print(f"\nrun {run}{extra}: {seconds:.1f} s wall, exit status {status}, "
                  f"{args.people / seconds:,.0f} people/s ({numbers.get('accounts read', 0) / seconds:,.0f} "
                  f"accounts/s)")
            print("  summary: " + ", ".join(f"{k} {v}" for k, v in numbers.items()))
            print(f"  phone directory file {'unchanged' if digest(phonebook) == before else 'rewritten'}; "
                  f"state records {after_versions[0]}, saves this run {after_versions[1] - versions[1]}")
            if frames:
                print(f"  progress bar: {len(frames)} frames drawn, e.g. {frames[len(frames) // 2]!r} ... "
                      f"{frames[-1]!r}")
            else:
                print("  progress bar: none drawn" + (" (nothing read to reconcile)" if run > 1 else ""))
        (_, n1), (_, n2), (_, n3) = results
        checks = {
            "run 1 created everyone": n1.get("people created") == args.people,
            "run 1 linked every directory row": n1.get("accounts linked") == args.people,
            f"run 1 wrote the {stale} stale titles": n1.get("writes to phonebook") == stale,
            "run 1 had no errors": n1.get("errors") == 0,
            "run 2 wrote nothing": n2.get("writes (total)") == 0,
            "run 2 had no errors": n2.get("errors") == 0,
            "run 3 read nothing new": n3.get("accounts read") == 0,
        }
        print("\nchecks: " + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items()))
        with open(phonebook, newline="") as fh:
            rows = list(csv.DictReader(fh))
        agree = sum(1 for r in rows if not r["title"].startswith("Former "))
        print(f"phone directory after the runs: {len(rows)} rows, {agree} with the HR title")
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
