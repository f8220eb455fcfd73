"""AWS API calls of the deployed flow, counted per operation: the real handlers (poll, reconcile, deliver) on
moto's DynamoDB and SQS, with HR, AD and cloud as in-memory systems (the `Cloud` harness of tests/e2e).

    python bench/aws_calls.py                       # 500, 1,000 and 2,000 people
    python bench/aws_calls.py --people 10000        # one size (slow under moto: see docs/performance.md)

For each size: a first sync (everyone new: linked across the three systems), a second sync with nothing
changed, a third with 1% of people changed (a new title in AD, which the cloud receives), and a fourth with
nothing changed again (our own writes to the cloud, read back, must not count as news). Calls are counted by
a botocore `before-call` hook on the harness's DynamoDB and SQS clients, attributed to the function that made
them (poll / reconcile / deliver) or to the event source mapping that the harness plays (ReceiveMessage and
DeleteMessage; real Lambda deletes in batches of up to 10). Messages are counted per queue from each
`SendMessageBatch`'s entries; DynamoDB items written are counted from PutItem/UpdateItem/DeleteItem,
TransactWriteItems and BatchWriteItem requests.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DDB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
DDB_READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}


class Counted:
    """Calls per (function, service, operation), messages per queue, DynamoDB items written per function."""

    def __init__(self) -> None:
        self.phase = "harness"
        self.calls: Counter[tuple[str, str, str]] = Counter()
        self.messages: Counter[tuple[str, str]] = Counter()
        self.items_written: Counter[str] = Counter()

    def attach(self, client: Any, service: str, queue_names: dict[str, str]) -> None:
        def before_call(model: Any, **_: Any) -> None:
            self.calls[(self.phase, service, model.name)] += 1

        def params(params: dict[str, Any], model: Any, **_: Any) -> None:
            name = model.name
            if name == "SendMessageBatch":
                self.messages[(self.phase, queue_names.get(params["QueueUrl"], params["QueueUrl"]))] += len(
                    params["Entries"])
            elif name == "SendMessage":
                self.messages[(self.phase, queue_names.get(params["QueueUrl"], params["QueueUrl"]))] += 1
            elif name in ("PutItem", "UpdateItem", "DeleteItem"):
                self.items_written[self.phase] += 1
            elif name == "TransactWriteItems":
                self.items_written[self.phase] += len(params["TransactItems"])
            elif name == "BatchWriteItem":
                self.items_written[self.phase] += sum(len(v) for v in params["RequestItems"].values())

        client.meta.events.register("before-call", before_call)
        client.meta.events.register("before-parameter-build", params)

    def snapshot(self) -> dict[str, Any]:
        return {"calls": Counter(self.calls), "messages": Counter(self.messages),
                "items": Counter(self.items_written)}


class Phased:
    """A function module whose handler sets the phase its calls are counted under."""

    def __init__(self, module: Any, phase: str, counted: Counted) -> None:
        self._module, self._phase, self._counted = module, phase, counted

    def handler(self, *args: Any, **kwargs: Any) -> Any:
        before, self._counted.phase = self._counted.phase, self._phase
        try:
            return self._module.handler(*args, **kwargs)
        finally:
            self._counted.phase = before


def diff(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    return {k: after[k] - before[k] for k in after}


def summarize(d: dict[str, Any]) -> dict[str, Any]:
    calls: Counter[tuple[str, str, str]] = d["calls"]
    by_op: Counter[str] = Counter()
    for (_, service, op), n in calls.items():
        by_op[f"{service}.{op}"] += n
    ours = Counter({k: n for k, n in calls.items() if k[0] != "harness"})
    return {
        "by_operation": dict(sorted(by_op.items())),
        "by_function": {f"{ph}: {svc}.{op}": n for (ph, svc, op), n in sorted(calls.items())},
        "ddb_reads": sum(n for (ph, s, op), n in ours.items() if s == "dynamodb" and op in DDB_READS),
        "ddb_write_calls": sum(n for (ph, s, op), n in ours.items() if s == "dynamodb" and op in DDB_WRITES),
        "ddb_items_written": sum(n for ph, n in d["items"].items() if ph != "harness"),
        "sqs_calls_ours": sum(n for (ph, s, _), n in ours.items() if s == "sqs"),
        "messages": {f"{ph} -> {q}": n for (ph, q), n in sorted(d["messages"].items())},
        "reconcile_messages": sum(n for (ph, q), n in d["messages"].items() if q == "reconcile" and ph != "harness"),
        "delivery_messages": sum(n for (ph, q), n in d["messages"].items() if q.startswith("deliver:")),
    }


@contextlib.contextmanager
def faster_moto() -> Iterator[None]:
    """Two changes to moto's DynamoDB, for this process only, that leave every answer the same and remove its
    per-call cost in the table's size (without them a 2,000-person first sync takes hours):
    - a Query on the table (not an index) looks only at its partition, instead of sorting every item of the
      table and filtering them (the partition's items are then sorted by range key exactly as before);
    - TransactWriteItems keeps, for its rollback, copies of the partitions it touches instead of a deep copy
      of the whole table, and puts those back if the transaction fails.
    `--exact-moto` runs without them; `--check` runs a small population both ways and compares the counts."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models import copy as moto_copy_module
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    query, transact = Table.query, DynamoDBBackend.transact_write_items

    signature = inspect.signature(query)

    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = signature.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
        if index_name or hash_key is None or not self.range_key_attr:
            return query(self, hash_key, *args, **kwargs)
        self.all_items = lambda: list(self.items.get(hash_key, {}).values())  # instance attribute, this call
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    class NoTableCopy:
        copy = staticmethod(moto_copy_module.copy)

        @staticmethod
        def deepcopy(x: Any, memo: Any = None) -> Any:
            return x if isinstance(x, Table) else moto_copy_module.deepcopy(x, memo)

    def partition_transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: dict[tuple[str, Any], Any] = {}
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or op.get("Item") or {}
            if table.hash_key_attr in key:
                h = DynamoType(key[table.hash_key_attr])
                if (table.name, h) not in saved:
                    saved[(table.name, h)] = moto_copy_module.deepcopy(table.items[h]) if h in table.items else None
        models = sys.modules["moto.dynamodb.models"]
        models.copy = NoTableCopy  # type: ignore[attr-defined]
        try:
            transact(self, transact_items)
        except Exception:
            for (name, h), partition in saved.items():
                if partition is None:
                    self.tables[name].items.pop(h, None)
                else:
                    self.tables[name].items[h] = partition
            raise
        finally:
            models.copy = moto_copy_module  # type: ignore[attr-defined]

    Table.query, DynamoDBBackend.transact_write_items = partition_query, partition_transact
    try:
        yield
    finally:
        Table.query, DynamoDBBackend.transact_write_items = query, transact


def change_one_percent(cloud: Any, people: int, run: int) -> int:
    """A new AD title for every 100th person; returns how many people changed."""
    changed = 0
    for n in range(1, people + 1, 100):
        cloud["ad"].set(f"guid-{n}", title=f"Title {n} (run {run})")
        changed += 1
    return changed


def measure(people: int, log: Callable[[str], None], *, exact: bool = False) -> dict[str, Any]:
    import boto3  # noqa: F401  (imported before moto patches it)
    from moto import mock_aws

    from tests.e2e.conftest import REGION, Cloud
    from tests.unit.conftest import config, hire

    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
                       "AWS_DEFAULT_REGION": REGION, "POWERTOOLS_SERVICE_NAME": "peoplesync-bench",
                       "POWERTOOLS_LOG_LEVEL": "WARNING"})
    class BenchCloud(Cloud):
        def drain(self, rounds: int = 10**9) -> None:  # the harness's 50 rounds of 10 suit a test, not this
            super().drain(rounds)

    with mock_aws(), (contextlib.nullcontext() if exact else faster_moto()):
        cloud = BenchCloud(config())
        counted = Counted()
        names = {url: name for name, url in cloud.urls.items()}
        names.update({url: f"dlq {name}" for name, url in cloud.dlq_urls.items()})
        counted.attach(cloud.sqs, "sqs", names)
        counted.attach(cloud.ddb, "dynamodb", names)
        cloud.poll_fn = Phased(cloud.poll_fn, "poll", counted)
        cloud.reconcile_fn = Phased(cloud.reconcile_fn, "reconcile", counted)
        cloud.deliver_fn = Phased(cloud.deliver_fn, "deliver", counted)
        for n in range(1, people + 1):
            hire(cloud, n)

        runs: dict[str, Any] = {}

        def sync(label: str, changed: int) -> None:
            before, writes_before = counted.snapshot(), cloud.writes()
            started = time.perf_counter()
            reports = cloud.sync()
            seconds = time.perf_counter() - started
            s = summarize(diff(counted.snapshot(), before))
            after = cloud.writes()
            s.update(seconds=round(seconds, 1), changed_people=changed, poll=reports,
                     system_writes={k: after[k] - writes_before.get(k, 0) for k in after})
            runs[label] = s
            log(f"  {people:>6} people, {label:28} {seconds:7.1f} s  ddb reads {s['ddb_reads']:>7} "
                f"ddb write calls {s['ddb_write_calls']:>6} (items {s['ddb_items_written']:>6})  "
                f"reconcile msgs {s['reconcile_messages']:>6}  delivery msgs {s['delivery_messages']:>6}  "
                f"system writes {s['system_writes']}")

        sync("1 first sync", people)
        sync("2 nothing changed", 0)
        changed = change_one_percent(cloud, people, 3)
        sync("3 one percent changed", changed)
        sync("4 nothing changed again", 0)
        return {"people": people, "runs": runs}


def marginal(result: dict[str, Any]) -> dict[str, float]:
    """Calls per changed person: the 1%-changed sync minus the unchanged one, per changed person."""
    changed, quiet = result["runs"]["3 one percent changed"], result["runs"]["2 nothing changed"]
    n = changed["changed_people"]
    ops = set(changed["by_operation"]) | set(quiet["by_operation"])
    out = {op: (changed["by_operation"].get(op, 0) - quiet["by_operation"].get(op, 0)) / n for op in sorted(ops)}
    for k in ("ddb_reads", "ddb_write_calls", "ddb_items_written", "reconcile_messages", "delivery_messages",
              "sqs_calls_ours"):
        out[k] = (changed[k] - quiet[k]) / n
    return out


def per_person(run: dict[str, Any], people: int) -> dict[str, float]:
    return {op: n / people for op, n in run["by_operation"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--exact-moto", action="store_true", help="moto as shipped (slow beyond ~100 people)")
    parser.add_argument("--check", type=int, metavar="PEOPLE",
                        help="first run PEOPLE both with and without the moto speed-ups; stop if counts differ")
    args = parser.parse_args()
    def log(line: str) -> None:
        print(line, flush=True)

    if args.check:
        exact = measure(args.check, log, exact=True)
        fast = measure(args.check, log)
        same = all(exact["runs"][k][f] == fast["runs"][k][f] for k in exact["runs"]
                   for f in ("by_function", "messages", "ddb_items_written", "system_writes"))
        print(f"{args.check} people: counts with and without the moto speed-ups are "
              f"{'identical' if same else 'DIFFERENT'}")
        if not same:
            sys.exit(1)
    results = []
    for people in args.people:
        results.append(measure(people, log, exact=args.exact_moto))

    print("\ncalls per person, by operation (count / people); the harness plays Lambda's SQS event source "
          "mapping")
    for r in results:
        for label, run in r["runs"].items():
            pp = per_person(run, r["people"])
            print(f"  {r['people']:>6} {label:26} " + ", ".join(f"{op} {v:.3f}" for op, v in pp.items()))
    print("\nper changed person (1%-changed sync minus the unchanged sync, divided by people changed):")
    for r in results:
        m = marginal(r)
        print(f"  {r['people']:>6}: " + ", ".join(f"{k} {v:.2f}" for k, v in m.items() if v))
    print("\nthe sync after the change, per person changed before it (our own writes read back; "
          "sync 4 minus sync 2):")
    for r in results:
        echo, quiet = r["runs"]["4 nothing changed again"], r["runs"]["2 nothing changed"]
        n = r["runs"]["3 one percent changed"]["changed_people"]
        ops = sorted(set(echo["by_operation"]) | set(quiet["by_operation"]))
        deltas = {op: (echo["by_operation"].get(op, 0) - quiet["by_operation"].get(op, 0)) / n for op in ops}
        print(f"  {r['people']:>6}: " + ", ".join(f"{op} {v:.2f}" for op, v in deltas.items() if v))
    print("\nunchanged syncs: DynamoDB writes and delivery messages (the bar: none per unchanged person)")
    for r in results:
        for label in ("2 nothing changed", "4 nothing changed again"):
            run = r["runs"][label]
            writes = {k: v for k, v in run["by_function"].items()
                      if k.split(".")[-1] in DDB_WRITES}
            print(f"  {r['people']:>6} {label:24} delivery messages {run['delivery_messages']}, "
                  f"reconcile messages {run['reconcile_messages']}, DynamoDB writes {writes or 0}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
