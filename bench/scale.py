"""The full sweep's item processor over a generated population (issue 14 item 3's bar): chunks of generated HR
accounts (JSON Lines, as the snapshot step writes them) handed in batches to `service/sweep.process`, the
Distributed Map's child, run in-process on the SQLite store; the deliveries it queues stay queued (in AWS they
wait in SQS for the target's pace).

    python bench/scale.py                               # 20,000 and 100,000 people
    python bench/scale.py --people 20000 100000 1000000 --concurrency 8
    python bench/scale.py --prefill --people 100000 1000000   # a store already holding that many people

`--prefill`: instead of sweeping the whole population (a million first-sight people is about 40 minutes of one
core here), the store is first filled with that many people as an earlier sweep leaves them (records copied
from ones the sweep made, each with its own ids and keys, saved directly: no engine), then `--samples` batches
of new people are swept and measured at that size: what a child costs, and holds, when the store already
holds N people.

Per population: the seconds per 10,000 people (batches timed without tracemalloc), the peak traced memory of
one batch (tracemalloc around three sample batches, at 10%, 50% and 90% of the run; what a child allocates
while it works, not the store's page cache or the growing in-process delivery queue, which are SQS and
DynamoDB in AWS), and the wall time projected for AWS at the stated Map concurrency.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "peoplesync"))

from peoplesync import bootstrap  # noqa: E402
from peoplesync.adapters.blobs import FolderBlobs  # noqa: E402
from peoplesync.model import Observation  # noqa: E402
from peoplesync.service import sweep  # noqa: E402

CONFIG = {
    "systems": {
        "hr": {"connector": "csv", "path": "hr.csv", "key": "id", "active_column": "status"},
        "directory": {"connector": "csv", "path": "directory.csv", "key": "id", "active_column": "status",
                      "writable": True, "provision": True},
    },
    "fields": {
        "employee_id": {"source": "hr", "map": {"hr": "employee_id", "directory": "employee_id"}},
        "given_name": {"source": "hr", "map": {"hr": "given", "directory": "given"}},
        "family_name": {"source": "hr", "map": {"hr": "family", "directory": "family"}},
        "title": {"source": "hr", "map": {"hr": "title", "directory": "title"}},
        "phone": {"source": "hr", "map": {"hr": "phone", "directory": "phone"}},
    },
    "match": ["employee_id"],
    "lifecycle": {"source": "hr"},
    "policies": {"unmatched": "create", "max_changes_per_run": "100%"},
}
GIVEN = ["Zoë", "Jean-Luc", "Siobhán", "Ægir", "Mary Ann", "O'Neil", "Łukasz", "Anaïs"]
FAMILY = ["van der Berg", "Ó Briain", "Nguyễn", "Smith-Jones", "D'Arcy", "Müller", "García Márquez"]


def account(n: int) -> Observation:
    return Observation("hr", f"W{n:07d}", {
        "employee_id": f"E{n:07d}", "given": GIVEN[n % len(GIVEN)], "family": FAMILY[n % len(FAMILY)],
        "title": f"Title {n % 97}", "phone": f"+44 20 7946 {n % 10000:04d}" if n % 2 else f"020 7946{n % 10000:04d}",
    })


def write_chunks(blobs: FolderBlobs, prefix: str, people: int, chunk: int) -> list[str]:
    for start in range(0, people, chunk):
        part = [account(n) for n in range(start, min(people, start + chunk))]
        blobs.put(f"{prefix}{start // chunk:06d}.jsonl", sweep.encode(part))
    return blobs.keys(prefix)


def measure(people: int, chunk: int, batch: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        blobs = FolderBlobs(Path(tmp) / "snapshots")
        keys = write_chunks(blobs, "runs/bench/00-hr/", people, chunk)
        store = bootstrap.sqlite_store(Path(tmp) / "state.sqlite3")
        bridge = bootstrap.local(CONFIG, store=store, base_dir=Path(tmp))
        batches = [keys[i:i + batch] for i in range(0, len(keys), batch)]
        sampled = {int(len(batches) * f) for f in (0.1, 0.5, 0.9)}
        timed, seconds, peaks = 0, 0.0, []
        for i, keys_of_batch in enumerate(batches):
            gc.collect()
            if i in sampled:
                tracemalloc.start()
                sweep.process(keys_of_batch, blobs, bridge.runtime)
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
                continue
            started = time.perf_counter()
            done = sweep.process(keys_of_batch, blobs, bridge.runtime)
            seconds += time.perf_counter() - started
            timed += done.accounts
            bridge.queues.take("deliver:directory", 10**9)  # SQS in AWS: not this process's memory
        owed = len(bridge.queues.take("deliver:directory", 10**9))
        store.close()
    return {"people": people, "per_10k": seconds / timed * 10_000, "peak_mb": max(peaks) / 2**20,
            "peaks_mb": [p / 2**20 for p in peaks], "batch_people": chunk * batch, "owed_left": owed}


def prefill(bridge: bootstrap.LocalBridge, store: object, template_id: str, people: int, first: int) -> None:
    """`people` records made from the sweep's record `template_id`, each its own person (ids, keys, values)."""
    import json

    from peoplesync.model import RecordState

    template = json.dumps(store.load(template_id).to_dict())  # type: ignore[attr-defined]
    src = store.load(template_id)  # type: ignore[attr-defined]
    old_key, old_emp = src.shadows["hr"].key, str(src.golden["employee_id"])
    for start in range(first, first + people, 10_000):
        with store.batch():  # type: ignore[attr-defined]
            for n in range(start, min(first + people, start + 10_000)):
                text = template.replace(template_id, f"p-fill{n:08d}").replace(old_key, f"W{n:07d}")
                state = RecordState.from_dict(json.loads(text.replace(old_emp, f"E{n:07d}")))
                state.version = 0
                store.save(state)  # type: ignore[attr-defined]


def measure_prefilled(people: int, chunk: int, batch: int, samples: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        blobs = FolderBlobs(Path(tmp) / "snapshots")
        size = chunk * batch
        keys = write_chunks(blobs, "runs/bench/00-hr/", size * (samples + 1), chunk)
        store = bootstrap.sqlite_store(Path(tmp) / "state.sqlite3")
        bridge = bootstrap.local(CONFIG, store=store, base_dir=Path(tmp))
        sweep.process(keys[:batch], blobs, bridge.runtime)  # real records, one of which is the template
        bridge.queues.take("deliver:directory", 10**9)
        template = bridge.store.by_link("person", "hr", "W0000000")  # type: ignore[attr-defined]
        filled = time.perf_counter()
        prefill(bridge, store, template, people - size * (samples + 1), first=size * (samples + 1))
        filled = time.perf_counter() - filled
        seconds, peaks, timed = 0.0, [], 0
        for i in range(1, samples + 1):
            gc.collect()
            part = keys[i * batch:(i + 1) * batch]
            if i % 2:  # every other batch traced, the others timed
                tracemalloc.start()
                sweep.process(part, blobs, bridge.runtime)
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.stop()
            else:
                started = time.perf_counter()
                timed += sweep.process(part, blobs, bridge.runtime).accounts
                seconds += time.perf_counter() - started
            bridge.queues.take("deliver:directory", 10**9)
        known = sum(1 for _ in store.all_ids("person"))
        store.close()
    return {"people": known, "per_10k": seconds / max(timed, 1) * 10_000, "peak_mb": max(peaks) / 2**20,
            "peaks_mb": [p / 2**20 for p in peaks], "batch_people": size, "fill_s": filled}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--chunk", type=int, default=sweep.CHUNK, help="accounts per chunk object")
    parser.add_argument("--batch", type=int, default=5, help="chunk keys per child (MaxItemsPerBatch)")
    parser.add_argument("--concurrency", type=int, default=8, help="the Map's MaxConcurrency, for the projection")
    parser.add_argument("--aws-ms", type=float, default=120.0,
                        help="DynamoDB round trips per new person in a Lambda child, one after another (about 8 "
                             "GetItem + 10 Query + the writes at ~5 ms: an estimate, docs/performance.md)")
    parser.add_argument("--prefill", action="store_true", help="fill the store to N people, then sweep samples")
    parser.add_argument("--samples", type=int, default=6, help="with --prefill: batches swept at that size")
    args = parser.parse_args()
    rows = [measure_prefilled(p, args.chunk, args.batch, args.samples) if args.prefill
            else measure(p, args.chunk, args.batch) for p in args.people]
    print(f"{'people':>10} {'s per 10k':>10} {'peak MB / batch':>16}  (samples)       batch = "
          f"{args.chunk * args.batch} people")
    for r in rows:
        print(f"{r['people']:>10,} {r['per_10k']:>10.1f} {r['peak_mb']:>16.1f}  "
              f"({', '.join(f'{p:.1f}' for p in r['peaks_mb'])})"
              + (f"   store filled in {r['fill_s']:.0f} s" if "fill_s" in r else ""))
    per_10k = statistics.median(r["per_10k"] for r in rows)
    for people in (100_000, 1_000_000):
        local = per_10k * people / 10_000
        aws = people * (per_10k / 10_000 + args.aws_ms / 1000) / args.concurrency
        print(f"projected {people:>9,}: {local / 60:6.1f} min on one core here; in AWS at MaxConcurrency "
              f"{args.concurrency} (compute + {args.aws_ms:g} ms of DynamoDB per person): {aws / 3600:5.2f} h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
