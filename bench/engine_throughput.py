"""Engine throughput on synthetic data: observations per second and writes decided, on one core.

    python bench/engine_throughput.py [--people 100000] [--changed 0.05] [--repeat 3]

Four systems (hr, ad, cloud, badges), 12 mapped fields (one two-way with a winner, one phone with E.164, one
manager reference, one on_create, one if_empty). Phases, each over every account of every system:
  initial   first sight of every account: correlation, linking, every field decided
  echo      the first re-poll after our writes were delivered: must decide zero writes (no echo)
  unchanged a re-poll where nothing changed: must decide zero writes
  changed   a re-poll where a share of people changed a field in AD or the cloud
Baseline, measured in the same run on the same data: a naive engine that re-evaluates every field of every
record against every system at each observation (no shadows, no "nothing changed" test).
The index is a plain dict (what the store's index gives the engine), so the figures are the engine's own.
Times are CPU seconds of this process (`time.process_time`): the bench is single-threaded, so that is one
core, and other work on a shared machine does not count against it.

    --no-naive             skip the naive baseline (the slow part)
    --profile PHASE        print a cProfile of one phase (initial, echo, unchanged, changed)
    --tree PATH            also measure another checkout's engine (this file, its code), rounds alternating
                           between the two in fresh processes: the baseline in the same run
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

from peoplesync.config import compile_config, load_config
from peoplesync.engine import Engine

try:
    from peoplesync.engine.correlation import MATCHED, UNMATCHED, correlate, new_record_id
except ImportError:  # an older checkout (PYTHONPATH=<tree>/layers/peoplesync), measured in the same run
    from peoplesync.correlate import MATCHED, UNMATCHED, correlate, new_record_id  # type: ignore[no-redef]
from peoplesync.model import Observation, RecordState

CONFIG: dict[str, Any] = {
    "systems": {"hr": {"connector": "memory", "writable": False}, "ad": {"connector": "memory"},
                "cloud": {"connector": "memory"}, "badges": {"connector": "memory"}},
    "fields": {
        "employee_id": {"source": "hr", "map": {"hr": "Employee_ID", "ad": "employeeID", "cloud": "employeeId",
                                                 "badges": "emp"}},
        "email.work": {"source": "hr", "normalize": ["trim", "lower"],
                       "map": {"hr": "Work_Email", "ad": "mail", "cloud": "email"}},
        "name": {"source": "hr", "map": {"hr": "Name", "ad": "displayName", "cloud": "name", "badges": "holder"}},
        "title": {"source": "ad", "map": {"ad": "title", "cloud": "title"}},
        "department": {"source": "ad", "map": {"ad": "department", "cloud": "department"}},
        "manager": {"source": "ad", "reference": "person", "map": {"ad": "manager", "cloud": "manager"}},
        "phone.work": {"source": ["ad", "cloud"], "winner": "ad", "normalize": "e164",
                       "map": {"ad": "telephoneNumber", "cloud": "phone"}},
        "email.personal": {"source": "cloud", "map": {"cloud": "homeEmail", "ad": "otherMailbox"}},
        "badge_id": {"source": "badges", "map": {"badges": "badge_number", "ad": "extensionAttribute5"}},
        "hire_date": {"source": "hr", "apply": "on_create", "map": {"hr": "Hire_Date", "cloud": "dateHire"}},
        "location": {"source": "hr", "apply": "if_empty", "map": {"hr": "Work_Location", "cloud": "locations"}},
        "cost_center": {"source": "hr", "map": {"hr": "Cost_Center", "ad": "extensionAttribute1"}},
    },
    "match": ["employee_id", "email.work"],
    "lifecycle": {"source": "hr"},
}


_NONE: frozenset[str] = frozenset()


class DictIndex:
    """The engine's RecordIndex over plain dicts, kept up to date by the bench loop. Lookups hand out the index's
    sets as copies (the port's contract), and a save re-indexes a record's keys only when the engine gave it
    new ones (`refresh_keys` replaces `state.keys` when they change) and its links only when they changed, as
    the stores write only what changed."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, str], str] = {}
        self.refs: dict[tuple[str, str], str] = {}
        self.values: dict[tuple[str, Any], set[str]] = {}
        self.states: dict[str, RecordState] = {}
        self.indexed: dict[str, Any] = {}  # record id -> the keys last indexed (the engine's own dict)
        self.linked: dict[str, dict[str, tuple[str, str | None]]] = {}  # record id -> system -> (key, ref) indexed

    def by_link(self, kind: str, system: str, key: str) -> str | None:
        return self.links.get((system, key))

    def by_ref(self, kind: str, system: str, ref: str) -> str | None:
        return self.refs.get((system, ref.lower()))

    def by_value(self, kind: str, field: str, value: Any) -> set[str]:
        return set(self.values.get((field, str(value)), _NONE))  # the caller's own (older engines change it)

    def ref_of(self, record_id: str, system: str) -> str | None:
        s = self.states.get(record_id)
        shadow = s.shadows.get(system) if s else None
        return (shadow.ref or shadow.key) if shadow else None

    def value_of(self, record_id: str, field: str) -> Any:
        return self.states[record_id].golden.get(field)

    def save(self, state: RecordState) -> None:
        self.states[state.id] = state
        linked = self.linked.setdefault(state.id, {})
        for system, shadow in state.shadows.items():
            if linked.get(system) != (shadow.key, shadow.ref):  # a new link, or a new key or reference
                linked[system] = (shadow.key, shadow.ref)
                self.links[(system, shadow.key)] = state.id
                self.refs[(system, (shadow.ref or shadow.key).lower())] = state.id
        if self.indexed.get(state.id) is state.keys:
            return
        self.indexed[state.id] = state.keys
        for field, vs in state.keys.items():
            for v in vs:
                self.values.setdefault((field, str(v)), set()).add(state.id)


def accounts(n: int, rng: random.Random) -> dict[str, list[Observation]]:
    out: dict[str, list[Observation]] = {s: [] for s in CONFIG["systems"]}
    for i in range(n):
        emp, mail = f"E{i:07d}", f"person{i}@corp.example"
        boss = f"cn=person {i // 10},ou=staff,dc=corp" if i >= 10 else None
        phone = f"+1317555{i % 10000:04d}"
        out["hr"].append(Observation("hr", f"W{i}", {
            "Employee_ID": emp, "Work_Email": mail.upper(), "Name": f"Person {i}", "Hire_Date": "2020-01-01",
            "Work_Location": "HQ", "Cost_Center": f"CC{i % 50}"}, marker=1))
        out["ad"].append(Observation("ad", f"guid-{i}", {
            "employeeID": emp, "mail": mail, "displayName": f"Person {i}", "title": "Engineer",
            "department": f"D{i % 20}", "manager": boss, "telephoneNumber": phone, "otherMailbox": None,
            "extensionAttribute5": None, "extensionAttribute1": f"CC{i % 50}"},
            ref=f"CN=Person {i},OU=Staff,DC=corp", marker=1))
        out["cloud"].append(Observation("cloud", f"u{i}", {
            "employeeId": emp, "email": mail, "name": f"Person {i}", "title": "Engineer",
            "department": f"D{i % 20}", "manager": None, "phone": phone, "homeEmail": f"me{i}@home.example",
            "dateHire": "2020-01-01", "locations": "HQ"}, marker=1))
        out["badges"].append(Observation("badges", f"B{i}", {"emp": emp, "holder": f"Person {i}",
                                                             "badge_number": str(100000 + i)}, marker=1))
    return out


PROFILE: dict[str, cProfile.Profile] = {}  # phase -> its profile (--profile)


def run(engine: Engine, index: DictIndex, batches: dict[str, list[Observation]], naive: bool = False,
        phase: str = "") -> tuple[int, int, float]:
    """Reconcile every observation; returns (observations, writes decided, CPU seconds)."""
    plan = engine.plan
    n = writes = 0
    profile = PROFILE.get(phase)
    if profile is not None:
        profile.enable()
    t0 = time.process_time()
    for system in ("hr", "ad", "cloud", "badges"):
        for obs in batches[system]:
            n += 1
            m = correlate(plan, obs, index)
            if m.outcome == UNMATCHED:
                state = RecordState(new_record_id("person", obs.system, obs.key), fingerprint=plan.fingerprint)
            elif m.record_id is not None:
                state = index.states[m.record_id]
            else:
                continue
            if naive:
                state.fingerprint = ""  # forces the full re-evaluation of every field at every observation
                for shadow in state.shadows.values():
                    shadow.digest = None
            out = engine.observe(state, obs, index)
            writes += sum(len(s.pending) + (s.pending_state is not None) for s in state.shadows.values()) \
                if out.writes else 0
            if out.changed or m.outcome in (UNMATCHED, MATCHED):
                index.save(state)
    spent = time.process_time() - t0
    if profile is not None:
        profile.disable()
    return n, writes, spent


def settle(engine: Engine, index: DictIndex, batches: dict[str, list[Observation]]) -> None:
    """Deliver every decided write: apply it to the system's data, and confirm it, as the deliver step does."""
    for _ in settle_steps(engine, index, batches):
        pass


def settle_steps(engine: Engine, index: DictIndex, batches: dict[str, list[Observation]]) -> Iterator[Any]:
    """`settle`, step by step: (record, write, its confirmation) for each write, (record, None, None) once a
    record's writes are all confirmed (bench/engine_differential.py traces them)."""
    by_key = {(o.system, o.key): o for obs in batches.values() for o in obs}
    for state in list(index.states.values()):
        for system in list(state.shadows):
            for write in engine.writes_for(state, system, index):
                by_key[(system, write.key)].attrs.update(write.attrs)
                yield state, write, engine.confirm(state, write, None, index)
        state.create_pending.clear()
        yield state, None, None


def read_at(batches: dict[str, list[Observation]], when: float) -> dict[str, list[Observation]]:
    """The same accounts read again at `when`."""
    return {s: [Observation(o.system, o.key, o.attrs, o.active, o.removed, when, o.ref) for o in obs]
            for s, obs in batches.items()}


def changed_copy(batches: dict[str, list[Observation]], share: float, rng: random.Random) -> dict[str, Any]:
    out = {s: [Observation(o.system, o.key, dict(o.attrs), o.active, o.removed, 2, o.ref) for o in obs]
           for s, obs in batches.items()}
    for i in rng.sample(range(len(out["ad"])), int(len(out["ad"]) * share)):
        if i % 2:
            out["ad"][i].attrs["title"] = "Senior Engineer"
        else:
            out["cloud"][i].attrs["phone"] = f"+1 (463) 555-{i % 10000:04d}"
    return out


def measure(people: int, share: float, naive: bool, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    plan = compile_config(load_config(CONFIG))
    engine, index = Engine(plan), DictIndex()
    batches = accounts(people, rng)
    gc.collect()
    results: dict[str, Any] = {}
    results["initial"] = run(engine, index, batches, naive, "initial")
    settle(engine, index, batches)
    # the first reads after our writes: they must decide nothing
    results["echo"] = run(engine, index, read_at(batches, 1.5), naive, "echo")
    results["unchanged"] = run(engine, index, read_at(batches, 1.6), naive, "unchanged")
    results["changed"] = run(engine, index, changed_copy(batches, share, rng), naive, "changed")
    return results


def memory_per_person(people: int) -> float:
    rng = random.Random(1)
    plan = compile_config(load_config(CONFIG))
    batches = accounts(people, rng)
    tracemalloc.start()
    engine, index = Engine(plan), DictIndex()
    base = tracemalloc.get_traced_memory()[0]
    run(engine, index, batches)
    settle(engine, index, batches)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / people


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--changed", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-people", type=int, default=None, help="people for the naive baseline")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive baseline (the slow part)")
    ap.add_argument("--profile", choices=("initial", "echo", "unchanged", "changed"), default=None,
                    help="print a cProfile of this phase of the engine (one round)")
    ap.add_argument("--tree", default=None, help="another checkout to measure in the same run (alternating)")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one round, for --tree
    args = ap.parse_args()
    if args.json:
        print(json.dumps(measure(args.people, args.changed, False)))
        return
    if args.tree:
        return compare(args.tree, args.people, args.changed, args.repeat)
    if args.profile:
        PROFILE[args.profile] = cProfile.Profile()
        measure(args.people, args.changed, False)
        pstats.Stats(PROFILE[args.profile]).sort_stats("tottime").print_stats(40)
        return
    base_people = args.baseline_people or args.people
    print(f"python {sys.version.split()[0]}, {args.people} people x 4 systems, 12 fields, "
          f"{args.changed:.0%} changed; median of {args.repeat}")
    for label, naive, people in (("engine", False, args.people), ("naive baseline", True, base_people)):
        if naive and args.no_naive:
            continue
        rows: dict[str, list[tuple[int, int, float]]] = {}
        for _ in range(args.repeat):
            for phase, r in measure(people, args.changed, naive).items():
                rows.setdefault(phase, []).append(r)
        for phase, rs in rows.items():
            n, writes = rs[0][0], rs[0][1]
            secs = statistics.median(r[2] for r in rs)
            print(f"{label:15} {phase:9} {n:8d} obs  {n / secs:10,.0f} obs/s (CPU)  writes decided {writes:7d}")
    print(f"memory per person (golden + 4 shadows + links): {memory_per_person(min(args.people, 20_000)):,.0f} B")


def compare(tree: str, people: int, share: float, repeat: int) -> None:
    """Rounds alternating between this tree's engine and `tree`'s, each in a fresh process."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = {"this tree": here, tree: os.path.abspath(tree)}
    rows: dict[str, dict[str, list[list[float]]]] = {t: {} for t in trees}
    for _ in range(repeat):
        for label, path in trees.items():
            env = {**os.environ, "PYTHONPATH": os.path.join(path, "layers", "peoplesync")}
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--json", "--people", str(people),
                                  "--changed", str(share)], env=env, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{path}: {out.stderr}")
            for phase, r in json.loads(out.stdout.splitlines()[-1]).items():
                rows[label].setdefault(phase, []).append(r)
    print(f"python {sys.version.split()[0]}, {people} people x 4 systems, {share:.0%} changed; "
          f"CPU obs/s, median of {repeat} alternating rounds")
    print(f"{'phase':10} " + "  ".join(f"{label[-24:]:>24}" for label in trees) + "   ratio  writes decided")
    for phase in rows["this tree"]:
        rates = [statistics.median(r[0] / r[2] for r in rows[label][phase]) for label in trees]
        writes = [rows[label][phase][0][1] for label in trees]
        print(f"{phase:10} " + "  ".join(f"{x:24,.0f}" for x in rates) + f"  {rates[0] / rates[1]:5.2f}x"
              f"  {writes[0]} / {writes[1]}")


if __name__ == "__main__":
    main()
