"""The engine's decisions on the throughput bench's data, as a trace to compare between two checkouts: faster
must not mean different.

    python bench/engine_differential.py [--people 1000] --tree <checkout>   # this tree against another
    python bench/engine_differential.py [--people 1000] --digests           # one sha256 per phase

The trace covers `bench/engine_throughput.py`'s four phases (initial, echo, unchanged, changed: the same data,
the same order), the deliveries between them (every write `writes_for` owes and what `confirm` makes of it), and
a fifth phase, "remapped": every record decided again under a changed mapping fingerprint (the long way,
`Golden.full_pass`). For each observation: the correlation, what the engine said (changed, stale, systems
written, decisions with their explanation, records woken) and the record after it; the record is compared as
data (keys sorted, the read digest left out: how a read is digested may change, that it is the same for equal
reads is tests/unit/test_engine_fast_paths.py's), writes with their attributes in order. With `--tree`, each
checkout runs in its own process and the first difference is printed; tests/unit/test_engine_differential.py
holds main's per-phase digests at 120 people.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import engine_throughput as bench

from peoplesync.config import compile_config, load_config
from peoplesync.engine import Engine
from peoplesync.model import Observation, RecordState

PHASES = ("initial", "echo", "unchanged", "changed", "remapped")


def _record(state: RecordState) -> dict[str, Any]:
    d = state.to_dict()
    for shadow in d["shadows"].values():
        shadow.pop("digest", None)
    return d


def _line(*parts: Any) -> str:
    return json.dumps(parts, default=repr)


def _observe(engine: Engine, index: bench.DictIndex, batches: dict[str, list[Observation]], remap: bool = False
             ) -> Iterator[str]:
    """The bench's `run`, saying what each observation did."""
    plan = engine.plan
    for system in ("hr", "ad", "cloud", "badges"):
        for obs in batches[system]:
            m = bench.correlate(plan, obs, index)
            head = [obs.system, obs.key, m.outcome, m.record_id, list(m.candidates), m.rule, m.reason]
            if m.outcome == bench.UNMATCHED:
                state = RecordState(bench.new_record_id("person", obs.system, obs.key), fingerprint=plan.fingerprint)
            elif m.record_id is not None:
                state = index.states[m.record_id]
            else:
                yield _line(head)
                continue
            if remap:
                state.fingerprint = ""  # a record decided under another mapping: decided again, field by field
            out = engine.observe(state, obs, index)
            yield _line(head, out.changed, out.stale, sorted(out.writes), [d.to_dict() for d in out.decisions],
                        sorted(out.wake), json.dumps(_record(state), sort_keys=True, default=repr))
            if out.changed or m.outcome in (bench.UNMATCHED, bench.MATCHED):
                index.save(state)


def _settle(engine: Engine, index: bench.DictIndex, batches: dict[str, list[Observation]]) -> Iterator[str]:
    """The bench's `settle`, saying what was owed and what each confirmation did."""
    for state, write, out in bench.settle_steps(engine, index, batches):
        if write is None:
            yield _line("settled", json.dumps(_record(state), sort_keys=True, default=repr))
        else:
            yield _line("write", write.to_dict(), out.changed, sorted(out.writes),
                        [d.to_dict() for d in out.decisions], sorted(out.wake))


def trace(people: int, share: float = 0.05, seed: int = 7) -> Iterator[tuple[str, str]]:
    """(phase, line) for everything the engine decides on the bench's data, in the bench's order."""
    rng = random.Random(seed)
    plan = compile_config(load_config(bench.CONFIG))
    engine, index = Engine(plan), bench.DictIndex()
    batches = bench.accounts(people, rng)
    for line in _observe(engine, index, batches):
        yield "initial", line
    for line in _settle(engine, index, batches):
        yield "initial", line
    for line in _observe(engine, index, bench.read_at(batches, 1.5)):
        yield "echo", line
    for line in _observe(engine, index, bench.read_at(batches, 1.6)):
        yield "unchanged", line
    changed = bench.changed_copy(batches, share, rng)
    for line in _observe(engine, index, changed):
        yield "changed", line
    for line in _settle(engine, index, changed):
        yield "changed", line
    for line in _observe(engine, index, bench.read_at(changed, 3), remap=True):
        yield "remapped", line


def digests(people: int) -> dict[str, str]:
    """One sha256 per phase of the trace."""
    hashes = {phase: hashlib.sha256() for phase in PHASES}
    for phase, line in trace(people):
        hashes[phase].update(line.encode() + b"\n")
    return {phase: h.hexdigest() for phase, h in hashes.items()}


def compare(tree: str, people: int) -> int:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outputs = []
    for path in (here, os.path.abspath(tree)):
        env = {**os.environ, "PYTHONPATH": os.path.join(path, "layers", "peoplesync")}
        run = subprocess.run([sys.executable, os.path.abspath(__file__), "--dump", "--people", str(people)],
                             env=env, capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"{path}: {run.stderr}")
        outputs.append(run.stdout.splitlines())
    mine, theirs = outputs
    for i, (a, b) in enumerate(zip(mine, theirs, strict=False)):
        if a != b:
            print(f"line {i + 1} differs:\n  this tree: {a[:2000]}\n  {tree}: {b[:2000]}")
            return 1
    if len(mine) != len(theirs):
        print(f"{len(mine)} lines here, {len(theirs)} in {tree}")
        return 1
    print(f"identical: {len(mine)} lines ({people} people, {len(PHASES)} phases)")
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--tree", default=None, help="another checkout to compare this tree's trace with")
    ap.add_argument("--digests", action="store_true", help="print one sha256 per phase")
    ap.add_argument("--dump", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dump:
        for phase, line in trace(args.people):
            sys.stdout.write(f"{phase} {line}\n")
    elif args.digests:
        print(json.dumps(digests(args.people), indent=1))
    elif args.tree:
        sys.exit(compare(args.tree, args.people))
    else:
        ap.print_help()


if __name__ == "__main__":
    main()
