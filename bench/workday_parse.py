"""Workday RaaS: 50,000 workers parsed (JSON and CSV) and reconciled, with throughput.

Measures (median of --repeat runs):
- `json.loads` of the report alone (the baseline: the least any JSON parse can cost);
- parse + clean + resolve mapped attributes + termination state into Observations, JSON and CSV;
- a full read through the stand-in over HTTP on 127.0.0.1 (transfer + parse);
- reconcile through LocalBridge (memory store): the first sync (50,000 people created and linked) and a
  second, unchanged sync (every worker skipped by its digest), plus a sync after 1% of workers changed.

    python bench/workday_parse.py [--workers 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peoplesync.connectors.workday import (
    Settings,
    WorkdayConnector,
    parse_csv_report,
    parse_json_report,
)
from peoplesync_dev.standins.workday import WorkdayStandin, sample_workers, start_standin

ATTRS = ["Email_-_Work", "Emergency_Contacts_group[].Phone", "Employee_ID", "Hire_Date", "Work_Location",
         "Worker"]
NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
BASIC = {"username": "ISU_PeopleSync", "password": "wd-pass"}


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def line(label: str, seconds: float, n: int, base: float | None = None) -> None:
    ratio = f"  x{seconds / base:5.1f} of json.loads" if base else ""
    print(f"{label:44s} {seconds * 1000:9.1f} ms  {n / seconds:10,.0f} workers/s{ratio}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.workers
    workers = sample_workers(n)
    for i in range(0, n, 50):  # 2% with a termination date: half past, half future-dated
        workers[i]["Termination_Date"] = "2024-03-31-07:00" if i % 100 else "2024-12-31-08:00"
    standin = WorkdayStandin(workers)
    entries = standin.entries({})
    body_json, body_csv = standin.as_json(entries), standin.as_csv(entries)
    print(f"{n} workers: JSON report {len(body_json) / 1e6:.1f} MB, CSV report {len(body_csv) / 1e6:.1f} MB")

    conn = WorkdayConnector("hr", Settings(url="http://127.0.0.1/ccx/service/customreport2/acme/o/r"), ATTRS,
                            credentials=BASIC, now=lambda: NOW)
    base, _ = median_time(lambda: json.loads(body_json), args.repeat)
    line("json.loads alone (baseline)", base, n)
    t, obs = median_time(lambda: conn.observations(parse_json_report(body_json)), args.repeat)
    line("JSON report -> observations", t, n, base)
    t_csv, obs_csv = median_time(lambda: conn.observations(parse_csv_report(body_csv)), args.repeat)
    line("CSV report -> observations", t_csv, n, base)
    assert obs == obs_csv and len(obs) == n
    print(f"{'':44s} inactive (past terminations): {sum(not o.active for o in obs)}")

    url, server = start_standin(workers)
    try:
        from peoplesync.config import SystemConfig
        from peoplesync.connectors import workday

        class Secrets:
            def get(self, _name: str) -> dict:
                return dict(BASIC)

        system = SystemConfig(connector="workday_raas", url=url, credentials="secret:wd")
        http = workday.WorkdayConnector.from_system("hr", system, ATTRS, secrets=Secrets(), now=lambda: NOW)
        t_http, _ = median_time(lambda: http.read(), args.repeat)
        line("HTTP read through the stand-in (JSON)", t_http, n, base)
        reconcile(http, n, server)
    finally:
        server.stop()


def reconcile(hr: WorkdayConnector, n: int, server) -> None:
    from peoplesync import bootstrap
    from peoplesync.adapters.memory import MemoryStore

    config = {
        "systems": {"hr": {"connector": "workday_raas", "url": hr.settings.url, "credentials": "secret:wd"}},
        "fields": {
            "employee_id": {"source": "hr", "map": {"hr": "Employee_ID"}},
            "email.work": {"source": "hr", "map": {"hr": "Email_-_Work"}},
            "hire_date": {"source": "hr", "map": {"hr": "Hire_Date"}, "normalize": "date"},
            "location": {"source": "hr", "map": {"hr": "Work_Location"}},
            "name": {"source": "hr", "map": {"hr": "Worker"}},
            "emergency_phones": {"source": "hr", "map": {"hr": "Emergency_Contacts_group[].Phone"}, "multi": True},
        },
        "match": ["employee_id"],
        "policies": {"max_changes_per_run": None},
    }
    bridge = bootstrap.local(config, store=MemoryStore(), connectors={"hr": hr})
    t = time.perf_counter()
    first = bridge.sync()
    t1 = time.perf_counter() - t
    line("reconcile, first sync (people created)", t1, n)
    print(f"{'':44s} seen {first.seen}, created {first.created}, errors {len(first.errors)}, "
          f"read failures {dict(first.read_failures)}")
    t = time.perf_counter()
    second = bridge.sync()
    t2 = time.perf_counter() - t
    line("reconcile, unchanged second sync", t2, n)
    print(f"{'':44s} changed {second.changed}")
    for i in range(0, n, 100):
        server.standin.workers[i]["Work_Location"] = "Moved"
    t = time.perf_counter()
    third = bridge.sync()
    t3 = time.perf_counter() - t
    line("reconcile, 1% changed", t3, n)
    print(f"{'':44s} changed {third.changed}")


if __name__ == "__main__":
    main()
