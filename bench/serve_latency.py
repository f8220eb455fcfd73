"""`peoplesync serve` against the reference SCIM server, over HTTP on loopback, the same replay to both:
POST, GET (by id and by `userName eq`) and PATCH latency (p50 / p99), each server in its own process.

    python bench/serve_latency.py                     # 10,000 users, 2 rounds
    python bench/serve_latency.py --users 2000 --rounds 1
    python bench/serve_latency.py --baseline /path/to/older/checkout   # its `serve` replayed too, same rounds

- peoplesync: `python -m peoplesync.cli serve CONFIG --port N` from this tree: the webhook for an IdP (`idp`,
  connector scim) with a writable, provisioned CSV phone directory as the target (SQLite state beside it). The
  answers do not wait for the directory: a background worker delivers; the bench also reports how long after
  the last request every user was in the CSV file.
- reference: scim2-server (`scim2_server.testserver`'s `BearerTokenApplication` on its threading WSGI server,
  in-memory storage, the default schemas), found by import from the same interpreter: it is a dev dependency
  (`pip install -e '.[dev]'`). Without it, the bench says so and measures peoplesync alone.

The replay: `--users` POSTs (the seeding is the POST sample), then GET by id, GET by filter and a PATCH of the
title (2 operations) on users picked at random, `--requests` of each. A new connection per request for both
(the reference's server speaks HTTP/1.0). Rounds alternate the servers; printed: medians over the rounds of
each server's p50 and p99, and peoplesync's p99 / the reference's p99 (the bar: within 2x).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-serve-token-7f3a9c"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CONFIG = f"""
systems:
  idp:       {{connector: scim, tokens: "secret:scim"}}
  phonebook: {{connector: csv, path: phonebook.csv, key: id, writable: true, provision: true, settle_seconds: 0}}
fields:
  email.work:  {{source: idp, normalize: [trim, lower], map: {{idp: userName, phonebook: email}}}}
  title:       {{source: idp, map: {{idp: title, phonebook: title}}}}
  employee_id: {{source: idp, map: {{idp: "{ENTERPRISE}:employeeNumber", phonebook: employee_id}}}}
match: [email.work]
policies: {{unmatched: create, max_changes_per_run: null}}
"""
REFERENCE = """
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server
from scim2_server.memory import InMemoryStorage
from scim2_server.testserver.application import BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import load_default_provider

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

app = BearerTokenApplication(InMemoryStorage(), load_default_provider(), bearer_tokens=[sys.argv[2]])
make_server("127.0.0.1", int(sys.argv[1]), app, server_class=ThreadingWSGIServer,
            handler_class=Quiet).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, name: str, command: list[str], port: int, base: str, cwd: Path,
                 env: dict[str, str]) -> None:
        self.name, self.port, self.base = name, port, base
        self.log = cwd / f"{name}.log"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"{name} did not start"
                time.sleep(0.1)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any], float]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json",
                   "Accept": "application/scim+json"}
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request(method, self.base + path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - started
        conn.close()
        return response.status, json.loads(raw) if raw else {}, elapsed

    def stop(self) -> None:
        self.process.send_signal(2)  # Ctrl-C: serve stops its worker, keeping what is queued
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def replay(server: Server, users: int, requests: int, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    times: dict[str, list[float]] = {"POST": [], "GET id": [], "GET filter": [], "PATCH": []}
    ids: list[tuple[str, str]] = []
    for n in range(users):
        name = f"user{n}@example.com"
        status, body, took = server.call("POST", "/Users", {
            "schemas": [USER, ENTERPRISE], "userName": name, "title": "Engineer", "active": True,
            "emails": [{"type": "work", "value": name, "primary": True}],
            ENTERPRISE: {"employeeNumber": f"E{n:06d}"}})
        assert status == 201, (server.name, status, body)
        times["POST"].append(took)
        ids.append((body["id"], name))
    for n in range(requests):
        uid, name = rng.choice(ids)
        status, _, took = server.call("GET", f"/Users/{uid}")
        assert status == 200, (server.name, status)
        times["GET id"].append(took)
        uid, name = rng.choice(ids)
        status, body, took = server.call("GET", "/Users?filter=" + f'userName eq "{name}"'.replace(" ", "%20")
                                         .replace('"', "%22"))
        assert status == 200 and body.get("totalResults") == 1, (server.name, status, body)
        times["GET filter"].append(took)
        uid, name = rng.choice(ids)
        status, body, took = server.call("PATCH", f"/Users/{uid}", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": f"Title {n}"},
                           {"op": "replace", "path": "active", "value": True}]})
        assert status in (200, 204), (server.name, status, body)  # 204: the reference returns no body
        times["PATCH"].append(took)
    return times


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def rows(path: Path) -> int:
    try:
        with path.open(newline="") as fh:
            return sum(1 for _ in csv.DictReader(fh))
    except FileNotFoundError:
        return 0


def run_peoplesync(args: argparse.Namespace, seed: int, root: Path = ROOT) -> tuple[dict[str, list[float]], float]:
    folder = Path(tempfile.mkdtemp(prefix="ps-serve-bench-"))
    try:
        (folder / "peoplesync.yaml").write_text(CONFIG)
        (folder / "phonebook.csv").write_text("id,email,title,employee_id\n")
        (folder / "secrets.json").write_text(json.dumps({"scim": {"tokens": [TOKEN]}}))
        env = {**os.environ, "PEOPLESYNC_SCIM_TOKENS": TOKEN, "PYTHONPATH": os.pathsep.join(
            [str(root / "layers" / "peoplesync"), str(root / "tools"), os.environ.get("PYTHONPATH", "")])}
        port = free_port()
        server = Server("peoplesync", [sys.executable, "-m", "peoplesync.cli", "serve", "peoplesync.yaml", "--port",
                                       str(port)], port, "/scim/v2", folder, env)
        try:
            times = replay(server, args.users, args.requests, seed)
            done = time.perf_counter()
            while rows(folder / "phonebook.csv") < args.users and time.perf_counter() - done < 600:
                time.sleep(0.05)
            settled = time.perf_counter() - done
            assert rows(folder / "phonebook.csv") == args.users, "not every user reached the directory"
        finally:
            server.stop()
        return times, settled
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_reference(args: argparse.Namespace, seed: int) -> dict[str, list[float]] | None:
    try:
        import scim2_server  # noqa: F401
    except ImportError:
        return None
    folder = Path(tempfile.mkdtemp(prefix="ps-serve-ref-"))
    try:
        port = free_port()
        server = Server("scim2-server", [sys.executable, "-c", REFERENCE, str(port), TOKEN], port, "/v2", folder,
                        dict(os.environ))
        try:
            return replay(server, args.users, args.requests, seed)
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another checkout: its `serve` replayed too, in each round")
    args = parser.parse_args()
    base: dict[str, dict[str, list[float]]] = {}
    ours: dict[str, dict[str, list[float]]] = {}
    ref: dict[str, dict[str, list[float]]] = {}
    settled: list[float] = []
    missing = False
    for round_ in range(args.rounds):
        order = ("ref", "ours", "base") if round_ % 2 == 0 else ("base", "ours", "ref")
        for who in order:
            if who == "base":
                if args.baseline is None:
                    continue
                times, _ = run_peoplesync(args, round_, args.baseline.resolve())
                target = base
            elif who == "ref":
                times = run_reference(args, round_)
                if times is None:
                    missing = True
                    continue
                target = ref
            else:
                times, after = run_peoplesync(args, round_)
                settled.append(after)
                target = ours
            for kind, samples in times.items():
                stats = target.setdefault(kind, {"p50": [], "p99": []})
                stats["p50"].append(pct(samples, 0.5))
                stats["p99"].append(pct(samples, 0.99))
            print(f"round {round_ + 1} {who}: " + ", ".join(
                f"{k} p50 {pct(v, 0.5):.1f} p99 {pct(v, 0.99):.1f} ms" for k, v in times.items()), flush=True)
    print(f"\n{args.users:,} users, {args.requests:,} of each other request, medians of {args.rounds} round(s), ms")
    if missing:
        print("reference scim2-server is not installed (pip install -e '.[dev]'): peoplesync alone")
    print(f"{'request':<12}{'ours p50':>10}{'ours p99':>10}{'ref p50':>10}{'ref p99':>10}{'p99 ratio':>11}")
    for kind, stats in ours.items():
        p50, p99 = statistics.median(stats["p50"]), statistics.median(stats["p99"])
        if kind in ref:
            r50, r99 = statistics.median(ref[kind]["p50"]), statistics.median(ref[kind]["p99"])
            verdict = "met" if p99 <= 2 * r99 else "missed"
            print(f"{kind:<12}{p50:>10.1f}{p99:>10.1f}{r50:>10.1f}{r99:>10.1f}{p99 / r99:>10.2f}x  (<= 2x: {verdict})")
        else:
            print(f"{kind:<12}{p50:>10.1f}{p99:>10.1f}")
    for kind, stats in base.items():
        p50, p99 = statistics.median(stats["p50"]), statistics.median(stats["p99"])
        ratio = f"{p99 / statistics.median(ref[kind]['p99']):.2f}x the reference's p99" if kind in ref else ""
        print(f"baseline tree {kind:<12} p50 {p50:.1f} p99 {p99:.1f} ms {ratio}")
    print(f"every user in the CSV directory {statistics.median(settled):.1f} s after the last request (median)")


if __name__ == "__main__":
    main()
