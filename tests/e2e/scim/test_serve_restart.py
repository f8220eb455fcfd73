"""`peoplesync serve` as a user runs it: a process on 127.0.0.1, Entra's requests (events/), the server stopped
and started again. The IdP's view is kept in the local run's SQLite file, so a user the IdP created before the
restart is still known after it: a re-POST is a 409 `uniqueness` (RFC 7644 3.3), a lookup by userName finds
her, and the target (a CSV file) holds exactly one row for her."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "serve-restart-token-5b1e9c0d7a"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CONFIG = f"""
systems:
  idp:       {{connector: scim, tokens: "secret:scim-tokens"}}
  phonebook: {{connector: csv, path: phonebook.csv, key: id, writable: true, provision: true}}
fields:
  email.work:  {{source: idp, normalize: [trim, lower], map: {{idp: userName, phonebook: email}}}}
  title:       {{source: idp, map: {{idp: title, phonebook: title}}}}
  employee_id: {{source: idp, map: {{idp: "{ENTERPRISE}:employeeNumber", phonebook: employee_id}}}}
match: [email.work]
policies: {{unmatched: create, max_changes_per_run: null}}
"""


def entra(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / f"{name}.json").read_text())


CREATE = json.loads(entra("entra-user-create")["body"])
USER_NAME = CREATE["userName"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`peoplesync serve CONFIG --port N` in its own process, from this tree."""

    def __init__(self, config: Path) -> None:
        self.config, self.port = config, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {**os.environ, "PEOPLESYNC_SECRET_SCIM_TOKENS": json.dumps({"tokens": [TOKEN]}), "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "layers" / "peoplesync"), str(ROOT / "tools"), os.environ.get("PYTHONPATH", "")])}
        log = self.config.parent / "serve.log"
        with log.open("ab") as out:  # the child keeps its own copy of the handle
            self.process = subprocess.Popen(
                [sys.executable, "-m", "peoplesync.cli", "serve", str(self.config), "--port", str(self.port)],
                cwd=self.config.parent, env=env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError("peoplesync serve did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def request(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
                ) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/scim/v2{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json",
            "User-Agent": "Microsoft.AAD.ProvisioningService"})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else {}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    config = tmp_path / "peoplesync.yaml"
    config.write_text(CONFIG)
    (tmp_path / "phonebook.csv").write_text("id,email,title,employee_id\n")
    running = Server(config)
    yield running
    running.stop()


def phonebook(folder: Path) -> list[dict[str, str]]:
    with (folder / "phonebook.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def delivered(folder: Path, title: str, seconds: float = 20) -> list[dict[str, str]]:
    """The directory once the write carrying `title` landed: serve answers first and delivers in the
    background (docs/scim.md)."""
    deadline = time.monotonic() + seconds
    while not (rows := phonebook(folder)) or rows[-1]["title"] != title:
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)
    return rows


def test_given_serve_restarted_when_entra_posts_the_same_user_again_then_no_second_person_or_row(
        server: Server) -> None:
    folder = server.config.parent
    server.start()
    status, created = server.request("POST", "/Users", CREATE)
    assert status == 201, created
    [row] = delivered(folder, "Engineer")
    assert (row["email"], row["title"], row["employee_id"]) == (USER_NAME.lower(), "Engineer", "E1001")
    server.stop()

    server.start()
    status, again = server.request("POST", "/Users", CREATE)
    assert status == 409 and again["scimType"] == "uniqueness", again
    status, found = server.request("GET", "/Users", query={"filter": f'userName eq "{USER_NAME}"'})
    assert status == 200 and found["totalResults"] == 1
    assert found["Resources"][0]["id"] == created["id"]
    assert phonebook(folder) == [row]

    # Entra then updates her by the id it kept: the same person, the same row
    patch = json.loads(entra("entra-user-patch-replace")["body"])
    status, patched = server.request("PATCH", f"/Users/{created['id']}", patch)
    assert status == 200 and patched["title"] == "Senior Engineer", patched
    [updated] = delivered(folder, "Senior Engineer")
    assert (updated["id"], updated["title"]) == (row["id"], "Senior Engineer")
    assert (folder / ".peoplesync" / "state.sqlite3").is_file()
