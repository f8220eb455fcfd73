"""Groups for the Genesys Cloud stand-in (`standins/genesys.py`), mounted on it: its `handle` passes every
`/api/v2/groups...` request here. State lives on the stand-in (`standin.groups`), under its lock.

    from peoplesync_dev.standins import genesys_groups as gg
    gid = gg.add_group(server.standin, "Agents", members=[uid1, uid2])
    gg.group(server.standin, gid)["members"]        # member user ids, in the order they were added

What it serves:
- `GET /api/v2/groups` (pageSize / pageNumber paging, `id` to fetch some), `GET|PUT /api/v2/groups/{id}` (PUT
  with the current `version`, else 409), `POST /api/v2/groups` (name, type, visibility, rulesVisible required);
- `GET /api/v2/groups/{id}/members` (a page of users, as `GET /api/v2/users` renders them);
- `POST /api/v2/groups/{id}/members {memberIds, version}`: at most 50 ids (400 past that), the current version
  (409 "Unexpected version" otherwise), ids that are not users refused with 400; answers 202 and moves the
  version on by one;
- `DELETE /api/v2/groups/{id}/members?ids=a,b`: at most 50 ids, no version; answers 202.
Each membership change also shows in the members' `groups` (the users' `expand=groups`).

Where it simplifies (the real behaviour is not documented, or not needed by the bridge):
- adding a member who is already in the group, or removing one who is not, changes nothing and is accepted
  (202); whether the platform answers so is not documented;
- members are the group's individuals only: no owners, no dynamic (rule-based) members;
- a change is applied at once (the real API answers 202 Accepted: applied shortly after);
- `truncate_members(gid, n)`: the next member listing of that group leaves out n members while announcing
  the full total (a read cut short), for the tests of "a truncated read removes nobody".
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from .genesys import ApiError, GenesysStandin

MAX_IDS = 50


def _state(standin: GenesysStandin) -> dict[str, dict[str, Any]]:
    groups = getattr(standin, "groups", None)
    if groups is None:
        groups = standin.groups = {}  # type: ignore[attr-defined]
        standin.group_truncations = {}  # type: ignore[attr-defined]
    return groups


def add_group(standin: GenesysStandin, name: str, *, members: Sequence[str] = (), description: str = "",
              type: str = "official", visibility: str = "public") -> str:
    """Create a group directly (no request). `members` are user ids."""
    with standin.lock:
        gid = str(uuid.uuid4())
        _state(standin)[gid] = {"id": gid, "name": name, "description": description, "type": type,
                                "visibility": visibility, "rulesVisible": True, "state": "active", "version": 1,
                                "members": {}, "dateModified": _now()}
        _join(standin, _state(standin)[gid], list(members))
        return gid


def seed(standin: GenesysStandin, groups: Sequence[dict[str, Any]]) -> list[str]:
    """Groups from a seed file (`--seed`: `{"groups": [{"name", "members": [e-mail or user id], ...}]}`)."""
    by_email = {u["email"].lower(): uid for uid, u in standin.users.items()}
    return [add_group(standin, g["name"], description=g.get("description", ""),
                      members=[by_email.get(str(m).lower(), str(m)) for m in g.get("members", ())])
            for g in groups]


def group(standin: GenesysStandin, gid: str) -> dict[str, Any]:
    with standin.lock:
        return dict(_state(standin)[gid], members=list(_state(standin)[gid]["members"]))


def edit_members(standin: GenesysStandin, gid: str, *, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
    """A change made outside the bridge (an admin in the web app): the version moves on."""
    with standin.lock:
        g = _state(standin)[gid]
        _join(standin, g, list(add))
        _leave(standin, g, list(remove))
        g["version"] += 1


def truncate_members(standin: GenesysStandin, gid: str, count: int) -> None:
    with standin.lock:
        _state(standin)
        standin.group_truncations[gid] = count  # type: ignore[attr-defined]


def handle(standin: GenesysStandin, method: str, path: str, query: dict[str, list[str]],
           body: Any) -> tuple[int, Any]:
    groups = _state(standin)
    if path == "/api/v2/groups" and method == "GET":
        wanted = set(query.get("id") or ())
        items = sorted((g for g in groups.values() if not wanted or g["id"] in wanted),
                       key=lambda g: (g["name"].lower(), g["id"]))
        return 200, standin._page(items, query, _render)
    if path == "/api/v2/groups" and method == "POST":
        return 200, _render(_create(standin, body))
    m = re.fullmatch(r"/api/v2/groups/([^/]+)(/members)?", path)
    if m is None or m.group(1) not in groups:
        raise ApiError(404, "not.found", "The requested operation failed with status 404")
    g = groups[m.group(1)]
    if m.group(2) is None:
        if method == "GET":
            return 200, _render(g)
        if method == "PUT":
            return 200, _render(_update(g, body))
    elif method == "GET":
        return 200, _members_page(standin, g, query)
    elif method == "POST":
        if not isinstance(body, dict) or not isinstance(body.get("memberIds"), list):
            raise ApiError(400, "bad.request", "memberIds is required")
        ids = [str(x) for x in body["memberIds"]]
        _limit(ids)
        _version(g, body)
        unknown = [i for i in ids if standin.users.get(i, {}).get("state", "deleted") == "deleted"]
        if unknown:
            raise ApiError(400, "bad.request", f"not users: {', '.join(unknown[:3])}")
        _join(standin, g, ids)
        g["version"] += 1
        standin.stats["group member adds"] += 1
        return 202, {}
    elif method == "DELETE":
        ids = [x for v in query.get("ids") or () for x in v.split(",") if x]
        if not ids:
            raise ApiError(400, "bad.request", "ids is required")
        _limit(ids)
        _leave(standin, g, ids)
        g["version"] += 1
        standin.stats["group member removes"] += 1
        return 202, {}
    raise ApiError(404, "not.found", "The requested operation failed with status 404")


def _members_page(standin: GenesysStandin, g: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    users = sorted((standin.users[u] for u in g["members"]), key=lambda u: (u["name"].lower(), u["id"]))
    page = standin._page(users, query, lambda u: standin.render(u))
    cut = standin.group_truncations.pop(g["id"], 0)  # type: ignore[attr-defined]
    if cut:
        page["entities"] = page["entities"][:max(0, len(page["entities"]) - cut)]
    return page


def _create(standin: GenesysStandin, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not body.get("name"):
        raise ApiError(400, "bad.request", "name is required")
    for key, allowed in (("type", {"official", "social"}), ("visibility", {"public", "owners", "members"})):
        if body.get(key) not in allowed:
            raise ApiError(400, "bad.request", f"{key} must be one of {sorted(allowed)}")
    if not isinstance(body.get("rulesVisible"), bool):
        raise ApiError(400, "bad.request", "rulesVisible is required")
    if any(g["name"].lower() == str(body["name"]).lower() for g in _state(standin).values()):
        raise ApiError(409, "general.conflict", "A group with this name already exists")
    gid = add_group(standin, str(body["name"]), description=str(body.get("description") or ""),
                    type=body["type"], visibility=body["visibility"])
    return _state(standin)[gid]


def _update(g: dict[str, Any], body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not body.get("name"):
        raise ApiError(400, "bad.request", "name is required")
    _version(g, body)
    for key in ("name", "description", "type", "visibility", "rulesVisible"):
        if body.get(key) is not None:
            g[key] = body[key]
    g["version"] += 1
    g["dateModified"] = _now()
    return g


def _limit(ids: list[str]) -> None:
    if len(ids) > MAX_IDS:
        raise ApiError(400, "bad.request", f"A maximum of {MAX_IDS} members are allowed per request")


def _version(g: dict[str, Any], body: dict[str, Any]) -> None:
    if body.get("version") != g["version"]:
        raise ApiError(409, "conflict", "Resource conflict - Unexpected version was provided")


def _join(standin: GenesysStandin, g: dict[str, Any], ids: list[str]) -> None:
    for uid in ids:
        if uid not in g["members"]:
            g["members"][uid] = None
            user = standin.users.get(uid)
            if user is not None and g["id"] not in user["groups"]:
                user["groups"].append(g["id"])
    g["dateModified"] = _now()


def _leave(standin: GenesysStandin, g: dict[str, Any], ids: list[str]) -> None:
    gone = set(ids)
    for uid in gone:
        g["members"].pop(uid, None)
        user = standin.users.get(uid)
        if user is not None and g["id"] in user["groups"]:
            user["groups"].remove(g["id"])
    g["dateModified"] = _now()


def _render(g: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in g.items() if k != "members"}
    out["memberCount"] = len(g["members"])
    out["selfUri"] = f"/api/v2/groups/{g['id']}"
    return out


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
