"""Deliver N changed users to the Genesys Cloud stand-in under a 300 requests/minute budget, on a simulated
clock (client and stand-in share it: a wait of 12 s returns at once and moves the clock 12 s on).

Bars (issue 6): total time within 2% of the ideal N / 300 minutes, zero requests refused by the platform's
budget (429), zero lost writes; requests per changed user reported (ideal 1).

    python bench/genesys_delivery.py                 # 10,000 users (about a minute of wall time)
    python bench/genesys_delivery.py --users 2000 --cold 500

Two deliveries are measured in the same run:
- warm: after a poll (a sync reads, then writes): the connector knows every user's version, one PATCH each;
- cold: a fresh process with nothing cached (a cold Lambda): each write reads the user first (GET + PATCH).
The baseline is the ideal: every request spaced exactly 60/300 s apart.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from peoplesync.connectors.genesys import GenesysConnector, Settings
from peoplesync.connectors.genesys_api import reset_caches
from peoplesync.connectors.ratelimit import MemoryBucketStore
from peoplesync.model import Write
from peoplesync_dev.standins.genesys import start_standin

CLIENT, SECRET = "bench-client", "bench-secret"
ATTRS = ["title", "email", "name", "addresses[mediaType=PHONE,type=WORK]", "employerInfo.employeeId"]


class SimClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def run(users: int, per_minute: int, warm: bool) -> dict[str, float]:
    reset_caches()
    clock = SimClock()
    base_url, server = start_standin(clients={CLIENT: SECRET}, budget_per_minute=per_minute, clock=clock)
    try:
        st = server.standin
        ids = [st.add_user(f"User {n:05d}", f"u{n}@corp.example", title="Agent", employerInfo={"employeeId": f"E{n}"},
                           addresses=[{"address": "+13175550100", "mediaType": "PHONE", "type": "WORK"}])
               for n in range(users)]
        connector = GenesysConnector("cloud", Settings(base_url=base_url, requests_per_minute=per_minute),
                                     ATTRS, credentials={"client_id": CLIENT, "client_secret": SECRET}, clock=clock,
                                     sleep=clock.sleep, buckets=MemoryBucketStore())
        start = clock()
        wall = time.perf_counter()
        read_requests = 0
        if warm:
            result = connector.read(full=True)
            assert len(result.observations) == users
            read_requests = st.stats["requests"]
        latencies = []
        for n, uid in enumerate(ids):
            t = time.perf_counter()
            connector.write(Write("cloud", "update", f"rec-{n}", uid, {"title": f"Senior Agent {n}"}))
            latencies.append(time.perf_counter() - t)
        elapsed = clock() - start
        wall = time.perf_counter() - wall
        lost = sum(1 for n, uid in enumerate(ids) if st.users[uid]["title"] != f"Senior Agent {n}")
        total_requests = st.stats["requests"]
        return {
            "users": users, "sim_minutes": elapsed / 60, "ideal_minutes": total_requests / per_minute,
            "ideal_minutes_writes_only": users / per_minute, "refused_429": st.stats["429"], "lost": lost,
            "requests": total_requests, "read_requests": read_requests,
            "write_requests_per_user": (total_requests - read_requests) / users,
            "wall_seconds": wall, "median_write_ms": statistics.median(latencies) * 1000,
        }
    finally:
        server.stop()


def report(name: str, r: dict[str, float]) -> None:
    over = r["sim_minutes"] / r["ideal_minutes_writes_only"] - 1
    print(f"{name}: {int(r['users'])} changed users, {int(r['requests'])} requests "
          f"({int(r['read_requests'])} for the read), requests per changed user {r['write_requests_per_user']:.3f}")
    print(f"  simulated time {r['sim_minutes']:.2f} min; ideal {r['ideal_minutes_writes_only']:.2f} min for the "
          f"writes alone ({over:+.2%}), {r['ideal_minutes']:.2f} min for every request sent "
          f"({r['sim_minutes'] / r['ideal_minutes'] - 1:+.2%})")
    print(f"  refused by the budget (429): {int(r['refused_429'])}; lost writes: {int(r['lost'])}; "
          f"wall {r['wall_seconds']:.1f} s, median write {r['median_write_ms']:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--cold", type=int, default=1_000, help="users in the cold delivery (0: skip)")
    parser.add_argument("--per-minute", type=int, default=300)
    args = parser.parse_args()
    warm = run(args.users, args.per_minute, warm=True)
    report("warm (poll, then deliver)", warm)
    ok = warm["refused_429"] == 0 and warm["lost"] == 0 and \
        warm["sim_minutes"] <= warm["ideal_minutes_writes_only"] * 1.02
    if args.cold:
        report("cold (nothing cached)", run(args.cold, args.per_minute, warm=False))
    print("bars met" if ok else "BARS NOT MET")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
