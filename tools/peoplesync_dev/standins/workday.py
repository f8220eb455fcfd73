"""A local stand-in for a Workday Report-as-a-Service custom report. Stdlib only.

Part of the developer tools (`tools/peoplesync_dev`, never in the Lambda layer): the tests and `make demo` run
against it, on 127.0.0.1 and a free port.

    from peoplesync_dev.standins.workday import start_standin
    url, server = start_standin([{"Employee_ID": "21001", "Worker": "Jane Doe", ...}])
    ...                                   # point a `workday_raas` system at url (secret: username/password)
    server.standin.workers.append({...})  # HR changes between polls
    server.stop()

or from a shell: `python -m peoplesync_dev.standins.workday --port 8901 --workers workers.json`.

What it serves, following /work/shared/refs/workday-raas.md (section 7):
- `GET /ccx/service/customreport2/{tenant}/{owner}/{report}?format=json` -> `{"Report_Entry": [...]}`, the
  workers as given (string values, "0"/"1" booleans, `*_group` arrays of objects; blank fields left out);
- the same with `format=csv` -> a header row, one row per worker; a group's subfields become columns named
  `Group.Sub` whose cell joins the instances' values with a newline (Workday's own CSV layout for
  multi-instance fields is unconfirmed: this is the stand-in's choice, and the connector's default);
- `?xsds` -> a small XSD naming the report's fields;
- `POST /ccx/oauth2/{tenant}/token` (grant_type=refresh_token) -> `{"access_token", "token_type",
  "expires_in"}`;
- HTTP Basic (the integration user) or Bearer (an issued, unexpired token) on the report; 401 otherwise.
Prompts are accepted as query parameters and recorded (`requests`); `prompt_filter(params, workers)` may
narrow the workers by them. `fail_next(status, retry_after=)` answers the next report request(s) with an
error (429, 500, 503). An empty report answers `{"Report_Entry": []}`, or `{}` with `empty="omit"`.
"""

from __future__ import annotations

import base64
import copy
import csv
import io
import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .httpd import StandinServer as BaseServer
from .httpd import serve_in_thread


class WorkdayStandin:
    def __init__(self, workers: list[dict[str, Any]] | None = None, *, tenant: str = "acme",
                 owner: str = "ISU_PeopleSync", report: str = "People_Sync",
                 users: dict[str, str] | None = None, clients: dict[str, str] | None = None,
                 refresh_tokens: dict[str, str] | None = None, token_ttl: float = 3600.0,
                 empty: str = "list", prompt_filter: Callable[[dict[str, str], list[dict[str, Any]]],
                                                               list[dict[str, Any]]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.workers: list[dict[str, Any]] = list(workers or [])
        self.tenant, self.owner, self.report = tenant, owner, report
        self.users = {"ISU_PeopleSync": "wd-pass"} if users is None else dict(users)
        self.clients = {"peoplesync-client": "client-secret"} if clients is None else dict(clients)
        # refresh token -> the client it belongs to
        self.refresh_tokens = {"refresh-0001": "peoplesync-client"} if refresh_tokens is None else dict(refresh_tokens)
        self.token_ttl = token_ttl
        self.empty = empty
        self.prompt_filter = prompt_filter
        self.clock = clock
        self.tokens: dict[str, float] = {}  # access token -> expires at
        self.requests: list[dict[str, Any]] = []  # what was asked: path, params, auth kind, status
        self._failures: list[tuple[int, float | None]] = []
        self.lock = threading.Lock()

    @property
    def report_path(self) -> str:
        return f"/ccx/service/customreport2/{self.tenant}/{self.owner}/{self.report}"

    @property
    def token_path(self) -> str:
        return f"/ccx/oauth2/{self.tenant}/token"

    def fail_next(self, status: int, *, retry_after: float | None = None, times: int = 1) -> None:
        with self.lock:
            self._failures.extend([(status, retry_after)] * times)

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # --- the report -------------------------------------------------------------------------------------
    def entries(self, params: dict[str, str]) -> list[dict[str, Any]]:
        with self.lock:
            workers = copy.deepcopy(self.workers)
        if self.prompt_filter is not None:
            workers = self.prompt_filter(params, workers)
        return [{k: v for k, v in w.items() if v is not None and v != "" and v != []} for w in workers]

    def as_json(self, entries: list[dict[str, Any]]) -> bytes:
        body: dict[str, Any] = {"Report_Entry": entries} if entries or self.empty != "omit" else {}
        return json.dumps(body).encode()

    def as_csv(self, entries: list[dict[str, Any]]) -> bytes:
        columns: dict[str, None] = {}
        for e in entries:
            for k, v in e.items():
                if isinstance(v, list):
                    for item in v:
                        for sub in item:
                            columns[f"{k}.{sub}"] = None
                else:
                    columns[k] = None
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(list(columns))
        for e in entries:
            row = []
            for col in columns:
                group, dot, sub = col.partition(".")
                if dot and isinstance(e.get(group), list):
                    row.append("\n".join(str(i.get(sub, "")) for i in e[group]))
                else:
                    row.append("" if e.get(col) is None else str(e[col]))
            writer.writerow(row)
        return out.getvalue().encode("utf-8")

    def xsd(self) -> bytes:
        names = sorted({k for w in self.workers for k in w})
        elements = "".join(f'<xsd:element name="{n}" type="xsd:string" minOccurs="0"/>' for n in names)
        return ('<?xml version="1.0" encoding="UTF-8"?><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
                f'<xsd:complexType name="Report_EntryType"><xsd:sequence>{elements}</xsd:sequence>'
                "</xsd:complexType></xsd:schema>").encode()

    # --- auth -------------------------------------------------------------------------------------------
    def check(self, header: str | None) -> str | None:
        """The auth kind if the Authorization header is good, else None."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            ok = user in self.users and secrets.compare_digest(self.users[user], password)
            return "basic" if ok else None
        if scheme.lower() == "bearer":
            with self.lock:
                expires = self.tokens.get(value.strip())
            return "bearer" if expires is not None and expires > self.clock() else None
        return None

    def issue_token(self, form: dict[str, str], header: str | None) -> tuple[int, dict[str, Any]]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if header and header.lower().startswith("basic "):
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        if not client_id or self.clients.get(client_id) != client_secret:
            return 401, {"error": "invalid_client"}
        if self.refresh_tokens.get(form.get("refresh_token", "")) != client_id:
            return 400, {"error": "invalid_grant"}
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = self.clock() + self.token_ttl
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": int(self.token_ttl)}


class _Handler(BaseHTTPRequestHandler):
    server: StandinServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read server.standin.requests
        pass

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def do_GET(self) -> None:
        sd = self.server.standin
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        record: dict[str, Any] = {"method": "GET", "path": parts.path, "params": params}
        with sd.lock:
            sd.requests.append(record)
        if parts.path != sd.report_path:
            record["status"] = 404
            return self._json(404, {"error": "no such report"})
        kind = sd.check(self.headers.get("Authorization"))
        record["auth"] = kind
        if kind is None:
            record["status"] = 401
            return self._json(401, {"error": "invalid username or password"},
                              {"WWW-Authenticate": 'Basic realm="Workday"'})
        with sd.lock:
            failure = sd._failures.pop(0) if sd._failures else None
        if failure is not None:
            status, retry_after = failure
            record["status"] = status
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            return self._json(status, {"error": "the stand-in was asked to fail"}, headers)
        if parts.query == "xsds" or "xsds" in params:
            record["status"] = 200
            return self._send(200, sd.xsd(), "application/xml")
        fmt = params.get("format", "")
        entries = sd.entries({k: v for k, v in params.items() if k != "format"})
        record["status"] = 200
        if fmt == "json":
            return self._send(200, sd.as_json(entries), "application/json")
        if fmt == "csv":
            return self._send(200, sd.as_csv(entries), "text/csv; charset=utf-8")
        record["status"] = 406
        return self._json(406, {"error": "this stand-in serves format=json or format=csv (Workday XML is not "
                                         "simulated)"})

    def do_POST(self) -> None:
        sd = self.server.standin
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        with sd.lock:
            sd.requests.append({"method": "POST", "path": parts.path})
        if parts.path != sd.token_path:
            return self._json(404, {"error": "not found"})
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        status, body = sd.issue_token(form, self.headers.get("Authorization"))
        return self._json(status, body)


class StandinServer(BaseServer):
    standin: WorkdayStandin

    @property
    def report_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{self.standin.report_path}"


def start_standin(workers: list[dict[str, Any]] | None = None, *, port: int = 0,
                  **options: Any) -> tuple[str, StandinServer]:
    """Start the stand-in in a background thread on 127.0.0.1 (a free port unless `port` is given).
    Returns (report_url, server); `server.standin` is the state, `server.stop()` ends it.
    `options` go to `WorkdayStandin` (tenant, owner, report, users, clients, refresh_tokens, empty, ...)."""
    server = StandinServer(("127.0.0.1", port), _Handler)
    server.standin = WorkdayStandin(workers, **options)
    return server.report_url, serve_in_thread(server, "workday-standin")


def sample_workers(n: int = 5, *, start: int = 21001) -> list[dict[str, Any]]:
    """Realistic report entries (the layout of the reference's example), for tests, benches and the demo."""
    relationships = ["Spouse", "Parent", "Sibling", "Friend"]
    out = []
    for i in range(n):
        emp = start + i
        first, last = f"Given{i}", f"Family{i}"
        out.append({
            "Employee_ID": str(emp),
            "Worker": f"{first} {last}",
            "Legal_Name": f"{first} Q {last}",
            "Email_-_Work": f"{first.lower()}.{last.lower()}@example.com",
            "Hire_Date": f"20{10 + i % 14:02d}-0{1 + i % 9}-15-08:00",
            "Manager_ID": str(start) if i else "",
            "Worker_Status": "Active",
            "Work_Location": ["Indianapolis", "London", "Remote"][i % 3],
            "Is_Manager": "1" if i == 0 else "0",
            "Emergency_Contacts_group": [
                {"Name": f"Contact {i}", "Relationship": relationships[i % 4], "Phone": f"+1 317 555 {i % 10000:04d}"},
            ],
        })
    return out


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Run the Workday RaaS stand-in on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8901)
    parser.add_argument("--workers", help="a JSON file holding a list of report entries (default: 5 samples)")
    parser.add_argument("--user", default="ISU_PeopleSync:wd-pass", help="integration user as name:password")
    args = parser.parse_args(argv)
    workers = sample_workers()
    if args.workers:
        with open(args.workers) as f:
            workers = json.load(f)
    user, _, password = args.user.partition(":")
    url, server = start_standin(workers, port=args.port, users={user: password})
    print(f"Workday RaaS stand-in: {url}?format=json (user {user}); Ctrl-C to stop")
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
