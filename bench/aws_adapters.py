"""Cold-start cost of the AWS adapters, and DynamoDB/SQS calls per person through the store (moto).

    python bench/aws_adapters.py            # imports: medians of 7 fresh interpreters; calls: counted

Each import figure is timed inside a fresh `python -c` (bytecode already present), so interpreter start-up is
not in it. Adapter creation builds the boto3 clients (no network call is made).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections import Counter

RUNS = 7
ENV = {
    "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
    "PEOPLESYNC_TABLE": "peoplesync-state", "PEOPLESYNC_CONFIG_PARAMETER": "/peoplesync/config",
    "PEOPLESYNC_SECRET_PREFIX": "peoplesync/",
    "PEOPLESYNC_RECONCILE_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/ps-reconcile",
    "PEOPLESYNC_DELIVER_QUEUE_URL_PREFIX": "https://sqs.eu-west-1.amazonaws.com/123456789012/ps-deliver-",
}
CASES = {
    "nothing (timer overhead)": "pass",
    "import boto3": "import boto3",
    "import powertools parameters": "import aws_lambda_powertools.utilities.parameters",
    "import peoplesync.adapters.aws": "import peoplesync.adapters.aws",
    "aws + settings + make_store/queue/secrets": (
        "from peoplesync.adapters import aws; aws.settings(); aws.make_store(); aws.make_queue('reconcile');"
        " aws.make_secrets()"),
}


def timed(code: str) -> float:
    script = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, **ENV})
    return float(out.stdout.strip()) * 1000


def imports() -> None:
    for code in CASES.values():
        timed(code)  # warm the bytecode cache
    print(f"{'case':45} median ms (of {RUNS})")
    for name, code in CASES.items():
        print(f"{name:45} {statistics.median(timed(code) for _ in range(RUNS)):8.1f}")


def calls() -> None:
    import boto3
    from moto import mock_aws

    from peoplesync.adapters.dynamodb import DynamoStore, create_table
    from peoplesync.model import RecordState, Shadow

    os.environ.update(ENV)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_table(client, "t")
        counted: Counter[str] = Counter()
        client.meta.events.register("before-call", lambda model, **_: counted.update([model.name]))
        store = DynamoStore("t", client)

        def measure(label: str, action) -> None:
            counted.clear()
            action()
            print(f"{label:60} {json.dumps(dict(counted))}")

        def new() -> None:
            store.save(RecordState(id="p1", golden={"title": "A"}, keys={"employee_id": ["E1"]},
                                   shadows={"hr": Shadow(key="E1"), "ad": Shadow(key="u1", ref="CN=A")}))

        def changed_value() -> None:
            s = store.load("p1")
            s.golden["title"] = "B"
            store.save(s)

        def new_link() -> None:
            s = store.load("p1")
            s.shadows["cloud"] = Shadow(key="c1")
            store.save(s)

        print(f"{'operation':60} calls")
        measure("create a person (2 links, 1 key): save", new)
        measure("unchanged person: load only", lambda: store.load("p1"))
        measure("changed value, same links: load + save", changed_value)
        measure("new link (account created): load + save", new_link)
        three = [{"field": f"f{i}"} for i in range(3)]
        measure("3 decisions recorded", lambda: store.record_decisions("p1", three, 1.0))
        measure("correlation lookups: by_link + by_value", lambda: (store.by_link("person", "ad", "u1"),
                                                                  store.by_value("person", "employee_id", "E1")))


if __name__ == "__main__":
    imports()
    print()
    calls()
