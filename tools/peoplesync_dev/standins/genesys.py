"""A local stand-in for the part of the Genesys Cloud Platform API that peoplesync uses. Stdlib only.

Part of the developer tools (`tools/peoplesync_dev`, never in the Lambda layer): the tests and `make demo` run
against it, on 127.0.0.1 and a free port.

    from peoplesync_dev.standins.genesys import start_standin
    base_url, server = start_standin(clients={"bridge": "s3cret"}, budget_per_minute=300)
    uid = server.standin.add_user("Ann Lee", "ann@example.com", title="Agent")
    ...                                     # point a `genesys_cloud` system at base_url
    server.stop()

or from a shell: `python -m peoplesync_dev.standins.genesys --port 8900 --client bridge:s3cret`.

What it serves (one host for both the login and the API host):
- `POST /oauth/token` (client credentials, HTTP Basic), tokens that expire after `token_ttl` seconds;
- `GET /api/v2/users` (pageSize / pageNumber paging, `id`, `state`, `expand`), `GET|PATCH|DELETE
  /api/v2/users/{id}`, `POST /api/v2/users`, with versions (a stale `version` gets a 409, or the 400 some
  endpoints answer, see `version_error_status`), `state` changes that change nothing else, the
  create-then-PATCH rule for manager / employerInfo / locations;
- `POST /api/v2/users/search` (EXACT criteria, one page; see `_search`);
- `GET /api/v2/locations` and `/api/v2/locations/{id}`;
- a request budget per OAuth client: at most `budget_per_minute` requests in any sliding `window` seconds,
  the next one refused with 429 and `Retry-After` (whole seconds, rounded up);
- an audit trail shaped like the EventBridge partner events (`audit_events`), each carrying the OAuth client
  that made the change, so a test can feed them to `peoplesync.connectors.genesys_events`;
- `lose_next_answers(n, status, method)`: requests served, their answers replaced by an error (a create that
  landed while the caller saw a 504);
- `echo_errors=True`: every error body echoes the request (request line, headers with Authorization, body), as
  some servers and proxies do, so a test can check that no credential reaches a report or a log.
Where it simplifies the real API is listed in docs/genesys.md. The clock is injectable (`clock=`) so a
benchmark can run 10,000 throttled requests on simulated time.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import re
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .httpd import Dispatching, serve_in_thread
from .httpd import StandinServer as BaseServer

EMPLOYEE_TYPES = {"Full-time", "Part-time", "Contractor"}
MEDIA_TYPES = {"PHONE", "EMAIL", "SMS"}
CONTACT_TYPES = {"PRIMARY", "WORK", "WORK2", "WORK3", "WORK4", "HOME", "MOBILE", "MAIN", "OTHER"}
PATCHABLE = {"name", "email", "title", "department", "username", "preferredName", "manager", "addresses",
             "employerInfo", "locations"}
CREATE_FIELDS = {"name", "email", "title", "department", "addresses", "username"}
UI_CLIENT = "genesys-cloud-ui"  # the client id audit events carry for edits made in the web app


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class GenesysStandin:
    """The stand-in's state and behaviour, independent of HTTP (tests may call it directly)."""

    def __init__(self, *, clients: dict[str, str] | None = None, budget_per_minute: int | None = None,
                 window: float = 60.0, clock: Callable[[], float] = time.monotonic, token_ttl: float = 86400,
                 max_page_size: int = 500, version_error_status: int = 409, division_id: str = "division-home",
                 org_id: str = "6f1c5a8e-0000-4000-8000-standin00000", echo_errors: bool = False) -> None:
        self.clients = dict(clients or {"peoplesync": "peoplesync-secret"})
        self.echo_errors = echo_errors
        self.budget = budget_per_minute
        self.window = window
        self.clock = clock
        self.token_ttl = token_ttl
        self.max_page_size = max_page_size
        self.version_error_status = version_error_status
        self.division_id = division_id
        self.org_id = org_id
        self.users: dict[str, dict[str, Any]] = {}
        self.locations: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (client id, expires at)
        self.stats: Counter[str] = Counter()
        self.audit_events: list[dict[str, Any]] = []
        self._windows: dict[str, deque[float]] = {}
        self._faults: deque[tuple[int, str | None, int | None]] = deque()
        self._lost: deque[tuple[int, str | None]] = deque()
        # called as hook(method, path, query) before each API request is served: a test's way to make
        # something happen "meanwhile" (an agent's edit between the bridge's read and its write)
        self.hooks: list[Callable[[str, str, dict[str, list[str]]], None]] = []
        self.lock = threading.RLock()

    # --- seeding and admin (in-process) -------------------------------------------------------------
    def add_location(self, name: str) -> str:
        with self.lock:
            lid = str(uuid.uuid4())
            self.locations[lid] = {"id": lid, "name": name, "selfUri": f"/api/v2/locations/{lid}"}
            return lid

    def add_user(self, name: str, email: str, *, state: str = "active", **fields: Any) -> str:
        """Create a user directly (no request, no audit event). Fields as in a PATCH body."""
        with self.lock:
            uid = str(uuid.uuid4())
            self.users[uid] = {"id": uid, "name": name, "email": email, "username": email, "state": state,
                               "version": 1, "division": {"id": self.division_id, "name": "Home"},
                               "addresses": [], "employerInfo": {}, "locations": [], "groups": []}
            self._set_fields(self.users[uid], fields)
            return uid

    def edit_user(self, uid: str, changes: dict[str, Any], *, by_client: str = UI_CLIENT,
                  by_user: str | None = None) -> dict[str, Any]:
        """A change made outside the bridge (an agent editing their own profile, an admin in the web app):
        the version moves on and an audit event is published, as for any change."""
        with self.lock:
            user = self._live(uid)
            before = copy.deepcopy(user)
            if "state" in changes:
                user["state"] = changes["state"]
            else:
                self._set_fields(user, changes)
            user["version"] += 1
            self._audit("Update", user, before, by_client, by_user or uid)
            return self.render(user, expand=("employerInfo", "locations", "groups"))

    def revoke_tokens(self) -> None:
        """Invalidate every token now (as a rotated secret or an admin would): the next call gets a 401."""
        with self.lock:
            self.tokens.clear()

    def fail_next(self, count: int, status: int = 503, method: str | None = None,
                  retry_after: int | None = None) -> None:
        """Answer the next `count` API requests (of `method`, if given) with `status` (a 429 with
        `retry_after`: the Retry-After header the platform sends with it)."""
        with self.lock:
            self._faults.extend([(status, method, retry_after)] * count)

    def lose_next_answers(self, count: int, status: int = 504, method: str | None = None) -> None:
        """Serve the next `count` API requests (of `method`, if given), then answer `status` instead of the
        result: a gateway that timed out after the platform took the request (a create that landed while its
        caller saw a failure)."""
        with self.lock:
            self._lost.extend([(status, method)] * count)

    def lost_answer(self, method: str) -> int | None:
        """The status to answer instead of a served request's result, if one is to be lost."""
        with self.lock:
            if self._lost and self._lost[0][1] in (None, method):
                status, _ = self._lost.popleft()
                self.stats[f"answers lost ({status})"] += 1
                return status
            return None

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._lost.clear()

    def user(self, uid: str) -> dict[str, Any]:
        with self.lock:
            return self.render(self.users[uid], expand=("employerInfo", "locations", "groups"))

    # --- rendering ---------------------------------------------------------------------------------
    def render(self, user: dict[str, Any], expand: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in user.items() if k not in ("manager", "employerInfo", "locations",
                                                                         "groups")}
        out["selfUri"] = f"/api/v2/users/{user['id']}"
        if user.get("manager"):
            out["manager"] = {"id": user["manager"], "selfUri": f"/api/v2/users/{user['manager']}"}
        contact = [{"address": user["email"], "mediaType": "EMAIL", "type": "PRIMARY"}]
        contact += [{**e, "type": "PRIMARY"} for e in user["addresses"] if e["mediaType"] == "PHONE"][:1]
        out["primaryContactInfo"] = contact
        if "employerInfo" in expand:
            out["employerInfo"] = dict(user["employerInfo"])
        if "locations" in expand:
            out["locations"] = [{"id": loc["id"], "notes": loc.get("notes", ""), "locationDefinition": {
                "id": loc["id"], "name": self.locations.get(loc["id"], {}).get("name"),
                "selfUri": f"/api/v2/locations/{loc['id']}"}} for loc in user["locations"]]
        if "groups" in expand:
            out["groups"] = [{"id": g, "selfUri": f"/api/v2/groups/{g}"} for g in user["groups"]]
        return out

    # --- request handling --------------------------------------------------------------------------
    def token(self, authorization: str | None, form: dict[str, list[str]]) -> dict[str, Any]:
        if (form.get("grant_type") or [""])[0] != "client_credentials":
            raise ApiError(400, "unsupported_grant_type", "grant_type must be client_credentials")
        try:
            scheme, _, blob = (authorization or "").partition(" ")
            client_id, _, secret = base64.b64decode(blob).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            scheme, client_id, secret = "", "", ""
        if scheme.lower() != "basic" or not secrets.compare_digest(self.clients.get(client_id, "\0"), secret):
            raise ApiError(401, "invalid_client", "client authentication failed")
        with self.lock:
            token = secrets.token_urlsafe(24)
            self.tokens[token] = (client_id, self.clock() + self.token_ttl)
            self.stats["tokens issued"] += 1
        return {"access_token": token, "token_type": "bearer", "expires_in": int(self.token_ttl)}

    def authenticate(self, authorization: str | None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        with self.lock:
            entry = self.tokens.get(token) if scheme.lower() == "bearer" else None
            if entry is None or entry[1] <= self.clock():
                self.stats["401"] += 1
                raise ApiError(401, "bad.credentials", "Invalid login credentials.")
            return entry[0]

    def spend(self, client_id: str, method: str) -> dict[str, str]:
        """Count one request against the client's budget; refuse it with 429 when the window is full."""
        with self.lock:
            now = self.clock()
            self.stats["requests"] += 1
            self.stats[f"{method} requests"] += 1
            if self.budget is None:
                return {}
            log = self._windows.setdefault(client_id, deque())
            while log and log[0] <= now - self.window + 1e-6:  # tolerance: float noise on a simulated clock
                log.popleft()
            if len(log) >= self.budget:
                self.stats["429"] += 1
                retry = max(1, math.ceil(log[0] + self.window - now - 1e-6))
                raise ApiError(429, "too.many.requests.retry.after",
                               f"Rate limit exceeded the maximum. Retry the request in [{retry}] seconds",
                               {"Retry-After": str(retry)})
            log.append(now)
            return {"inin-ratelimit-allowed": str(self.budget), "inin-ratelimit-count": str(len(log)),
                    "inin-ratelimit-reset": str(max(1, math.ceil(log[0] + self.window - now)))}

    def fault(self, method: str) -> None:
        with self.lock:
            if self._faults and self._faults[0][1] in (None, method):
                status, _, retry_after = self._faults.popleft()
                self.stats[f"injected {status}"] += 1
                if status == 429:
                    raise ApiError(429, "too.many.requests.retry.after", "Rate limit exceeded the maximum",
                                   {"Retry-After": str(retry_after)} if retry_after is not None else {})
                raise ApiError(status, "service.unavailable", "The service is temporarily unavailable")

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any,
               client_id: str) -> tuple[int, Any]:
        with self.lock:
            for hook in list(self.hooks):
                hook(method, path, query)
            if path == "/api/v2/users" and method == "GET":
                return 200, self._list_users(query)
            if path == "/api/v2/users" and method == "POST":
                return 200, self._create(body, client_id)
            if path == "/api/v2/users/search" and method == "POST":
                return 200, self._search(body)
            m = re.fullmatch(r"/api/v2/users/([^/]+)", path)
            if m and method == "GET":
                state = (query.get("state") or ["active"])[0]
                user = self.users.get(m.group(1))
                if user is None or (user["state"] == "deleted") != (state == "deleted"):
                    raise ApiError(404, "not.found", "The requested operation failed with status 404")
                return 200, self.render(user, _expand(query))
            if m and method == "PATCH":
                return 200, self._patch(m.group(1), body, client_id)
            if m and method == "DELETE":
                user = self._live(m.group(1))
                before = copy.deepcopy(user)
                user["state"], user["version"] = "deleted", user["version"] + 1
                self._audit("Delete", user, before, client_id, None)
                return 200, {}
            if path == "/api/v2/authorization/divisions/home" and method == "GET":
                return 200, {"id": self.division_id, "name": "Home", "homeDivision": True}
            if path == "/api/v2/locations" and method == "GET":
                return 200, self._page(list(self.locations.values()), query, lambda x: x)
            m = re.fullmatch(r"/api/v2/locations/([^/]+)", path)
            if m and method == "GET" and m.group(1) in self.locations:
                return 200, dict(self.locations[m.group(1)])
            if path.startswith("/api/v2/groups"):  # groups: standins/genesys_groups.py
                from . import genesys_groups
                return genesys_groups.handle(self, method, path, query, body)
            raise ApiError(404, "not.found", "The requested operation failed with status 404")

    def _page(self, items: list[Any], query: dict[str, list[str]], render: Callable[[Any], Any]) -> dict[str, Any]:
        try:
            size = int((query.get("pageSize") or ["25"])[0])
            number = int((query.get("pageNumber") or ["1"])[0])
        except ValueError:
            raise ApiError(400, "bad.request", "pageSize and pageNumber must be integers") from None
        if not 1 <= size <= self.max_page_size or number < 1:
            raise ApiError(400, "bad.request", f"pageSize must be 1..{self.max_page_size}, pageNumber >= 1")
        total = len(items)
        count = max(1, math.ceil(total / size))
        chunk = items[(number - 1) * size: number * size]
        return {"entities": [render(x) for x in chunk], "pageSize": size, "pageNumber": number, "total": total,
                "pageCount": count, "firstUri": f"?pageSize={size}&pageNumber=1",
                **({"nextUri": f"?pageSize={size}&pageNumber={number + 1}"} if number < count else {}),
                "lastUri": f"?pageSize={size}&pageNumber={count}"}

    def _list_users(self, query: dict[str, list[str]]) -> dict[str, Any]:
        state = (query.get("state") or ["active"])[0]
        ids = set(query.get("id") or ())
        users = [u for u in self.users.values()
                 if (state == "any" or u["state"] == state) and (not ids or u["id"] in ids)]
        users.sort(key=lambda u: (u["name"].lower(), u["id"]))
        expand = _expand(query)
        return self._page(users, query, lambda u: self.render(u, expand))

    def _search(self, body: Any) -> dict[str, Any]:
        """`POST /api/v2/users/search` (a `UserSearchRequest`): EXACT criteria only, ANDed (or NOT), values
        compared without case; deleted users only when a `state` criterion asks for them. One page: the
        `q64` follow-up pages (`GET /api/v2/users/search?q64=`) are not served."""
        if not isinstance(body, dict) or not isinstance(body.get("query"), list) or not body["query"]:
            raise ApiError(400, "bad.request", "query must be a non-empty list of criteria")
        size, number = body.get("pageSize", 25), body.get("pageNumber", 1)
        if not isinstance(size, int) or not isinstance(number, int) or not 1 <= size <= 100 or number < 1:
            raise ApiError(400, "bad.request", "pageSize must be 1..100, pageNumber >= 1")
        tests = [_criterion(c) for c in body["query"]]
        asks_state = any("state" in (c.get("fields") or ()) for c in body["query"])
        found = [u for u in self.users.values()
                 if (asks_state or u["state"] != "deleted") and all(t(u) for t in tests)]
        found.sort(key=lambda u: (u["name"].lower(), u["id"]))
        self.stats["searches"] += 1
        expand = tuple(str(x) for x in body.get("expand") or ())
        chunk = found[(number - 1) * size: number * size]
        return {"total": len(found), "pageCount": max(1, math.ceil(len(found) / size)), "pageSize": size,
                "pageNumber": number, "types": ["users"], "results": [self.render(u, expand) for u in chunk]}

    def _live(self, uid: str) -> dict[str, Any]:
        user = self.users.get(uid)
        if user is None or user["state"] == "deleted":
            raise ApiError(404, "not.found", "The requested operation failed with status 404")
        return user

    def _create(self, body: Any, client_id: str) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("name") or not body.get("email"):
            raise ApiError(400, "bad.request", "name and email are required")
        if body.get("divisionId") != self.division_id:
            raise ApiError(400, "bad.request", f"divisionId must name an existing division ({self.division_id})")
        email = str(body["email"]).lower()
        if any(u["email"].lower() == email for u in self.users.values()):
            raise ApiError(409, "general.conflict", "A user with this email already exists")
        fields = {k: v for k, v in body.items() if k in CREATE_FIELDS - {"name", "email"}}
        uid = self.add_user(body["name"], body["email"], **fields)
        user = self.users[uid]
        self._audit("Create", user, {}, client_id, None)
        return self.render(user, ("employerInfo", "locations", "groups"))

    def _patch(self, uid: str, body: Any, client_id: str) -> dict[str, Any]:
        user = self._live(uid)
        if not isinstance(body, dict) or not isinstance(body.get("version"), int):
            raise ApiError(400, "bad.request", "version is required")
        if body["version"] != user["version"]:
            if self.version_error_status == 400:
                raise ApiError(400, "bad.request",
                               f"The version supplied ({body['version']}) does not match the current version")
            raise ApiError(409, "conflict", "Resource conflict - Unexpected version was provided")
        before = copy.deepcopy(user)
        if "state" in body:  # a state change changes nothing else
            if body["state"] not in ("active", "inactive"):
                raise ApiError(400, "bad.request", "state must be active or inactive")
            user["state"] = body["state"]
        else:
            self._set_fields(user, {k: v for k, v in body.items() if k in PATCHABLE})
        user["version"] += 1
        self._audit("Update", user, before, client_id, None)
        return self.render(user, ("employerInfo", "locations", "groups"))

    def _set_fields(self, user: dict[str, Any], fields: dict[str, Any]) -> None:
        staged = copy.deepcopy(user)
        for k, v in fields.items():
            if k == "manager":
                if v and v not in self.users:
                    raise ApiError(400, "bad.request", f"manager {v!r} is not a user")
                staged["manager"] = v or None
            elif k == "addresses":
                staged["addresses"] = _check_addresses(v)
            elif k == "employerInfo":
                staged["employerInfo"] = _check_employer(v)
            elif k == "locations":
                locs = []
                for loc in v or ():
                    lid = loc.get("id") or (loc.get("locationDefinition") or {}).get("id")
                    if lid not in self.locations:
                        raise ApiError(400, "bad.request", f"unknown location {lid!r}")
                    locs.append({"id": lid, **({"notes": loc["notes"]} if loc.get("notes") else {})})
                staged["locations"] = locs
            elif k == "groups":
                staged["groups"] = [g["id"] if isinstance(g, dict) else g for g in v or ()]
            elif k in PATCHABLE:
                if k in ("name", "email") and not v:
                    raise ApiError(400, "bad.request", f"{k} cannot be blank")
                staged[k] = v if v != "" else None
        user.clear()
        user.update(staged)

    def _audit(self, action: str, after: dict[str, Any], before: dict[str, Any], client_id: str,
               by_user: str | None) -> None:
        changes = [{"property": k, "oldValues": _values(before.get(k)), "newValues": _values(after.get(k))}
                   for k in sorted(set(before) | set(after)) if k != "version" and before.get(k) != after.get(k)]
        uid = after["id"]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.audit_events.append({
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "v2.audits.entitytype.{id}.entityid.{id}",
            "source": f"aws.partner/genesys.com/cloud/{self.org_id}/peoplesync-standin", "account": "000000000000",
            "time": now, "region": "us-east-1", "resources": [],
            "detail": {
                "topicName": f"v2.audits.entitytype.USER.entityid.{uid}", "version": "2",
                "eventBody": {"id": str(uuid.uuid4()), "userId": by_user or "", "username": {"id": by_user or ""},
                              "clientId": {"id": client_id} if client_id else {}, "serviceName": "Directory",
                              "eventTime": now, "action": action, "entityType": "User",
                              "entity": {"id": uid, "name": after.get("name")}, "propertyChanges": changes,
                              "context": {}},
                "metadata": {"CorrelationId": str(uuid.uuid4())}, "timestamp": now}})


SEARCH_TYPES = {"EXACT", "STARTS_WITH", "CONTAINS", "REGEX", "TERM", "TERMS", "REQUIRED_FIELDS", "MATCH_ALL",
                "QUERY_STRING"}


def _criterion(c: Any) -> Callable[[dict[str, Any]], bool]:
    """One `UserSearchCriteria` as a test of a stored user (EXACT on top-level fields, `state`, `id` and
    `employerInfo.<key>`; the limits the API documents: values <= 300 characters, <= 50 values)."""
    if not isinstance(c, dict) or c.get("type") not in SEARCH_TYPES:
        raise ApiError(400, "bad.request", f"criterion type must be one of {sorted(SEARCH_TYPES)}")
    if c["type"] != "EXACT":
        raise ApiError(400, "bad.request", f"the stand-in serves EXACT criteria only, not {c['type']}")
    fields = c.get("fields")
    values = c.get("values") if c.get("values") is not None else [c.get("value")]
    if not isinstance(fields, list) or not fields or not isinstance(values, list) or not 1 <= len(values) <= 50 \
            or not all(isinstance(v, str) and len(v) <= 300 for v in values):
        raise ApiError(400, "bad.request", "a criterion needs fields and a value (or <= 50 values) of <= 300 chars")
    operator = c.get("operator", "AND")
    if operator not in ("AND", "NOT"):
        raise ApiError(400, "bad.request", f"the stand-in combines criteria with AND or NOT only, not {operator}")
    wanted = {v.casefold() for v in values}

    def test(user: dict[str, Any]) -> bool:
        hit = any(str(_field(user, f)).casefold() in wanted for f in fields if _field(user, f) is not None)
        return hit if operator == "AND" else not hit

    return test


def _field(user: dict[str, Any], name: str) -> Any:
    if name.startswith("employerInfo."):
        return (user.get("employerInfo") or {}).get(name.split(".", 1)[1])
    return user.get(name) if name in PATCHABLE | {"id", "state"} and not isinstance(user.get(name), dict | list) \
        else None


def _values(v: Any) -> list[str]:
    return [] if v in (None, "", [], {}) else [json.dumps(v, sort_keys=True) if not isinstance(v, str) else v]


def _expand(query: dict[str, list[str]]) -> tuple[str, ...]:
    return tuple(x for v in query.get("expand") or () for x in v.split(",") if x)


def _check_addresses(value: Any) -> list[dict[str, Any]]:
    seen, out = set(), []
    for e in value or ():
        media, ctype = str(e.get("mediaType", "")).upper(), str(e.get("type", "")).upper()
        if media not in MEDIA_TYPES or ctype not in CONTACT_TYPES:
            raise ApiError(400, "bad.request", f"invalid contact mediaType/type {media}/{ctype}")
        if (media, ctype) in seen:  # simplification: one entry per (mediaType, type), see docs/genesys.md
            raise ApiError(400, "bad.request", f"duplicate contact {media}/{ctype}")
        if bool(e.get("address")) == bool(e.get("extension")):
            raise ApiError(400, "bad.request", "a contact has either an address or an extension")
        seen.add((media, ctype))
        out.append({k: e[k] for k in ("address", "extension", "mediaType", "type", "countryCode") if e.get(k)})
        if e.get("address"):
            out[-1]["display"] = e["address"]
    return out


def _check_employer(value: Any) -> dict[str, str]:
    info = {k: str(v) for k, v in (value or {}).items() if v not in (None, "")}
    if "employeeType" in info and info["employeeType"] not in EMPLOYEE_TYPES:
        raise ApiError(400, "bad.request", f"employeeType must be one of {sorted(EMPLOYEE_TYPES)}")
    if "dateHire" in info and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", info["dateHire"]):
        raise ApiError(400, "bad.request", "dateHire must be yyyy-MM-dd")
    return info


class _Handler(Dispatching):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection, as with the real API
    wbufsize = -1  # headers and body leave in one segment (unbuffered, delayed ACKs cost 40 ms a request)
    server: StandinServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `stats`, not stderr
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("inin-correlation-id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        standin = self.server.standin
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        extra: dict[str, str] = {}
        try:
            if url.path == "/oauth/token" and method == "POST":
                self._send(200, standin.token(self.headers.get("Authorization"), parse_qs(raw.decode())))
                return
            client_id = standin.authenticate(self.headers.get("Authorization"))
            extra = standin.spend(client_id, method)
            standin.fault(method)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                raise ApiError(400, "bad.request", "the body is not JSON") from None
            status, out = standin.handle(method, url.path, query, body, client_id)
            lost = standin.lost_answer(method)
            if lost is not None:
                raise ApiError(lost, "gateway.timeout", "The request timed out")
            self._send(status, out, extra)
        except ApiError as exc:
            with standin.lock:
                standin.stats[f"answered {exc.status}"] += 1
            message = exc.message
            if standin.echo_errors:  # as a careless server does: the request, credentials and all
                message = (f"{exc.message} ({self.command} with {self.headers.get('Authorization')}; "
                           f"request: {self.requestline} headers: {dict(self.headers.items())} "
                           f"body: {raw.decode(errors='replace')})")
            self._send(exc.status, {"status": exc.status, "code": exc.code, "message": message,
                                    "contextId": str(uuid.uuid4()), "details": [], "errors": []},
                       {**extra, **exc.headers})

    def do_PUT(self) -> None:
        self._dispatch("PUT")


class StandinServer(BaseServer):
    standin: GenesysStandin


def start_standin(*, port: int = 0, standin: GenesysStandin | None = None,
                  **options: Any) -> tuple[str, StandinServer]:
    """Start the stand-in in a background thread on 127.0.0.1 (a free port unless `port` is given).
    Returns (base_url, server); `server.standin` is the state, `server.stop()` ends it.
    `options` go to `GenesysStandin` (clients, budget_per_minute, window, clock, token_ttl, ...)."""
    server = StandinServer(("127.0.0.1", port), _Handler)
    server.standin = standin or GenesysStandin(**options)
    return f"http://127.0.0.1:{server.server_address[1]}", serve_in_thread(server, "genesys-standin")


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Run the Genesys Cloud stand-in on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client", action="append", default=[], metavar="ID:SECRET",
                        help="an OAuth client the token endpoint accepts (repeatable)")
    parser.add_argument("--budget", type=int, default=None, help="requests per minute per client")
    parser.add_argument("--seed", help="a JSON file: {users: [{name, email, ...}], locations: [name, ...], "
                                       "groups: [{name, members: [email, ...]}]}")
    args = parser.parse_args(argv)
    clients = dict(c.split(":", 1) for c in args.client) or None
    base_url, server = start_standin(port=args.port, clients=clients, budget_per_minute=args.budget)
    if args.seed:
        with open(args.seed) as fh:
            seed = json.load(fh)
        for name in seed.get("locations", ()):
            server.standin.add_location(name)
        for u in seed.get("users", ()):
            server.standin.add_user(**u)
        from . import genesys_groups  # {"groups": [{"name", "members": [e-mail, ...]}]}
        genesys_groups.seed(server.standin, seed.get("groups", ()))
    print(f"Genesys Cloud stand-in on {base_url} (clients: {', '.join(server.standin.clients)})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
