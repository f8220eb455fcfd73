"""Paged polls of real servers (issue 14, item 2): OpenLDAP read by entryUUID ranges, PostgreSQL by keyset, each
invocation taking one page (a budget of 0 s) and handing over, against the whole read in the same run.

    PYTHONPATH=layers/peoplesync:tools:. python3 bench/paged_servers.py [--ldap N] [--sql N] [--page P]

Starts its own slapd (the test suite's, bulk-loaded with slapadd) and PostgreSQL (COPY), then for each:
- the whole read (the same poll without a page size, as `peoplesync sync` polls): CPU seconds of this process
  (`time.process_time`), the server's CPU seconds (slapd: /proc; PostgreSQL: not measured), peak traced memory;
- the paged poll, hand-over after every page: the same figures summed over the invocations, the largest peak
  of one invocation, searches or queries made, and every account counted: read once, none twice, none missed.
Medians of `--repeat` runs (default 3). A first poll (the memory store knows nobody; every account is news).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.service.poll import poll


class Queue:
    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()

    def send(self, messages: list[dict[str, Any]], **_: Any) -> None:
        self.keys.update(m["observation"]["key"] for m in messages if m["type"] == "observation")


def server_cpu(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(fn: Callable[[], Any], pid: int | None) -> tuple[Any, float, float, int]:
    """fn() -> (its result, CPU s here, CPU s of the server, peak traced bytes above the start)."""
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    cpu, srv = time.process_time(), server_cpu(pid)
    out = fn()
    cpu, srv = time.process_time() - cpu, server_cpu(pid) - srv
    return out, cpu, srv, tracemalloc.get_traced_memory()[1] - before


def whole(bridge: Any, system: str, pid: int | None) -> dict[str, float]:
    """The same poll with no page size: the connector's whole read as one page (as `peoplesync sync` polls)."""
    rt, queue = bridge.runtime, Queue()
    report, cpu, srv, peak = measure(lambda: poll(system, rt.reconciler, rt.connector(system), queue, full=True), pid)
    return {"accounts": report.read, "cpu": cpu, "server": srv, "peak": peak}


def paged(bridge: Any, system: str, page: int, pid: int | None, stats: Callable[[], int]) -> dict[str, float]:
    rt, queue = bridge.runtime, Queue()
    rt.store.put_meta(f"poll|{system}", {"active": False})
    run, cpu, srv, peaks, invocations, read, before = None, 0.0, 0.0, [], 0, 0, stats()
    while True:
        invoke = functools.partial(poll, system, rt.reconciler, rt.connector(system), queue, page_size=page,
                                   budget=0, resume=run, full=True)
        report, c, s, p = measure(invoke, pid)
        cpu, srv, invocations, read, run = cpu + c, srv + s, invocations + 1, read + report.read, report.run
        peaks.append(p)
        if report.failed:
            raise SystemExit(f"{system}: {report.failed}")
        if not report.more:
            break
    return {"accounts": read, "cpu": cpu, "server": srv, "peak": max(peaks), "invocations": invocations,
            "twice": sum(1 for n in queue.keys.values() if n > 1), "distinct": len(queue.keys),
            "requests": stats() - before}


def ldif(n: int, base: str) -> Iterator[str]:
    for i in range(n):
        yield (f"dn: cn=p{i},{base}\nobjectClass: inetOrgPerson\ncn: p{i}\nsn: P{i}\nemployeeNumber: E{i}\n"
               f"title: Title {i % 997}\nmail: p{i}@example.org\n\n")


def ldap_world(n: int) -> tuple[Any, Any, Callable[[], int]]:
    from tests.servers.slapd import Slapd

    server = Slapd()
    path = Path(tempfile.mkdtemp(prefix="paged_ldif_")) / "people.ldif"
    path.write_text("".join(ldif(n, server.people)))
    server.load_offline(path)
    server.start()
    system = {"connector": "ldap", "credentials": "secret:ol", "url": server.ldaps_url, "flavor": "openldap",
              "base_dn": server.people, "page_size": 1000, "ca_file": server.ca_file}
    config = {"systems": {"dir": system}, "fields": {"employee_id": {"source": "dir", "map": {"dir": "employeeNumber"}},
                                                      "title": {"source": "dir", "map": {"dir": "title"}}},
              "match": ["employee_id"], "lifecycle": {"source": "dir"}, "policies": {"max_changes_per_run": None}}
    secrets = _Secrets({"ol": {"bind_dn": server.admin_dn, "password": server.admin_password}})
    bridge = bootstrap.local(config, store=MemoryStore(), secrets=secrets)
    return server, bridge, lambda: int(bridge.connectors["dir"].stats["searches"])


def sql_world(n: int) -> tuple[Any, Any, Callable[[], int]]:
    import sqlalchemy as sa

    from tests.servers.postgres import start_postgres

    server = start_postgres()
    engine = sa.create_engine(server.url_with_credentials())
    with engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE people (id integer PRIMARY KEY, employee_id text, title text, "
                          "active boolean NOT NULL DEFAULT true, updated_at timestamp NOT NULL DEFAULT now())")
        c.exec_driver_sql(f"INSERT INTO people (id, employee_id, title) SELECT i, 'E' || i, 'Title ' || (i %% 997) "
                          f"FROM generate_series(1, {n}) AS i")
    engine.dispose()
    system = {"connector": "sql", "credentials": "secret:pg", "url": server.url, "table": "people", "key": "id",
              "active_column": "active", "watermark": "updated_at"}
    config = {"systems": {"db": system}, "fields": {"employee_id": {"source": "db", "map": {"db": "employee_id"}},
                                                     "title": {"source": "db", "map": {"db": "title"}}},
              "match": ["employee_id"], "lifecycle": {"source": "db"}, "policies": {"max_changes_per_run": None}}
    bridge = bootstrap.local(config, store=MemoryStore(), secrets=_Secrets({"pg": server.credentials}))
    return server, bridge, lambda: 0


class _Secrets:
    def __init__(self, values: dict[str, dict[str, Any]]) -> None:
        self.values = values

    def get(self, name: str) -> dict[str, Any]:
        return dict(self.values[name])


def report(name: str, n: int, page: int, runs: list[tuple[dict[str, float], dict[str, float]]]) -> None:
    def med(i: int, key: str) -> float:
        return statistics.median(r[i][key] for r in runs)

    last = runs[-1][1]
    ok = last["accounts"] == last["distinct"] == n and last["twice"] == 0
    print(f"\n{name}: {n:,} accounts, pages of {page}, medians of {len(runs)} runs")
    print(f"  whole read:  CPU {med(0, 'cpu'):.2f} s here, server {med(0, 'server'):.2f} s, "
          f"peak {med(0, 'peak') / 2**20:.1f} MiB")
    print(f"  paged poll:  CPU {med(1, 'cpu'):.2f} s here, server {med(1, 'server'):.2f} s, "
          f"largest invocation peak {med(1, 'peak') / 2**20:.1f} MiB, {int(last['invocations'])} invocations, "
          f"{int(last['requests'])} searches")
    print(f"  {'OK' if ok else 'MISMATCH'}: read {int(last['accounts']):,}, distinct {int(last['distinct']):,}, "
          f"twice {int(last['twice'])}, missed {n - int(last['distinct'])}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ldap", type=int, default=20_000)
    ap.add_argument("--sql", type=int, default=100_000)
    ap.add_argument("--page", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tracemalloc.start()
    worlds = (("OpenLDAP", args.ldap, ldap_world, "dir"), ("PostgreSQL", args.sql, sql_world, "db"))
    for name, n, build, system in worlds:
        if not n:
            continue
        server, bridge, stats = build(n)
        pid = server.proc.pid if name == "OpenLDAP" else None
        try:
            runs = [(whole(bridge, system, pid), paged(bridge, system, args.page, pid, stats))
                    for _ in range(args.repeat)]
        finally:
            (server.close if hasattr(server, "close") else server.stop)()
        report(name, n, args.page, runs)


if __name__ == "__main__":
    main()
