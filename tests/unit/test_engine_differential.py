"""The engine decides exactly what main's engine decided before it was made faster (issue 14): on the throughput
bench's data (120 people in 4 systems, 12 fields), every correlation, decision with its explanation, write owed,
confirmation and record, in all four bench phases and a full re-evaluation under a new mapping, hashes to what
main at a583458 gave. A change of any decision changes a digest; `python bench/engine_differential.py --people
1000 --tree <a checkout of main>` shows the first line that differs."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import engine_differential

# python bench/engine_differential.py --people 120 --digests, main at a583458 (before the engine's fast paths)
MAIN = {
    "initial": "a82b19b44fc28151e59fd4c8dfc9adc0fa32a0c499f947191c8d01755b986967",
    "echo": "3f35d239e3016f5f9b9ab24c661f117b46c26d5a524eea11da72d1e91f6401fb",
    "unchanged": "25a98b4ac45c904feb375fe3389ce2db33c4d72b55c43636783b742143b37aae",
    "changed": "1a72fd34edeec895da93a31a06ce738ec4f86cf36bdbd96dc3d4c86c0d119075",
    "remapped": "647395a8fbfa25d902d4577f00e0324c73f9a8be8c42e5500f39a5b414b691da",
}


def test_the_engine_decides_on_the_bench_data_exactly_what_main_decided() -> None:
    assert engine_differential.digests(120) == MAIN


def test_the_trace_sees_every_kind_of_decision_the_bench_makes() -> None:
    """The trace is no empty comparison: first sights decided and filled, writes owed and confirmed, changes
    decided, no write on a re-read, and every record re-read under the new mapping."""
    rules: dict[str, Counter[str]] = {phase: Counter() for phase in engine_differential.PHASES}
    for phase, line in engine_differential.trace(40):
        rules[phase].update(re.findall(r'"rule": "([a-z-]+)"', line))
        rules[phase]["(write)"] += line.startswith('["write"')
        rules[phase]["(observation)"] += line.startswith('[["')
    assert rules["initial"]["source"] > 40 * 4 and rules["initial"]["filled"] and rules["initial"]["(write)"] > 40
    assert rules["changed"]["source"] and rules["changed"]["(write)"]
    assert rules["echo"]["(write)"] == rules["unchanged"]["(write)"] == 0
    assert rules["remapped"]["(observation)"] == 40 * 4
