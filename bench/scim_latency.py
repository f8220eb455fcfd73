"""SCIM webhook latency, in process (no HTTP, no AWS): p50 / p99 of POST, PATCH and filtered GET with
10,000 users stored, and the cold-start import time of the webhook function's imports.

    python bench/scim_latency.py [--users 10000] [--requests 500] [--paths fast,full]

Baselines measured in the same run: GET /ServiceProviderConfig (the handler's fixed cost: auth, routing,
serialisation) for latency, and a bare `python -c pass` and `import pydantic` for imports. `--paths` measures
the webhook as built (`fast`: the common User requests from the stored JSON, the rest by scim2-server) and
with every request sent to scim2-server (`full`, `ScimApp(fast=False)`), one after the other in this process.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time

WEBHOOK_IMPORTS = ("import peoplesync.scim.app, peoplesync.scim.apigw, peoplesync.adapters.scim_dynamodb, "
                   "peoplesync.connectors.scim_inbound, boto3")
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def cold_import(statement: str, runs: int = 5) -> float:
    """Median wall time of a fresh interpreter running `statement` (seconds)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def measure(args: argparse.Namespace, fast: bool) -> float:
    """Latency of each request kind on a webhook over `args.users` stored users; returns the time from the
    first import to the first answer (seconds, meaningful for the first call in a process only)."""
    first_started = time.perf_counter()
    from peoplesync.scim.app import build_app
    from peoplesync.scim.http import ScimRequest
    from peoplesync.scim.repository import MemoryScimRepository
    from peoplesync.scim.storage import index_keys

    repo = MemoryScimRepository()
    app = build_app(repo, ["bench-token"], system="idp", attributes=["title", f"{ENTERPRISE}:department"],
                    on_change=lambda observation: None, fast=fast)
    headers = {"Authorization": "Bearer bench-token", "Content-Type": "application/scim+json"}

    def call(method: str, path: str, body: object = None, query: dict[str, str] | None = None) -> int:
        data = json.dumps(body).encode() if body is not None else b""
        return app.handle(ScimRequest(method, path, query or {}, headers, data)).status

    assert call("GET", "/ServiceProviderConfig") == 200
    first_request = time.perf_counter() - first_started

    ids = []
    for i in range(args.users):  # seeded straight into the store: the bench measures requests, not seeding
        doc = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE], "id": f"{i:032x}",
               "userName": f"user{i}@example.com", "title": "Engineer", "active": True,
               "emails": [{"type": "work", "value": f"user{i}@example.com", "primary": True}],
               ENTERPRISE: {"department": f"Dept {i % 50}"},
               "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z",
                        "lastModified": "2024-01-01T00:00:00Z"}}
        repo.create("User", doc["id"], doc, index_keys("User", doc))
        ids.append(doc["id"])

    rng = random.Random(7)
    results: dict[str, list[float]] = {k: [] for k in ("baseline", "post", "patch", "get_eq", "get_page",
                                                        "get_scan")}

    def timed(name: str, method: str, path: str, body: object = None, query: dict | None = None,
              expect: int = 200) -> None:
        started = time.perf_counter()
        status = call(method, path, body, query)
        results[name].append(time.perf_counter() - started)
        assert status == expect, (name, status)

    for n in range(args.requests):
        timed("baseline", "GET", "/ServiceProviderConfig")
        timed("post", "POST", "/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
                                         "userName": f"new{n}@example.com", "title": "New",
                                         ENTERPRISE: {"department": "Fresh"}}, expect=201)
        timed("patch", "PATCH", f"/Users/{rng.choice(ids)}", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": f"{ENTERPRISE}:department", "value": f"D{n}"},
                           {"op": "Replace", "path": "title", "value": f"T{n}"}]})
        timed("get_eq", "GET", "/Users",
              query={"filter": f'userName eq "USER{rng.randrange(args.users)}@example.com"'})
        timed("get_page", "GET", "/Users", query={"startIndex": str(rng.randrange(args.users - 100) + 1),
                                                  "count": "100"})
    for _ in range(max(5, args.requests // 50)):  # a filter no index serves walks every user
        timed("get_scan", "GET", "/Users", query={"filter": 'title co "senior"', "count": "10"})

    base50, _ = percentiles(results["baseline"])
    print(f"SCIM webhook ({'fast path, the rest by scim2-server' if fast else 'every request by scim2-server'}), "
          f"in process, {args.users} users stored, {args.requests} requests each (ms)")
    print(f"{'request':<34}{'p50':>9}{'p99':>9}{'p50 / baseline':>16}")
    labels = {"baseline": "GET /ServiceProviderConfig (base)", "post": "POST /Users",
              "patch": "PATCH /Users/{id} (2 ops)", "get_eq": 'GET /Users?filter=userName eq',
              "get_page": "GET /Users?startIndex=..&count=100", "get_scan": 'GET /Users?filter=title co (scan)'}
    for key, label in labels.items():
        p50, p99 = percentiles(results[key])
        print(f"{label:<34}{p50:>9.2f}{p99:>9.2f}{p50 / base50:>16.1f}")
    print()
    return first_request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--paths", default="fast,full", help="fast, full or both (comma-separated)")
    args = parser.parse_args()

    bare = cold_import("pass")
    pydantic = cold_import("import pydantic")
    webhook = cold_import(WEBHOOK_IMPORTS)
    first_request = 0.0
    for path in args.paths.split(","):
        took = measure(args, fast=path.strip() == "fast")
        first_request = first_request or took
    print()
    print("cold start (fresh interpreter, median of 5, s)")
    print(f"  python -c pass             {bare:.3f}")
    print(f"  import pydantic            {pydantic:.3f}")
    print(f"  webhook imports            {webhook:.3f}  ({webhook - bare:.3f} above a bare interpreter)")
    print(f"  first request after import {first_request:.3f}  (provider built, first response)")


if __name__ == "__main__":
    main()
