"""A local stand-in for the part of Microsoft Graph (v1.0) and the Microsoft identity platform that the
`graph` connector uses. Stdlib only; part of the developer tools, never in the Lambda layer.

    from peoplesync_dev.standins.graph import start_standin
    base_url, server = start_standin(clients={"app-id": "app-secret"})
    g = server.standin
    uid = g.add_user(displayName="Ann Lee", userPrincipalName="ann@contoso.example", employeeId="E1")
    gid = g.add_group("Agents", members=[uid])            # a security group; mailEnabled=..., groupTypes=...
    # a `graph` system: graph_url = base_url + "/v1.0", login_url = base_url, tenant_id = g.tenant
    server.stop()

or from a shell: `python -m peoplesync_dev.standins.graph --port 8902 --client app:secret`.

What it serves, following `../shared/refs/microsoft-graph-groups.md` (section numbers there):
- `POST /{tenant}/oauth2/v2.0/token` (1): form-encoded `client_id`, `client_secret`,
  `grant_type=client_credentials`, `scope=https://graph.microsoft.com/.default`; answers `{token_type, expires_in,
  ext_expires_in, access_token}`, or the identity platform's `{error, error_description}`;
- `GET /v1.0/users`, `/users/{id}`, `/groups`, `/groups/{id}`, `/groups/{id}/members` with `$select`, `$top`
  (1..999, else 400 "Invalid page size specified") and `@odata.nextLink` paging (`$skiptoken`) (3, 4);
- `$filter` on `/groups` (3): `mailEnabled eq true|false`, `securityEnabled eq true|false`,
  `groupTypes/any(c:c eq 'Unified')`, `displayName eq '..'`, `startswith(displayName,'..')`, joined by `and`;
  anything else is 400 `Request_UnsupportedQuery`;
- `GET /v1.0/users/delta` and `/groups/delta` (5): a first round listing everything, then `@odata.deltaLink`
  (`$deltatoken`) rounds with what changed since. Group entries carry `members@delta`; a large group's members
  come in slices of `member_slice`, the later slices as separate entries after the other groups; a member who
  left carries `@removed`; a deleted group or user is `{"id", "@removed": {"reason": "deleted"}}`. A changed user
  carries only the properties that changed (plus id). `$filter` on groups/delta: only `id eq '..'` or'ed, at
  most 50; each page of a round has its own `$skiptoken` (asking for it again gives the same page);
  `expire_delta_links()` makes every issued link answer 410 Gone (a resync); `expire_skip_tokens()` makes every
  issued skip token answer 400 (a round's paging state no longer kept);
- `POST /v1.0/groups/{id}/members/$ref` and `DELETE /v1.0/groups/{id}/members/{member}/$ref` (6): 204; an
  existing member is 400 "One or more added object references already exist..."; an unknown object 404; a
  member who is not there 404; a distribution list or mail-enabled security group 400 "Cannot Update a
  mail-enabled security groups and or distribution list."; a group synchronised from on-premises 400;
  `DELETE /groups/{id}/members/{member}` WITHOUT `/$ref` deletes that directory object, as Graph does
  (counted in `stats["objects deleted"]`);
- `PATCH /v1.0/groups/{id}` (displayName, description): 204;
- `POST /v1.0/$batch` (8): at most 20 requests (400 beyond), each served as if sent alone (its own throttling,
  its own errors in the inner `body`), the outer answer 200, the responses in reverse order;
- errors in Graph's envelope `{"error": {"code", "message", "innerError": {"date", "request-id",
  "client-request-id"}}}` (7); a request budget per client (`budget` requests per sliding `window` seconds),
  beyond it 429 `TooManyRequests` with `Retry-After` (whole seconds), also inside a `$batch`;
- `fail_next(n, status, method)`: the next n requests answered `status`; `break_member_paging(gid)`: the next
  members listing of that group whose page is not the first is refused (a skip token the service no longer
  takes: a listing cut short).

Where it simplifies:
- one tenant, one app per client id, every permission granted (no 403 Authorization_RequestDenied);
- only the `$filter` forms above; no `$count`, `$search`, `$expand`, `$orderby`, `ConsistencyLevel`;
- changes are visible at once (Graph is eventually consistent: a new group or member may show up late);
- members are users and groups only (no devices, service principals, contacts); `/transitiveMembers` absent;
- delta: no `Prefer: return=minimal`; group entries in a later round carry every selected property; a skip
  token stays valid until the stand-in stops or `expire_skip_tokens()`; 410 only after `expire_delta_links()`
  (what real Graph answers for a skip token it dropped is not documented: 400 here);
- `PATCH /groups/{id}` with `members@odata.bind`, creating groups, and writing users are not served;
- throttling is one sliding window per client, not Graph's resource units per app and tenant.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from .httpd import Dispatching, serve_in_thread
from .httpd import StandinServer as BaseServer

SCOPE = "https://graph.microsoft.com/.default"
USER = "#microsoft.graph.user"
GROUP = "#microsoft.graph.group"
DL_REFUSAL = "Cannot Update a mail-enabled security groups and or distribution list."


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class GraphStandin:
    """State and behaviour, independent of HTTP. `root` is set when served (links are absolute URLs)."""

    def __init__(self, *, tenant: str = "0a1b2c3d-0000-4000-8000-tenant000001", clients: dict[str, str] | None = None,
                 budget: int | None = None, window: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 token_ttl: int = 3599, delta_page: int = 100, member_slice: int = 100) -> None:
        self.tenant = tenant
        self.clients = dict(clients or {"peoplesync-app": "peoplesync-secret"})
        self.budget, self.window, self.clock, self.token_ttl = budget, window, clock, token_ttl
        self.delta_page, self.member_slice = delta_page, member_slice
        self.root = "http://127.0.0.1/v1.0"
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.changes: list[tuple[int, str, str, Any]] = []  # (seq, "user" | "group" | "member", id, detail)
        self._seq = itertools.count(1)
        self.tokens: dict[str, tuple[str, float]] = {}
        # skip token -> (kind, the round's pages, this page's index, every page's token)
        self.pages: dict[str, tuple[str, list[list[dict[str, Any]]], int, list[str]]] = {}
        self.delta_links: dict[str, dict[str, Any]] = {}  # delta token -> {kind, seq, select, ids}
        self.stats: Counter[str] = Counter()
        self._windows: dict[str, deque[float]] = {}
        self._faults: deque[tuple[int, str | None]] = deque()
        self._broken: set[str] = set()
        self.lock = threading.RLock()

    # --- seeding and changes made outside the bridge ----------------------------------------------------------
    def add_user(self, **props: Any) -> str:
        with self.lock:
            uid = str(props.pop("id", None) or uuid.uuid4())
            self.users[uid] = {"id": uid, "accountEnabled": True, **props}
            self._log("user", uid, sorted(self.users[uid]))
            return uid

    def edit_user(self, uid: str, **props: Any) -> None:
        with self.lock:
            self.users[uid].update(props)
            self._log("user", uid, sorted(props))

    def remove_user(self, uid: str) -> None:
        with self.lock:
            del self.users[uid]
            for g in self.groups.values():
                if g["members"].pop(uid, 0) != 0:
                    self._log("member", g["id"], (uid, False))
            self._log("user", uid, "removed")

    def add_group(self, displayName: str, *, members: Sequence[str] = (), mailEnabled: bool = False,
                  securityEnabled: bool = True, groupTypes: Sequence[str] = (), **props: Any) -> str:
        with self.lock:
            gid = str(props.pop("id", None) or uuid.uuid4())
            self.groups[gid] = {"id": gid, "displayName": displayName, "mailEnabled": mailEnabled,
                                "securityEnabled": securityEnabled, "groupTypes": list(groupTypes),
                                "onPremisesSyncEnabled": None, "mail": None, "mailNickname": None,
                                "description": None, **props, "members": {}}
            self._log("group", gid, None)
            self.edit_members(gid, add=list(members))
            return gid

    def edit_members(self, gid: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        with self.lock:
            members = self.groups[gid]["members"]
            for m in add:
                if m not in members:
                    members[m] = GROUP if m in self.groups else USER
                    self._log("member", gid, (m, True))
            for m in remove:
                if members.pop(m, None) is not None:
                    self._log("member", gid, (m, False))

    def delete_group(self, gid: str) -> None:
        with self.lock:
            del self.groups[gid]
            self._log("group", gid, "removed")

    def member_ids(self, gid: str) -> list[str]:
        with self.lock:
            return list(self.groups[gid]["members"])

    def fail_next(self, count: int, status: int = 503, method: str | None = None) -> None:
        with self.lock:
            self._faults.extend([(status, method)] * count)

    def break_member_paging(self, gid: str) -> None:
        with self.lock:
            self._broken.add(gid)

    def expire_delta_links(self) -> None:
        with self.lock:
            for link in self.delta_links.values():
                link["expired"] = True

    def _log(self, kind: str, oid: str, detail: Any) -> None:
        self.changes.append((next(self._seq), kind, oid, detail))

    # --- token, auth, budget -------------------------------------------------------------------------------
    def token(self, tenant: str, form: dict[str, list[str]]) -> dict[str, Any]:
        def one(key: str) -> str:
            return (form.get(key) or [""])[0]

        if tenant != self.tenant:
            raise GraphError(400, "invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.")
        if one("grant_type") != "client_credentials":
            raise GraphError(400, "unsupported_grant_type", "AADSTS70003: grant_type must be client_credentials")
        if one("scope") != SCOPE:
            raise GraphError(400, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid. "
                                                   "Client credential flows must have a scope value with /.default")
        if not secrets.compare_digest(self.clients.get(one("client_id"), "\0"), one("client_secret")):
            raise GraphError(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        with self.lock:
            token = secrets.token_urlsafe(24)
            self.tokens[token] = (one("client_id"), self.clock() + self.token_ttl)
            self.stats["tokens issued"] += 1
        return {"token_type": "Bearer", "expires_in": self.token_ttl, "ext_expires_in": self.token_ttl,
                "access_token": token}

    def authenticate(self, authorization: str | None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        with self.lock:
            entry = self.tokens.get(token) if scheme.lower() == "bearer" else None
            if entry is None or entry[1] <= self.clock():
                raise GraphError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
            return entry[0]

    def spend(self, client: str, method: str) -> None:
        with self.lock:
            now = self.clock()
            self.stats["requests"] += 1
            self.stats[f"{method} requests"] += 1
            for i, (status, only) in enumerate(self._faults):
                if only in (None, method):
                    del self._faults[i]
                    self.stats[f"injected {status}"] += 1
                    raise GraphError(status, "serviceNotAvailable" if status >= 500 else "BadRequest",
                                     "The service is temporarily unavailable." if status >= 500 else "Injected.")
            if self.budget is None:
                return
            log = self._windows.setdefault(client, deque())
            while log and log[0] <= now - self.window + 1e-6:
                log.popleft()
            if len(log) >= self.budget:
                self.stats["429"] += 1
                retry = max(1, math.ceil(log[0] + self.window - now - 1e-6))
                raise GraphError(429, "TooManyRequests", "Too many requests. Please try again later.",
                                 {"Retry-After": str(retry)})
            log.append(now)

    # --- requests ------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any, client: str) -> tuple[int, Any]:
        """One Graph request (`path` after `/v1.0`), already authenticated and counted."""
        with self.lock:
            if path == "/$batch" and method == "POST":
                return 200, self._batch(body, client)
            if method == "GET":
                return 200, self._get(path, query)
            m = re.fullmatch(r"/groups/([^/]+)/members/([^/]+)(/\$ref)?", path)
            if method == "DELETE" and m:
                return self._remove(m.group(1), m.group(2), by_ref=m.group(3) is not None)
            m = re.fullmatch(r"/groups/([^/]+)/members/\$ref", path)
            if method == "POST" and m:
                return self._add(m.group(1), body)
            m = re.fullmatch(r"/groups/([^/]+)", path)
            if method == "PATCH" and m:
                g = self._group(m.group(1))
                changed = {k: v for k, v in (body or {}).items() if k in ("displayName", "description")}
                g.update(changed)
                self._log("group", g["id"], None)
                return 204, None
            raise GraphError(400, "BadRequest", f"Unsupported request: {method} {path}")

    def _get(self, path: str, q: dict[str, str]) -> dict[str, Any]:
        if "$skiptoken" in q and path.endswith("/delta"):
            return self._delta_page(q["$skiptoken"])
        if path == "/users/delta":
            return self._delta("users", q)
        if path == "/groups/delta":
            return self._delta("groups", q)
        if path == "/users":
            return self._list(path, q, [_select(u, q) for u in self.users.values()])
        if path == "/groups":
            test = _group_filter(q.get("$filter"))
            return self._list(path, q, [_select(g, q) for g in self.groups.values() if test(g)])
        m = re.fullmatch(r"/users/([^/]+)", path)
        if m:
            if m.group(1) not in self.users:
                raise _not_found(m.group(1))
            return _select(self.users[m.group(1)], q)
        m = re.fullmatch(r"/groups/([^/]+)(/members)?", path)
        if m:
            g = self._group(m.group(1))
            if m.group(2) is None:
                return _select(g, q)
            if g["id"] in self._broken and "$skiptoken" in q:
                self._broken.discard(g["id"])
                raise GraphError(400, "Request_BadRequest", "The specified page token value has expired and "
                                                            "can no longer be included in your request.")
            members = [{"@odata.type": t, "id": mid} for mid, t in g["members"].items()]
            return self._list(path, q, members)
        raise GraphError(404, "Request_ResourceNotFound", f"Resource not found for the segment '{path}'.")

    def _list(self, path: str, q: dict[str, str], items: list[dict[str, Any]]) -> dict[str, Any]:
        top = _top(q)
        offset = int(base64.urlsafe_b64decode(q["$skiptoken"]).decode()) if "$skiptoken" in q else 0
        out: dict[str, Any] = {"@odata.context": f"{self.root}/$metadata#{path.strip('/')}",
                               "value": items[offset:offset + top]}
        if offset + top < len(items):
            token = base64.urlsafe_b64encode(str(offset + top).encode()).decode()
            keep = "".join(f"&{k}={quote(v)}" for k, v in q.items() if k in ("$select", "$filter", "$top"))
            out["@odata.nextLink"] = f"{self.root}{path}?$skiptoken={token}{keep}"
        return out

    # --- delta -----------------------------------------------------------------------------------------------
    def _delta(self, kind: str, q: dict[str, str]) -> dict[str, Any]:
        if "$deltatoken" in q:
            link = self.delta_links.get(q["$deltatoken"])
            if link is None:
                raise GraphError(400, "BadRequest", "The delta token is not valid.")
            if link.get("expired"):
                raise GraphError(410, "SyncStateNotFound", "The sync state generation is not found. Resync.")
            entries = self._changes(kind, link)
            select, ids = link["select"], link["ids"]
        else:
            select = [s for s in q.get("$select", "").split(",") if s]
            ids = _id_filter(q.get("$filter")) if kind == "groups" else None
            entries = self._initial(kind, select, ids)
        seq = self.changes[-1][0] if self.changes else 0
        token = secrets.token_urlsafe(12)
        self.delta_links[token] = {"kind": kind, "seq": seq, "select": select, "ids": ids}
        pages = [entries[i:i + self.delta_page] for i in range(0, len(entries), self.delta_page)] or [[]]
        pages[-1].append({"@deltaLink": f"{self.root}/{kind}/delta?$deltatoken={token}"})
        skips = [secrets.token_urlsafe(12) for _ in pages]  # a token per page: asking one again gives that page
        for i, skip in enumerate(skips):
            self.pages[skip] = (kind, pages, i, skips)
        return self._delta_page(skips[0])

    def _delta_page(self, skip: str) -> dict[str, Any]:
        if skip not in self.pages:
            raise GraphError(400, "BadRequest", "The skip token is not valid.")
        kind, pages, i, skips = self.pages[skip]
        page = pages[i]
        value = [e for e in page if "@deltaLink" not in e]
        out: dict[str, Any] = {"value": value}
        ends = [e["@deltaLink"] for e in page if "@deltaLink" in e]
        if ends:
            out["@odata.deltaLink"] = ends[0]
        else:
            out["@odata.nextLink"] = f"{self.root}/{kind}/delta?$skiptoken={skips[i + 1]}"
        return out

    def expire_skip_tokens(self) -> None:
        """Every `$skiptoken` issued so far answers 400 (a round's paging state Graph no longer keeps)."""
        self.pages.clear()

    def _initial(self, kind: str, select: list[str], ids: set[str] | None) -> list[dict[str, Any]]:
        if kind == "users":
            return [{"id": u["id"], **{p: u.get(p) for p in select if p != "id"}} for u in self.users.values()]
        first, rest = [], []
        for g in self.groups.values():
            if ids is not None and g["id"] not in ids:
                continue
            entry = {"id": g["id"], **{p: g.get(p) for p in select if p not in ("id", "members")}}
            members = [{"@odata.type": t, "id": m} for m, t in g["members"].items()]
            slices = [members[i:i + self.member_slice] for i in range(0, len(members), self.member_slice)] or [[]]
            if "members" in select:
                entry["members@delta"] = slices[0]
                rest += [{"id": g["id"], "members@delta": s} for s in slices[1:]]
            first.append(entry)
        return first + rest

    def _changes(self, kind: str, link: dict[str, Any]) -> list[dict[str, Any]]:
        select, ids = link["select"], link["ids"]
        since = [c for c in self.changes if c[0] > link["seq"]]
        if kind == "users":
            props: dict[str, set[str] | None] = {}
            for _, k, oid, detail in since:
                if k == "user":
                    props[oid] = None if detail == "removed" else (props.get(oid) or set()) | set(detail)
            return [{"id": oid, "@removed": {"reason": "deleted"}} if changed is None or oid not in self.users
                    else {"id": oid, **{p: self.users[oid].get(p) for p in select if p in changed and p != "id"}}
                    for oid, changed in props.items()]
        touched: dict[str, dict[str, bool]] = {}
        for _, k, oid, detail in since:
            if k in ("group", "member") and (ids is None or oid in ids):
                members = touched.setdefault(oid, {})
                if k == "member":
                    members[detail[0]] = detail[1]
        out = []
        for gid, members in touched.items():
            g = self.groups.get(gid)
            if g is None:
                out.append({"id": gid, "@removed": {"reason": "deleted"}})
                continue
            entry: dict[str, Any] = {"id": gid, **{p: g.get(p) for p in select if p not in ("id", "members")}}
            if "members" in select:
                entry["members@delta"] = [{"@odata.type": USER, "id": m, **({} if on else {"@removed": {
                    "reason": "deleted"}})} for m, on in members.items()]
            out.append(entry)
        return out

    # --- writes ----------------------------------------------------------------------------------------------
    def _group(self, gid: str) -> dict[str, Any]:
        if gid not in self.groups:
            raise _not_found(gid)
        return self.groups[gid]

    def _writable(self, g: dict[str, Any]) -> None:
        if g["mailEnabled"] and "Unified" not in g["groupTypes"]:
            raise GraphError(400, "Request_BadRequest", DL_REFUSAL)
        if g.get("onPremisesSyncEnabled"):
            raise GraphError(400, "Request_BadRequest", "Unable to update the specified properties for "
                             "on-premises mastered Directory Sync objects or objects currently undergoing migration.")

    def _add(self, gid: str, body: Any) -> tuple[int, Any]:
        g = self._group(gid)
        ref = body.get("@odata.id") if isinstance(body, dict) else None
        if not isinstance(ref, str) or "/directoryObjects/" not in ref:
            raise GraphError(400, "Request_BadRequest", "The request body must carry @odata.id of a directoryObject.")
        mid = ref.rsplit("/", 1)[1]
        if mid not in self.users and mid not in self.groups:
            raise _not_found(mid)
        self._writable(g)
        if mid in g["members"]:
            raise GraphError(400, "Request_BadRequest", "One or more added object references already exist for "
                                                        "the following modified properties: 'members'.")
        self.edit_members(gid, add=[mid])
        self.stats["members added"] += 1
        return 204, None

    def _remove(self, gid: str, mid: str, *, by_ref: bool) -> tuple[int, Any]:
        g = self._group(gid)
        if not by_ref:  # Graph deletes the object itself: the mistake the connector must never make
            if mid in self.users:
                self.remove_user(mid)
                self.stats["objects deleted"] += 1
                return 204, None
            raise _not_found(mid)
        self._writable(g)
        if mid not in g["members"]:
            raise _not_found(mid)
        self.edit_members(gid, remove=[mid])
        self.stats["members removed"] += 1
        return 204, None

    def _batch(self, body: Any, client: str) -> dict[str, Any]:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > 20:
            raise GraphError(400, "BadRequest", "Number of requests in the batch exceeds the limit of 20.")
        self.stats["batches"] += 1
        answers = []
        for r in requests:
            if r.get("body") is not None and not r.get("headers"):
                raise GraphError(400, "BadRequest", "Content-Type header is required when a body is sent.")
            url = urlsplit(str(r.get("url") or ""))
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                self.spend(client, str(r.get("method")))
                status, out = self.handle(str(r.get("method")), url.path, q, r.get("body"), client)
                answers.append({"id": r.get("id"), "status": status, "headers": {}, "body": out})
            except GraphError as exc:
                answers.append({"id": r.get("id"), "status": exc.status, "headers": exc.headers,
                                "body": self.error_body(exc)})
        return {"responses": answers[::-1]}  # Graph may answer in any order

    @staticmethod
    def error_body(exc: GraphError) -> dict[str, Any]:
        if exc.code.startswith("invalid_") or exc.code == "unsupported_grant_type":  # the identity platform's
            return {"error": exc.code, "error_description": exc.message}
        return {"error": {"code": exc.code, "message": exc.message, "innerError": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "request-id": str(uuid.uuid4()),
            "client-request-id": str(uuid.uuid4())}}}


def _not_found(oid: str) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound", f"Resource '{oid}' does not exist or one of its queried "
                                                       "reference-property objects are not present.")


def _top(q: dict[str, str]) -> int:
    try:
        top = int(q.get("$top", "100"))
    except ValueError:
        top = 0
    if not 1 <= top <= 999:
        raise GraphError(400, "Request_BadRequest",
                         f"Invalid page size specified: '{q.get('$top')}'. Must be between 1 and 999 inclusive.")
    return top


def _select(obj: dict[str, Any], q: dict[str, str]) -> dict[str, Any]:
    wanted = [s for s in q.get("$select", "").split(",") if s]
    if not wanted:
        return {k: v for k, v in obj.items() if k != "members"}
    return {"id": obj["id"], **{p: obj.get(p) for p in wanted if p not in ("id", "members")}}


_TERMS = [
    (re.compile(r"^(mailEnabled|securityEnabled) eq (true|false)$"), lambda m: lambda g: bool(g.get(m[1])) == (
        m[2] == "true")),
    (re.compile(r"^groupTypes/any\(c:c eq '(\w+)'\)$"), lambda m: lambda g: m[1] in g["groupTypes"]),
    (re.compile(r"^displayName eq '((?:[^']|'')*)'$"), lambda m: lambda g: g["displayName"] == m[1].replace(
        "''", "'")),
    (re.compile(r"^startswith\(displayName,\s*'((?:[^']|'')*)'\)$"), lambda m: lambda g: str(
        g["displayName"]).lower().startswith(m[1].replace("''", "'").lower())),
]


def _group_filter(text: str | None) -> Callable[[dict[str, Any]], bool]:
    if not text:
        return lambda g: True
    tests = []
    for term in re.split(r"\s+and\s+", text.strip()):
        for pattern, make in _TERMS:
            m = pattern.match(term.strip())
            if m:
                tests.append(make(m))
                break
        else:
            raise GraphError(400, "Request_UnsupportedQuery", f"Unsupported query: {term!r} (the stand-in serves "
                                                               "only the filters its docstring lists)")
    return lambda g: all(t(g) for t in tests)


def _id_filter(text: str | None) -> set[str] | None:
    if not text:
        return None
    ids = re.findall(r"id eq '([^']+)'", text)
    if not ids or re.sub(r"id eq '[^']+'|\s+or\s+", "", text).strip():
        raise GraphError(400, "Request_UnsupportedQuery", "groups/delta supports $filter only as id eq '...' "
                                                          "joined by or")
    if len(ids) > 50:
        raise GraphError(400, "Request_UnsupportedQuery", "at most 50 ids in a groups/delta filter")
    return set(ids)


class _Handler(Dispatching):
    protocol_version = "HTTP/1.1"
    wbufsize = -1
    server: StandinServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        g = self.server.standin
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            m = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", url.path)
            if m and method == "POST":
                self._send(200, g.token(m.group(1), parse_qs(raw.decode())))
                return
            if not url.path.startswith("/v1.0/"):
                raise GraphError(404, "BadRequest", "Invalid version: use /v1.0")
            client = g.authenticate(self.headers.get("Authorization"))
            g.spend(client, method)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            status, out = g.handle(method, url.path[len("/v1.0"):], query, body, client)
            self._send(status, out)
        except GraphError as exc:
            with g.lock:
                g.stats[f"answered {exc.status}"] += 1
            self._send(exc.status, g.error_body(exc), exc.headers)


class StandinServer(BaseServer):
    standin: GraphStandin


def start_standin(*, port: int = 0, standin: GraphStandin | None = None, **options: Any) -> tuple[str, StandinServer]:
    """Start on 127.0.0.1 (a free port unless given); (base_url, server). Graph is at base_url + "/v1.0", the
    token endpoint at base_url + "/<tenant>/oauth2/v2.0/token". `options` go to `GraphStandin`."""
    server = StandinServer(("127.0.0.1", port), _Handler)
    server.standin = standin or GraphStandin(**options)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    server.standin.root = f"{base_url}/v1.0"
    return base_url, serve_in_thread(server, "graph-standin")


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Run the Microsoft Graph stand-in on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client", action="append", default=[], metavar="ID:SECRET")
    parser.add_argument("--seed", help="a JSON file: {users: [{...}], groups: [{displayName, members: [upn]}]}")
    args = parser.parse_args(argv)
    clients = dict(c.split(":", 1) for c in args.client) or None
    base_url, server = start_standin(port=args.port, clients=clients)
    g = server.standin
    if args.seed:
        with open(args.seed) as fh:
            seed = json.load(fh)
        by_upn = {u.get("userPrincipalName"): g.add_user(**u) for u in seed.get("users", ())}
        for grp in seed.get("groups", ()):
            members = [by_upn.get(m, m) for m in grp.pop("members", ())]
            g.add_group(grp.pop("displayName"), members=members, **grp)
    print(f"Microsoft Graph stand-in on {base_url}/v1.0 (tenant {g.tenant}; clients: {', '.join(g.clients)})",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
