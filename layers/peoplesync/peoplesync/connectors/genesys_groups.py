"""Genesys Cloud groups for the `genesys_cloud` connector: groups in scope and their members read, membership
written as adds and removes (never the whole set), groups created where `provision` allows.

A group is observed as `Observation(kind="group", key=<group id>, attrs={name, description, members},
marker=<group version>)`, `members` being the member user ids (a sorted tuple), the form a person's key takes
in this system. The calls (Platform API v2):

- `GET /api/v2/groups?id=...` (the `ids` in scope) or `GET /api/v2/groups` page by page (a name filter);
- `GET /api/v2/groups/{id}/members?pageSize=&pageNumber=` page by page. A listing that moved while it was
  paged, or that stops short of the group's `memberCount`, is a `ReadFailed`: a truncated member list would
  read as "these people left the group", and nobody may be removed because of a read that failed;
- `POST /api/v2/groups/{id}/members {memberIds, version}` (at most 50 ids a request) answers 202, a stale
  `version` 409: the group is read again and the batch retried with its new version;
- `DELETE /api/v2/groups/{id}/members?ids=a,b` (at most 50 ids a request; it takes no version);
- `POST /api/v2/groups` to create one (`type: official`, `visibility: public`), then its members added.

The limit of 50 ids a request is the API's own ("A maximum of 50 members are allowed per request", in the
`GroupMembersUpdate.memberIds` and `deleteGroupMembers` `ids` descriptions of the Platform SDKs, e.g.
MyPureCloud/platform-client-sdk-python `build/docs/GroupsApi.md`). Configuration and simplifications:
docs/genesys.md, "Groups".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..model import CREATE, GROUP, UPDATE, Observation, Write
from ..ports import PermanentError, ReadFailed, TransientError, WriteResult
from .base import Page, page_all
from .rest import error_text

if TYPE_CHECKING:
    from .genesys_api import GenesysApi
    from .genesys_settings import GenesysGroupScope

log = logging.getLogger(__name__)

#: the attributes a group has in a configuration (`groups.fields.<f>.map.<system>`)
GROUP_ATTRS = frozenset({"name", "description", "members"})
#: of those, the ones a user does not have: left out of the user attribute paths
GROUP_ONLY = frozenset({"description", "members"})
VERSION_RETRIES = 5


def __getattr__(name: str) -> Any:
    """`GenesysGroupScope`: the pydantic model of `groups:`, imported when asked for (`genesys_settings.py`)."""
    if name == "GenesysGroupScope":
        from .genesys_settings import GenesysGroupScope

        return GenesysGroupScope
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class GenesysGroups:
    """The group half of a Genesys Cloud system, over the users connector's `GenesysApi` (same client, same
    request budget, same retries)."""

    def __init__(self, system: str, scope: GenesysGroupScope, api: GenesysApi, attributes: Iterable[str]) -> None:
        self.system = system
        self.scope = scope
        self.api = api
        self.attrs = sorted(GROUP_ATTRS & set(attributes))
        self.stats = {"members read": 0, "member requests": 0, "groups created": 0}

    # --- reads ---------------------------------------------------------------------------------------------
    def read(self) -> list[Observation]:
        """Every group in scope with its members. Raises `ReadFailed` when any of it cannot be read whole."""
        return [self.observe(g, self.members(g)) for g in self.groups()]

    def found(self, keys: Iterable[str]) -> dict[str, Observation]:
        """Those of these keys that are groups, read again with their members (the rest are not groups)."""
        wanted = sorted(set(keys))
        try:
            groups = self._by_ids(wanted) if wanted else []
        except TransientError as exc:
            raise ReadFailed(f"{self.system}: {exc}") from exc
        return {str(g["id"]): self.observe(g, self.members(g)) for g in groups}

    def groups(self) -> list[dict[str, Any]]:
        s = self.scope
        if s.ids and not s.names and s.name_prefix is None:
            return self._by_ids(list(s.ids))
        listing = page_all(lambda n: self._page("/api/v2/groups", {"pageSize": s.page_size, "pageNumber": n}),
                           key=lambda g: str(g["id"]), name=f"{self.system} groups")
        if not listing.complete:
            raise ReadFailed(f"{self.system}: the group listing changed while it was read; read again")
        names = {n.casefold() for n in s.names}
        return [g for g in listing.items
                if str(g["id"]) in s.ids or str(g.get("name", "")).casefold() in names
                or (s.name_prefix is not None and str(g.get("name", "")).startswith(s.name_prefix))]

    def _by_ids(self, ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i in range(0, len(ids), 100):
            chunk = ids[i:i + 100]
            page = self._page("/api/v2/groups", {"id": chunk, "pageSize": len(chunk), "pageNumber": 1})
            out += [g for g in page.items if g.get("state", "active") != "deleted"]
        return out

    def members(self, group: dict[str, Any]) -> tuple[str, ...]:
        gid = str(group["id"])
        path = f"/api/v2/groups/{gid}/members"
        listing = page_all(lambda n: self._page(path, {"pageSize": self.scope.page_size, "pageNumber": n}),
                           key=lambda u: str(u["id"]), name=f"{self.system} group {gid} members")
        self.stats["members read"] += len(listing.items)
        expected = group.get("memberCount")
        if not listing.complete or (isinstance(expected, int) and len(listing.items) < expected):
            raise ReadFailed(f"{self.system}: the members of group {gid} ({group.get('name')!r}) could not be read "
                             f"whole ({len(listing.items)} of {expected if expected is not None else '?'}); "
                             "nobody is added or removed because of this read")
        return tuple(sorted(str(u["id"]) for u in listing.items))

    def observe(self, group: dict[str, Any], members: tuple[str, ...]) -> Observation:
        values = {"name": group.get("name") or None, "description": group.get("description") or None,
                  "members": members}
        return Observation(self.system, str(group["id"]), {a: values[a] for a in self.attrs},
                           active=group.get("state", "active") == "active", marker=group.get("version"),
                           kind=GROUP)

    def _page(self, path: str, params: dict[str, Any]) -> Page[dict[str, Any]]:
        self.stats["member requests"] += path.endswith("/members")
        response = self.api.http.request("GET", path, params=params)
        if response.status_code != 200:
            raise ReadFailed(f"{self.system}: GET {path}: {error_text(response)}")
        body = response.json()
        entities = body.get("entities")
        if not isinstance(entities, list):
            raise ReadFailed(f"{self.system}: GET {path}: the answer has no entities (truncated?)")
        number, count = int(params["pageNumber"]), int(body.get("pageCount") or 1)
        total = body.get("total")
        return Page(entities, None if total is None else int(total), number + 1 if number < count else None)

    # --- writes --------------------------------------------------------------------------------------------
    def apply(self, change: Write) -> WriteResult:
        adds, removes = _delta(change)
        if change.op == CREATE:
            return self._create(change, adds)
        if change.op != UPDATE or not change.key:
            raise PermanentError(f"{self.system}: group {change.op} is not supported (only update and create)")
        if "members" in change.attrs:  # a whole set would drop members others added: refused, never applied
            raise PermanentError(f"{self.system}: group members are written as adds and removes (Write.delta), "
                                 "never as a whole set")
        self._remove(change.key, removes)  # first: removes take no version, and move it on
        named = {k: v for k, v in change.attrs.items() if k in ("name", "description")}
        if adds or named:
            group = self._group(change.key)
            if named and any(group.get(k) != v for k, v in named.items()):
                group = self._rename(group, named)
            self._add(group, adds)
        return WriteResult(change.key)

    def _group(self, gid: str) -> dict[str, Any]:
        response = self.api.http.request("GET", f"/api/v2/groups/{gid}")
        if response.status_code == 404:
            raise PermanentError(f"{self.system}: group {gid} does not exist (deleted?)")
        if response.status_code != 200:
            raise PermanentError(f"{self.system}: read group {gid}: {error_text(response)}")
        return dict(response.json())

    def _add(self, group: dict[str, Any], ids: list[str]) -> None:
        """Adds in batches, each with the group's version; the version moves on with each batch, so the next
        one is sent with version + 1, and a 409 (someone else changed the group) re-reads it and retries."""
        gid, version = str(group["id"]), group.get("version")
        for i in range(0, len(ids), self.scope.batch_size):
            chunk = ids[i:i + self.scope.batch_size]
            for _ in range(VERSION_RETRIES):
                response = self.api.http.request("POST", f"/api/v2/groups/{gid}/members",
                                                 json={"memberIds": chunk, "version": version})
                if response.status_code in (200, 202, 204):
                    version = version + 1 if isinstance(version, int) else version
                    break
                if response.status_code == 409 or _version_text(response):
                    version = self._group(gid).get("version")
                    continue
                raise PermanentError(f"{self.system}: add members to group {gid}: {error_text(response)}")
            else:
                raise TransientError(f"{self.system}: group {gid} kept changing; its members will be added later")

    def _remove(self, gid: str, ids: list[str]) -> None:
        for i in range(0, len(ids), self.scope.batch_size):
            chunk = ids[i:i + self.scope.batch_size]
            response = self.api.http.request("DELETE", f"/api/v2/groups/{gid}/members",
                                             params={"ids": ",".join(chunk)})
            # a member already gone is what we wanted: the API answers 202 for the batch either way
            if response.status_code not in (200, 202, 204):
                raise PermanentError(f"{self.system}: remove members from group {gid}: {error_text(response)}")

    def _rename(self, group: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        body = {"name": group.get("name"), "description": group.get("description"), "type": group.get("type"),
                "visibility": group.get("visibility"), "rulesVisible": group.get("rulesVisible", True),
                "version": group.get("version")}
        body.update({k: v for k, v in attrs.items() if k in ("name", "description")})
        gid = str(group["id"])
        for _ in range(VERSION_RETRIES):
            response = self.api.http.request("PUT", f"/api/v2/groups/{gid}", json=body)
            if response.status_code == 200:
                return dict(response.json())
            if response.status_code == 409 or _version_text(response):
                body["version"] = self._group(gid).get("version")
                continue
            raise PermanentError(f"{self.system}: update group {gid}: {error_text(response)}")
        raise TransientError(f"{self.system}: group {gid} kept changing; it will be updated later")

    def _create(self, change: Write, adds: list[str]) -> WriteResult:
        name = change.attrs.get("name")
        if not name:
            raise PermanentError(f"{self.system}: creating a group needs its name (map `name` for this system)")
        body = {"name": name, "type": "official", "visibility": "public", "rulesVisible": True,
                **({"description": change.attrs["description"]} if change.attrs.get("description") else {})}
        # not repeated after a 5xx: it may have happened, and a second one would be a duplicate group
        response = self.api.http.request("POST", "/api/v2/groups", json=body, retry_server_errors=False)
        if response.status_code not in (200, 201):
            raise PermanentError(f"{self.system}: create group {name!r}: {error_text(response)}")
        group = dict(response.json())
        self.stats["groups created"] += 1
        members = adds or [str(m) for m in change.attrs.get("members") or ()]
        self._add(group, members)
        return WriteResult(str(group["id"]), values={"name": group.get("name")})


def _delta(change: Write) -> tuple[list[str], list[str]]:
    d = change.delta.get("members") or {}
    return [str(x) for x in d.get("add", [])], [str(x) for x in d.get("remove", [])]


def _version_text(response: Any) -> bool:
    return response.status_code == 400 and "version" in response.text.lower()
