"""Membership sync of one 10,000-member group (issue 13, "Done when"): an Entra ID group read through the `graph`
connector (Microsoft Graph stand-in) mirrored into a Genesys Cloud group through the `genesys_cloud` connector
(its stand-in, 300 requests/minute, on a simulated clock shared with the client: a wait returns at once and
moves the clock on). Reported: members read, member changes written (writes = changes), HTTP requests, wall
time, and the simulated time the Genesys budget imposes.

    python bench/membership.py                      # 10,000 members, 10 changes, 5 rounds
    python bench/membership.py --members 2000 --changes 10 --rounds 3
    python bench/membership.py --flow               # through the engine and the local flow

Two modes. By default through the connectors alone: what the two APIs cost, with nothing else in the way; the
step between read and write, "which members does the target lack or hold too many of", is a set difference
(what `Write.delta` carries), and people are linked by employee id by the bench itself. With `--flow`, the same
sync through `bootstrap.local` (the local run of the one flow, SQLite state): the engine links the people,
matches the groups and computes the delta (needs the group model of issue 13.1).

Measured per round after the initial sync (connectors alone): `changes` members changed in Graph (half added,
half removed), then
- delta: the Graph poll with its cursor (groups/delta: only the changed group is read again, whole, through
  /members), the Genesys group read (Genesys has no delta: every poll lists the members), the writes;
- baseline, in the same round: the Graph poll without a cursor (the delta round from scratch: every user,
  every member), for the ratio.
Medians over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from typing import Any

from peoplesync.connectors.base import forget_tokens
from peoplesync.connectors.genesys import GenesysConnector
from peoplesync.connectors.genesys import Settings as GenesysSettings
from peoplesync.connectors.genesys_api import reset_caches
from peoplesync.connectors.graph import GraphConnector
from peoplesync.connectors.graph import Settings as GraphSettings
from peoplesync.connectors.ratelimit import MemoryBucketStore
from peoplesync.model import Observation, Write
from peoplesync_dev.standins import genesys_groups as gg
from peoplesync_dev.standins.genesys import start_standin as start_genesys
from peoplesync_dev.standins.graph import start_standin as start_graph

CLIENT, SECRET = "bench-client", "bench-secret"


class SimClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def group_obs(observations: list[Observation], key: str) -> Observation:
    return next(o for o in observations if o.kind == "group" and o.key == key)


def requests(c: Any) -> int:
    return int(c.api.http.stats["requests"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--flow", action="store_true", help="through the engine and the local flow (needs the "
                                                             "group model of issue 13.1)")
    args = parser.parse_args()
    if args.flow:
        through_flow(args)
        return
    n = args.members

    reset_caches()
    forget_tokens()
    clock = SimClock()
    graph_url, graph_server = start_graph(clients={CLIENT: SECRET}, clock=clock, delta_page=200, member_slice=500)
    genesys_url, genesys_server = start_genesys(clients={CLIENT: SECRET}, budget_per_minute=300, clock=clock)
    try:
        g, gen = graph_server.standin, genesys_server.standin
        # n + changes people in both systems, linked by employee id (the engine's links, here the bench's)
        source = [g.add_user(displayName=f"P{i:05d}", employeeId=f"E{i}") for i in range(n + args.changes)]
        target = [gen.add_user(f"P{i:05d}", f"p{i}@corp.example", employerInfo={"employeeId": f"E{i}"})
                  for i in range(n + args.changes)]
        link = dict(zip(source, target, strict=True))
        entra = g.add_group("All agents", members=source[:n])
        cloud = gg.add_group(gen, "All agents")
        graph = GraphConnector("entra", GraphSettings(tenant_id=g.tenant, graph_url=f"{graph_url}/v1.0",
                                                      login_url=graph_url, groups={"ids": [entra]}),
                               ["employeeId", "members"], credentials={"client_id": CLIENT, "client_secret": SECRET},
                               buckets=MemoryBucketStore(), clock=clock, sleep=clock.sleep)
        genesys = GenesysConnector("cloud", GenesysSettings(base_url=genesys_url, groups={"ids": [cloud],
                                                                                         "page_size": 500}),
                                   ["name", "employerInfo.employeeId", "members"],
                                   credentials={"client_id": CLIENT, "client_secret": SECRET},
                                   buckets=MemoryBucketStore(), clock=clock, sleep=clock.sleep)

        def sync(cursor: str | None) -> dict[str, Any]:
            r0, q0, t0, wall = requests(graph), requests(genesys), clock(), time.perf_counter()
            read = graph.read(cursor)
            graph_wall = time.perf_counter() - wall
            src = group_obs(read.observations, entra)
            tgt = group_obs(genesys.read(full=True).observations, cloud)
            want = {link[m] for m in src.attrs["members"]}
            have = set(tgt.attrs["members"])
            add, remove = sorted(want - have), sorted(have - want)
            w0 = requests(genesys)
            if add or remove:
                genesys.write(Write("cloud", "update", "bench", cloud, {}, kind="group",
                                    delta={"members": {"add": add, "remove": remove}}))
            assert sorted(gg.group(gen, cloud)["members"]) == sorted(want), "the target does not match"
            return {"cursor": read.cursor, "graph members read": len(src.attrs["members"]),
                    "genesys members read": len(have), "writes": len(add) + len(remove),
                    "write requests": requests(genesys) - w0, "graph requests": requests(graph) - r0,
                    "genesys requests": requests(genesys) - q0, "wall s": time.perf_counter() - wall,
                    "graph wall s": graph_wall,
                    "simulated s": clock() - t0}

        first = sync(None)
        assert first["writes"] == n
        rounds: list[dict[str, Any]] = []
        baselines: list[dict[str, Any]] = []
        cursor = first["cursor"]
        outside = source[n:]
        for r in range(args.rounds):
            half = args.changes // 2
            inside = g.member_ids(entra)
            joining = [u for u in outside if u not in inside][:args.changes - half]
            leaving = inside[r * half:(r + 1) * half]
            g.edit_members(entra, add=joining, remove=leaving)
            outside = [u for u in outside if u not in joining] + leaving
            result = sync(cursor)
            assert result["writes"] == args.changes, f"writes {result['writes']} != changes {args.changes}"
            cursor = result["cursor"]
            rounds.append(result)
            r0, wall = requests(graph), time.perf_counter()
            full = graph.read(None)  # the baseline: the same poll without a cursor
            baselines.append({"graph members read": len(group_obs(full.observations, entra).attrs["members"]),
                              "graph requests": requests(graph) - r0, "wall s": time.perf_counter() - wall,
                              "users read": sum(o.kind == "person" for o in full.observations)})
    finally:
        graph_server.stop()
        genesys_server.stop()

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(row[key] for row in rows))

    print(f"membership sync of one {n:,}-member group, Graph -> Genesys Cloud (300 requests/minute)")
    print(f"initial:  graph members read {first['graph members read']:,}, genesys members read "
          f"{first['genesys members read']:,}, writes {first['writes']:,} in {first['write requests']} requests, "
          f"graph requests {first['graph requests']}, genesys requests {first['genesys requests']}, "
          f"wall {first['wall s']:.2f} s, simulated {first['simulated s'] / 60:.1f} min")
    print(f"after {args.changes} changes (median of {args.rounds}): graph members read "
          f"{med(rounds, 'graph members read'):,.0f}, genesys members read {med(rounds, 'genesys members read'):,.0f}, "
          f"writes {med(rounds, 'writes'):.0f} in {med(rounds, 'write requests'):.0f} requests, graph requests "
          f"{med(rounds, 'graph requests'):.0f}, genesys requests {med(rounds, 'genesys requests'):.0f}, "
          f"wall {med(rounds, 'wall s'):.2f} s (graph poll {med(rounds, 'graph wall s'):.2f} s), simulated "
          f"{med(rounds, 'simulated s'):.0f} s")
    print(f"baseline graph poll without cursor (median): members read {med(baselines, 'graph members read'):,.0f} "
          f"+ users {med(baselines, 'users read'):,.0f}, requests {med(baselines, 'graph requests'):.0f}, wall "
          f"{med(baselines, 'wall s'):.2f} s; delta/baseline graph requests "
          f"{med(rounds, 'graph requests') / med(baselines, 'graph requests'):.2f}, graph poll wall "
          f"{med(rounds, 'graph wall s') / med(baselines, 'wall s'):.2f}")


class Counted:
    """Counts what a connector read (group members) and wrote (member changes, requests) in the flow."""

    def __init__(self, connector: Any) -> None:
        self.c, self.members_read, self.member_writes = connector, 0, 0
        read, write = connector.read, connector.write

        def counted_read(*a: Any, **kw: Any) -> Any:
            result = read(*a, **kw)
            self.members_read += sum(len(o.attrs.get("members") or ()) for o in result.observations
                                     if o.kind == "group")
            return result

        def counted_write(change: Write) -> Any:
            self.member_writes += sum(len(d.get("add", ())) + len(d.get("remove", ())) for d in change.delta.values())
            return write(change)

        connector.read, connector.write = counted_read, counted_write

    def take(self) -> tuple[int, int, int]:
        out = (self.members_read, self.member_writes, requests(self.c))
        self.members_read = self.member_writes = 0
        self.c.api.http.stats["requests"] = 0
        return out


def through_flow(args: argparse.Namespace) -> None:
    """The same sync through `bootstrap.local` (the local run of the one flow, SQLite state): HR (memory)
    holds the people, Graph is the source of the group and Genesys Cloud its target; the engine links people
    by employee id and computes `Write.delta`."""
    try:
        import peoplesync.engine.membership  # noqa: F401  (the group model, issue 13.1)
    except ImportError:
        raise SystemExit("--flow needs the group model of issue 13.1 (engine/membership.py) on this checkout") \
            from None
    from peoplesync import bootstrap
    from peoplesync.config import compile_config, load_config, system_attributes
    from peoplesync_dev.memory import MemoryConnector

    n, k = args.members, args.changes
    reset_caches()
    forget_tokens()
    clock = SimClock()
    graph_url, graph_server = start_graph(clients={CLIENT: SECRET}, clock=clock, delta_page=200, member_slice=500)
    genesys_url, genesys_server = start_genesys(clients={CLIENT: SECRET}, budget_per_minute=300, clock=clock)
    try:
        g, gen = graph_server.standin, genesys_server.standin
        source = [g.add_user(displayName=f"P{i:05d}", employeeId=f"E{i}") for i in range(n + k * args.rounds)]
        for i in range(n + k * args.rounds):
            gen.add_user(f"P{i:05d}", f"p{i}@corp.example", employerInfo={"employeeId": f"E{i}"})
        entra = g.add_group("All agents", members=source[:n])
        cloud = gg.add_group(gen, "All agents")
        plan = compile_config(load_config({
            "systems": {"hr": {"connector": "memory", "writable": False},
                        "entra": {"connector": "graph", "tenant_id": g.tenant, "writable": False},
                        "cloud": {"connector": "genesys_cloud", "base_url": genesys_url}},
            "fields": {"employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "entra": "employeeId",
                                                                 "cloud": "employerInfo.employeeId"}}},
            "match": ["employee_id"], "lifecycle": {"source": "hr"},
            "policies": {"max_changes_per_run": None},
            "groups": {"source": "entra", "match": ["name"], "fields": {
                "name": {"map": {"entra": "displayName", "cloud": "name"}},
                "members": {"map": {"entra": "members", "cloud": "members"}, "reference": "person",
                            "multi": True}}}}))
        hr = MemoryConnector("hr", system_attributes(plan, "hr"), writable=False)
        for i in range(n + k * args.rounds):
            hr.put(f"H{i}", Employee_ID=f"E{i}")
        creds = {"client_id": CLIENT, "client_secret": SECRET}
        graph = Counted(GraphConnector("entra", GraphSettings(
            tenant_id=g.tenant, graph_url=f"{graph_url}/v1.0", login_url=graph_url, groups={"ids": [entra]}),
            system_attributes(plan, "entra"), credentials=creds, writable=False, buckets=MemoryBucketStore(),
            clock=clock, sleep=clock.sleep))
        genesys = Counted(GenesysConnector("cloud", GenesysSettings(base_url=genesys_url, groups={
            "ids": [cloud], "page_size": 500}), system_attributes(plan, "cloud"), credentials=creds,
            buckets=MemoryBucketStore(), clock=clock, sleep=clock.sleep))
        state = tempfile.mkdtemp(prefix="peoplesync-bench-")  # SQLite, as `peoplesync sync` keeps its state
        bridge = bootstrap.local(plan, store=bootstrap.sqlite_store(f"{state}/state.sqlite3"),
                                 connectors={"hr": hr, "entra": graph.c, "cloud": genesys.c}, sleep=clock.sleep)
        rows = []
        outside = source[n:]
        for r in range(args.rounds + 1):
            if r:
                inside = g.member_ids(entra)
                joining, outside = outside[:k - k // 2], outside[k - k // 2:]
                g.edit_members(entra, add=joining, remove=inside[(r - 1) * (k // 2):r * (k // 2)])
            wall = time.perf_counter()
            report = bridge.sync()
            wall = time.perf_counter() - wall
            graph_read, _, graph_requests = graph.take()
            genesys_read, writes, genesys_requests = genesys.take()
            want = n if r == 0 else k
            assert writes == want and not report.errors, f"round {r}: {writes} member changes written, {report.errors}"
            rows.append((graph_read, genesys_read, writes, graph_requests, genesys_requests, wall))
    finally:
        graph_server.stop()
        genesys_server.stop()
    print(f"through the flow (bootstrap.local, SQLite state): one {n:,}-member group, Graph -> Genesys Cloud")
    for label, row in (("initial", rows[0]), (f"after {k} changes (median of {args.rounds})",
                                              tuple(statistics.median(x[i] for x in rows[1:]) for i in range(6)))):
        print(f"{label}: graph members read {row[0]:,.0f}, genesys members read {row[1]:,.0f}, member writes "
              f"{row[2]:,.0f}, graph requests {row[3]:.0f}, genesys requests {row[4]:.0f}, wall {row[5]:.1f} s")


if __name__ == "__main__":
    main()
