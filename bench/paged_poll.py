"""A paged poll of a large CSV (issue 14, item 2): the read handed over page by page and resumed, every key
queued exactly once, the memory one invocation holds the same whatever the page's place in the file.

    PYTHONPATH=layers/peoplesync:tools python3 bench/paged_poll.py [accounts] [page_size]

Each invocation gets a budget of 0 s, so it takes one page and hands over (the worst case: a checkpoint and a
hand-over per page). The keys queued are counted in a bitmap (one bit per account, outside the poll); the peak
traced memory (tracemalloc) of each invocation is reported for the first, middle and last pages. A first poll
(nobody known yet): every account is news."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from peoplesync import bootstrap
from peoplesync.adapters.memory import MemoryStore
from peoplesync.service.poll import poll

CONFIG = """\
systems:
  hr: {connector: csv, path: hr.csv, key: id, active_column: status, settle_seconds: 0}
fields:
  employee_id: {source: hr, map: {hr: employee_id}}
  title:       {source: hr, map: {hr: title}}
match: [employee_id]
lifecycle: {source: hr}
"""


class Counting:
    """A reconcile queue that keeps one bit per account key (keys are numbers) and counts repeats."""

    def __init__(self, n: int) -> None:
        self.bits, self.repeats, self.sent = bytearray(n // 8 + 1), 0, 0

    def send(self, messages: list[dict[str, Any]], **_: Any) -> None:
        for m in messages:
            i = int(m["observation"]["key"])
            byte, bit = divmod(i, 8)
            if self.bits[byte] >> bit & 1:
                self.repeats += 1
            self.bits[byte] |= 1 << bit
            self.sent += 1

    def distinct(self) -> int:
        return sum(bin(b).count("1") for b in self.bits)


def generate(folder: Path, n: int) -> None:
    with open(folder / "hr.csv", "w") as fh:
        fh.write("id,employee_id,title,status\n")
        for i in range(n):
            fh.write(f"{i},E{i},Title {i % 997},active\n")


def main(n: int, page_size: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="paged_poll_"))
    (folder / "peoplesync.yaml").write_text(CONFIG)
    generate(folder, n)
    bridge = bootstrap.local_from_file(folder / "peoplesync.yaml", store=MemoryStore())
    rt, queue = bridge.runtime, Counting(n)
    peaks: list[int] = []
    read, run, invocations = 0, None, 0
    tracemalloc.start()
    started = time.perf_counter()
    while True:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        report = poll("hr", rt.reconciler, rt.connector("hr"), queue, page_size=page_size,  # type: ignore[arg-type]
                      budget=0, resume=run)
        peaks.append(tracemalloc.get_traced_memory()[1] - before)
        invocations += 1
        read += report.read
        run = report.run
        if report.failed:
            raise SystemExit(f"poll failed: {report.failed}")
        if not report.more:
            break
    elapsed = time.perf_counter() - started
    tracemalloc.stop()
    third = max(1, len(peaks) // 3)
    print(f"accounts in the file: {n}; page size {page_size}; invocations (hand-overs + 1): {invocations}")
    print(f"read {read}; queued {queue.sent}; distinct keys queued {queue.distinct()}; repeats {queue.repeats}; "
          f"missed {n - queue.distinct()}")
    kib = [p / 1024 for p in peaks]
    print(f"peak traced memory per invocation, KiB (median): first third {statistics.median(kib[:third]):.0f}, "
          f"middle {statistics.median(kib[third:2 * third]):.0f}, last third {statistics.median(kib[-third:]):.0f}; "
          f"max of the pages before the last {max(kib[:-1], default=0):.0f}; the last page with the sweep "
          f"{kib[-1]:.0f}")
    print(f"wall time {elapsed:.1f} s under tracemalloc ({n / elapsed:,.0f} accounts/s)")
    ok = read == n == queue.distinct() == queue.sent and queue.repeats == 0
    print("OK: every account read and queued once" if ok else "MISMATCH")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000, int(sys.argv[2]) if len(sys.argv) > 2 else 5000)
