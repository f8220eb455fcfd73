"""What the vanished rule reads on DynamoDB after a complete read (moto): calls, items and bytes, per person.

    python bench/vanished_reads.py [--people 200] [--gone 0.01] [--tree /path/to/another/checkout]

`--people` records, each linked in four systems (hr, ad, cloud, badges; 12 fields), saved through `DynamoStore`
into moto; then the rule a complete read of ad applies (`sweep_rules.Swept.gone`, what a paged poll's last page
and the full sweep's vanished step run) with `--gone` of the accounts not listed. Counted by a botocore hook on
the client: calls per operation, items returned and response bytes. `--tree` runs the same in another checkout
(a fresh process with that tree's layer first on the path): the baseline in the same run. moto's writes get
slower as its table grows (a save at 300 people takes about 0.3 s), so sizes stay small; reads scale with the
people linked, so per-person figures carry over.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(people: int, gone: float) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        os.environ[name] = value
    with mock_aws():
        from peoplesync import bootstrap
        from peoplesync.adapters.dynamodb import DynamoStore, create_table
        from peoplesync.model import RecordState, Shadow
        from peoplesync.service import sweep_rules

        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_table(client, "state")
        store = DynamoStore("state", client)
        for n in range(people):  # a record of the size bench/engine_throughput.py's people have (4 systems, 12 fields)
            values = {"title": f"Title {n}", "name": f"Person {n}", "mail": f"person{n}@corp.example",
                      "phone": f"+1317555{n % 10000:04d}", "department": f"D{n % 20}", "employeeID": f"E{n:07d}",
                      "manager": f"cn=person {n // 10},ou=staff,dc=corp", "cost_center": f"CC{n % 50}",
                      "location": "HQ", "hire_date": "2020-01-01"}
            golden = dict(values, badge=str(100000 + n), personal=f"me{n}@home.example")
            store.save(RecordState(id=f"p{n:06d}", golden=golden, shadows={
                system: Shadow(key=f"{system[0]}{n:06d}", values=dict(values), active=True, digest=f"{system}{n}")
                for system in ("hr", "ad", "cloud", "badges")}))
        plan = bootstrap.compile_config(bootstrap.load_config({
            "systems": {s: {"connector": "memory"} for s in ("hr", "ad", "cloud", "badges")},
            "fields": {"title": {"source": "ad", "map": {"ad": "title", "cloud": "title"}}}}))
        bridge = bootstrap.local(plan, store=DynamoStore("state", client), connectors={})
        step = max(1, round(1 / gone)) if gone else people + 1
        listed = {f"a{n:06d}" for n in range(people) if n % step != step - 1}
        calls: Counter[str] = Counter()
        size = {"items": 0, "bytes": 0}

        def after(http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
            calls[model.name] += 1
            size["bytes"] += len(http_response.content or b"")
            size["items"] += len(parsed.get("Items", [])) + sum(len(v) for v in parsed.get("Responses", {}).values())

        client.meta.events.register("after-call.dynamodb", after)
        sent: list[Any] = []
        queue = type("Queue", (), {"send": lambda self, messages, **_: sent.extend(messages)})()
        swept = sweep_rules.Swept(bridge.reconciler, "ad", approve=True, population=None, connectors=None)
        swept.gone(listed, queue)
        return {"people": people, "gone": len(sent), "calls": dict(calls), **size}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--gone", type=float, default=0.01)
    ap.add_argument("--tree", default=None)
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.json:
        print(json.dumps(measure(args.people, args.gone)))
        return
    trees = {"this tree": HERE, **({args.tree: os.path.abspath(args.tree)} if args.tree else {})}
    for label, path in trees.items():
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(path, "layers", "peoplesync"),
                                                         os.path.join(path, "tools")])}
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--json", "--people", str(args.people),
                              "--gone", str(args.gone)], env=env, capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"{path}: {out.stderr}")
        r = json.loads(out.stdout)
        per = r["bytes"] / r["people"]
        print(f"{label:20} {r['people']} people, {r['gone']} gone: {sum(r['calls'].values())} calls {r['calls']}, "
              f"{r['items']} items, {r['bytes']:,} bytes ({per:,.0f} B per person)")


if __name__ == "__main__":
    main()
