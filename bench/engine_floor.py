"""The least a first sight can cost in this engine's state model, against the engine, in the same run.

    python bench/engine_floor.py [--people 20000] [--repeat 5] [--vs-read] [--steady]

Why: the first-sight bar (issue 14: 50,000 observations/s on one core, 20 us each, correlation and the index
save included) was set on a machine that ran this engine 2.3x faster than this one. Whether it can be met here
is a question about the floor: what an HR account's first sight must do however it is coded. The floor is a
hand-specialised function for exactly the bench's HR system (no plan, no table, no call per field) that does
only the work the state model requires of a new person seen first in their one source:
- a shadow for the account, with its digest (the cheap "nothing changed" test of every later read) and marker;
- each of the six fields normalised, kept in the shadow, made the golden value with its generation, its decider
  and the shadow's agreement (`seen_gen`), and explained (one `Decision`, as the audit trail requires);
- the record's index keys (its match values).
Nothing else: no correlation, no look-up of who waits for this account, no lifecycle, no creation planned.
The run checks that the floor's records hold what the engine's hold (golden values, shadow values, keys,
generations, deciders, the decisions' fields and values), so it is the same work.

Measured, each over the same 20,000 HR accounts (CPU seconds, `time.process_time`; medians of `--repeat`
rounds, the three interleaved in each round), twice: with the cyclic collector on, as `engine_throughput.py`
runs, and paused (as the local run pauses it for each chunk of messages: what is left is the work itself):
- engine:  `Engine.observe` of each account into a new record (what `engine_throughput.py`'s initial phase does
  for its HR system, without correlation and the index);
- floor:   the hand-specialised first sight above;
- loop:    what `engine_throughput.py`'s loop spends around the engine for each observation: correlation, a new
  record, the index save (the engine's work left out, its keys set by hand so the save indexes them).

`--vs-read` also asks what that floor means for the local first-sync bar (within 25x of reading the files,
`bench/local_speed.py`): it writes `local_speed.py`'s three files for `--people` people, times their read by
`csv.reader` in the same run (best of 5, CPU), and prints the first sync's observations (HR, the directory:
everyone, the badges: every other person) each at the floor and loop of an HR first sight (the cheaper of the
two collector settings), as a multiple of that read. It is a lower bound: the directory's and the badges'
first sights are matched to a record and decide targets (more work than a new person's), and nothing is
stored, recorded or delivered.

`--steady` does the same for the steady-state bar (150,000 observations/s, 6.7 us each): an unchanged re-poll
of all four systems of `engine_throughput.py` (after the first sight, the writes delivered and the echo), timed
in the engine as its "unchanged" phase does it (correlation by the link, `Engine.observe`), against its floor:
the account's record found by its link and the read's digest compared with its shadow's, nothing else (the
digest: marshal and a 64-bit BLAKE2b, `freshness.observation_digest`; a weaker checksum would be faster, but a
change crafted to keep it would go unseen, and a target's edit would stand).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import marshal
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_throughput import CONFIG, DictIndex, accounts

from peoplesync.config import compile_config, load_config
from peoplesync.engine import Engine
from peoplesync.engine.correlation import correlate, new_record_id
from peoplesync.model import Observation, RecordState, Rule, Shadow, decision

_blake2b, _dumps = hashlib.blake2b, marshal.dumps
# the bench's HR system: (attribute, field, normalised by `trim, lower`): all six have HR as their one source
HR_FIELDS = (("Employee_ID", "employee_id", False), ("Work_Email", "email.work", True), ("Name", "name", False),
             ("Hire_Date", "hire_date", False), ("Work_Location", "location", False),
             ("Cost_Center", "cost_center", False))
REASON = "hr is the source"


def floor_first_sight(state: RecordState, obs: Observation, decisions: list[Any]) -> None:
    """An HR account's first sight into a new record, nothing the state model does not require."""
    shadow = state.shadows["hr"] = Shadow(obs.key, obs.ref)
    shadow.digest = _blake2b(_dumps((obs.attrs, obs.active, obs.removed), 0), digest_size=8).hexdigest()
    shadow.marker, shadow.active = obs.marker, obs.active
    values, golden, gens, deciders, seen = shadow.values, state.golden, state.gen, state.decided_by, shadow.seen_gen
    attrs, rid = obs.attrs, state.id
    for attr, name, lower in HR_FIELDS:
        value = attrs[attr]
        if lower:
            value = value.strip().lower()
        values[attr] = golden[name] = value
        gens[name] = seen[name] = 1
        deciders[name] = "hr"
        decisions.append(decision(record_id=rid, field=name, old=None, new=value, rule=Rule.SOURCE, system="hr",
                                  detail=REASON))
    state.keys = {"email.work": [golden["email.work"]], "employee_id": [golden["employee_id"]]}


def new_records(hr: list[Observation]) -> list[RecordState]:
    return [RecordState(new_record_id("person", obs.system, obs.key), fingerprint="") for obs in hr]


def time_engine(engine: Engine, hr: list[Observation], keep: bool = False
                ) -> tuple[float, list[RecordState], list[Any]]:
    """CPU seconds of the engine's first sights of `hr`, the records, and their decisions if `keep` (else each
    observation's decisions are dropped with its outcome, as the bench's loop drops them)."""
    states, index, decisions = new_records(hr), DictIndex(), list[Any]()
    for state in states:
        state.fingerprint = engine.plan.fingerprint
    observe = engine.observe
    started = time.process_time()
    if keep:
        for state, obs in zip(states, hr, strict=True):
            decisions += observe(state, obs, index).decisions
    else:
        for state, obs in zip(states, hr, strict=True):
            observe(state, obs, index)
    return time.process_time() - started, states, decisions


def time_floor(hr: list[Observation], keep: bool = False) -> tuple[float, list[RecordState], list[Any]]:
    """`time_engine` for the floor."""
    states, decisions = new_records(hr), list[Any]()
    started = time.process_time()
    if keep:
        for state, obs in zip(states, hr, strict=True):
            floor_first_sight(state, obs, decisions)
    else:
        for state, obs in zip(states, hr, strict=True):
            floor_first_sight(state, obs, decisions)
            decisions.clear()
    return time.process_time() - started, states, decisions


def time_loop(engine: Engine, hr: list[Observation]) -> float:
    """Correlation, a new record and the index save, as engine_throughput.run does them, the engine left out."""
    plan, index = engine.plan, DictIndex()
    started = time.process_time()
    for obs in hr:
        correlate(plan, obs, index)
        state = RecordState(new_record_id("person", obs.system, obs.key), fingerprint=plan.fingerprint)
        state.keys = {"email.work": [obs.attrs["Work_Email"].strip().lower()],
                      "employee_id": [obs.attrs["Employee_ID"]]}
        index.save(state)
    return time.process_time() - started


def same_work(engine: tuple[list[RecordState], list[Any]], floor: tuple[list[RecordState], list[Any]]) -> None:
    """The floor does what the engine does for these accounts (else its figure says nothing)."""
    (e_states, e_decisions), (f_states, f_decisions) = engine, floor
    for e, f in zip(e_states, f_states, strict=True):
        es, fs = e.shadows["hr"], f.shadows["hr"]
        assert (e.golden, e.gen, e.decided_by, e.keys) == (f.golden, f.gen, f.decided_by, f.keys), e.id
        assert (es.values, es.seen_gen, es.digest, es.marker) == (fs.values, fs.seen_gen, fs.digest, fs.marker), e.id
    assert [(d.record_id, d.field, d.new, d.rule, d.system) for d in e_decisions] == \
        [(d.record_id, d.field, d.new, d.rule, d.system) for d in f_decisions], "decisions differ"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--vs-read", action="store_true", help="the floor against local_speed.py's read")
    ap.add_argument("--steady", action="store_true", help="an unchanged re-poll against its floor")
    args = ap.parse_args()
    engine = Engine(compile_config(load_config(CONFIG)))
    hr = accounts(args.people, random.Random(7))["hr"]
    print(f"python {sys.version.split()[0]}, {args.people:,} HR accounts seen first (a new person each), CPU us "
          f"per observation, median of {args.repeat} rounds")
    least = None
    for collector in (True, False):
        per = first_sight(engine, hr, args.repeat, collector)
        both = per["floor"] + per["loop"]
        least = both if least is None else min(least, both)
        print(f" the cyclic collector {'on (as engine_throughput.py runs)' if collector else 'paused'}:")
        print(f"  engine (Engine.observe)                      {per['engine']:6.1f} us")
        print(f"  floor (hand-specialised, the same work)      {per['floor']:6.1f} us  "
              f"({per['engine'] / per['floor']:.2f}x below the engine)")
        print(f"  loop (correlation, new record, index save)   {per['loop']:6.1f} us")
        print(f"  floor + loop                                 {both:6.1f} us  "
              f"= {1e6 / both:,.0f} obs/s at most (bar: 50,000/s = 20.0 us)")
    if args.vs_read:
        against_the_read(args.people, least / 1e6)  # type: ignore[operator]
    if args.steady:
        steady(engine, args.people, args.repeat)


def first_sight(engine: Engine, hr: list[Observation], repeat: int, collector: bool) -> dict[str, float]:
    """us per observation of the engine, the floor and the loop (medians), the cyclic collector on or paused."""
    _, *engine_work = time_engine(engine, hr, keep=True)  # (untimed) the floor does the engine's work
    _, *floor_work = time_floor(hr, keep=True)
    same_work((engine_work[0], engine_work[1]), (floor_work[0], floor_work[1]))
    del engine_work, floor_work
    rows: dict[str, list[float]] = {"engine": [], "floor": [], "loop": []}
    for _ in range(repeat):
        for name in rows:
            gc.collect()
            if not collector:
                gc.disable()
            try:
                spent = (time_loop(engine, hr) if name == "loop" else
                         time_engine(engine, hr)[0] if name == "engine" else time_floor(hr)[0])
            finally:
                gc.enable()
            rows[name].append(spent)
    return {name: statistics.median(spent) / len(hr) * 1e6 for name, spent in rows.items()}


def steady(engine: Engine, people: int, repeat: int) -> None:
    """An unchanged re-poll in the engine against its floor (see the module's text)."""
    import engine_throughput

    batches = accounts(people, random.Random(7))
    index = DictIndex()
    engine_throughput.run(engine, index, batches)
    engine_throughput.settle(engine, index, batches)
    engine_throughput.run(engine, index, engine_throughput.read_at(batches, 1.5))  # the echo
    rows: dict[str, list[float]] = {"engine": [], "floor": []}
    for round_ in range(repeat):
        again = engine_throughput.read_at(batches, 1.6 + round_ / 100)
        gc.collect()
        n, writes, spent = engine_throughput.run(engine, index, again)
        assert writes == 0
        rows["engine"].append(spent / n)
        gc.collect()
        rows["floor"].append(unchanged_floor(index, again) / n)
    per = {name: statistics.median(spent) * 1e6 for name, spent in rows.items()}
    print(f"  unchanged re-poll, {n:,} accounts of 4 systems: engine {per['engine']:.1f} us "
          f"({1e6 / per['engine']:,.0f}/s), floor {per['floor']:.1f} us ({1e6 / per['floor']:,.0f}/s at most; "
          f"bar: 150,000/s = 6.7 us)")


def unchanged_floor(index: DictIndex, batches: dict[str, list[Observation]]) -> float:
    """Each account's record found by its link, its read digested and found equal to its shadow's."""
    started = time.process_time()
    for system, observations in batches.items():
        for obs in observations:
            state = index.states[index.by_link(obs.kind, system, obs.key)]  # type: ignore[index]
            digest = _blake2b(_dumps((obs.attrs, obs.active, obs.removed), 0), digest_size=8).hexdigest()
            if digest != state.shadows[system].digest:
                raise AssertionError(f"{system} {obs.key}: not unchanged")
    return time.process_time() - started


def against_the_read(people: int, per_observation: float) -> None:
    """The local first sync's observations at the floor, against reading its files (see the module's text)."""
    import shutil
    import tempfile

    import local_speed

    folder = Path(tempfile.mkdtemp(prefix="ps-floor-"))
    try:
        local_speed.generate(folder, people, 5.0)
        read = min(local_speed.read_files(folder)[1] for _ in range(5))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    observations = people + people + people // 2
    floor = observations * per_observation
    print(f"  local first sync, {people:,} people: {observations:,} observations at that floor {floor:.2f} s CPU, "
          f"the files' read {read * 1000:.0f} ms: {floor / read:.0f}x the read before anything is stored, recorded "
          f"or delivered (bar: 25x = {25 * read:.2f} s)")


if __name__ == "__main__":
    main()
