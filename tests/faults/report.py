"""`python3 -m tests.faults.report`: every fault kind of the drill, its counts per category, and the smallest
case that shows each failing category. Run from the repository root with the layer and tools on PYTHONPATH:

    PYTHONPATH=$PWD/layers/peoplesync:$PWD/tools python3 -m tests.faults.report
"""

from __future__ import annotations

import logging
import sys
import time
import warnings

from .drill import CATEGORIES, Sweep, all_sweeps, clean


def render(sweeps: list[Sweep]) -> str:
    ref = clean()
    lines = [f"clean run: change sync of {ref.positions} store/queue calls; writes {ref.end.writes}", ""]
    width = max(len(c) for c in CATEGORIES)
    for sweep in sweeps:
        lines.append(f"== {sweep.name}: {sweep.cases} cases, {sweep.dead_letters} dead letters, "
                     f"{sweep.seconds:.1f}s")
        for category in CATEGORIES:
            total, cases = sweep.totals.get(category, 0), sweep.cases_with.get(category, 0)
            line = f"   {category:<{width}} {total:>4}  in {cases:>3} cases"
            if total:
                line += f"   smallest: {sweep.first[category]}"
                if len(sweep.where[category]) > 1:
                    line += f"\n   {'':<{width}}       cases: {', '.join(sweep.where[category][:12])}"
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    logging.getLogger("peoplesync").setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    sweeps = all_sweeps()
    print(render(sweeps))
    print(f"total {sum(s.cases for s in sweeps)} cases in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
