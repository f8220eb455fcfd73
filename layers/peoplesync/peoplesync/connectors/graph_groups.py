"""Microsoft 365 and security groups through Microsoft Graph: read with delta queries, membership written with
`members/$ref` in `$batch`es. The group half of the `graph` connector (`graph.py`).

Reads. A full read is the first round of `GET /groups/delta?$select=<properties>,members&$filter=id eq '..' or
...` (at most 50 ids a query, Graph's limit), followed through `@odata.nextLink` to its `@odata.deltaLink`: every
group in scope with every member, a large group's members spread over several entries (merged per group id).
The delta links are the cursor. A delta read follows them: a group that shows up changed is read again (its
properties, then `GET /groups/{id}/members` page by page), because a delta round carries only the members that
changed and an observation carries the whole set (the cursor holds no member lists: a 10,000-member group
would not fit in a DynamoDB item). Groups in scope by `filter` are resolved to ids at each full read.

Members are user ids (`#microsoft.graph.user`; an entry without `@odata.type` is taken for a user). Nested
groups, devices and service principals are not members here: they are never reported, so never removed.

Writes. `POST /groups/{id}/members/$ref` (add) and `DELETE /groups/{id}/members/{member}/$ref` (remove: never
without `/$ref`, which deletes the directory object itself), at most 20 to a `$batch`. An add Graph answers
"already exist" and a remove it answers 404 are done already. Before writing, the group's type is read:
Graph cannot change the members of distribution lists and mail-enabled security groups (nor dynamic groups,
nor groups synchronised from on-premises AD), and such a write is refused with the reason and the ways
that work (`not_writable`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ..model import CREATE, GROUP, UPDATE, Observation, Write
from ..ports import PermanentError, ReadFailed, WriteResult
from .graph_api import GraphApi, graph_error

log = logging.getLogger(__name__)

#: group attributes a configuration may map (`groups.fields.<f>.map.<system>`)
GROUP_ATTRS = frozenset({"displayName", "mail", "mailNickname", "description", "members"})
#: what is read of a group: the mapped attributes and what says whether Graph may write its members
PROPS = ("displayName", "mail", "mailNickname", "description", "mailEnabled", "securityEnabled", "groupTypes",
         "onPremisesSyncEnabled")
DELTA_IDS = 50  # ids in one groups/delta $filter: Graph's limit
USER_TYPE = "#microsoft.graph.user"
WAYS = ("write it in Active Directory if it is synchronised from there (hybrid: the `ldap` connector writes "
        "its `member`), convert it to a Microsoft 365 group, or manage it with Exchange Online PowerShell "
        "(Add-/Remove-DistributionGroupMember), which peoplesync does not run; see docs/graph.md")


def group_type(group: dict[str, Any]) -> str:
    """The group's type as Microsoft names it (learn.microsoft.com, groups overview)."""
    if "Unified" in (group.get("groupTypes") or ()):
        return "Microsoft 365 group"
    if group.get("mailEnabled"):
        return "mail-enabled security group" if group.get("securityEnabled") else "distribution list"
    return "security group"


def not_writable(group: dict[str, Any]) -> str | None:
    """Why Graph cannot change this group's members (None: it can)."""
    kind = group_type(group)
    label = f"group {group.get('displayName')!r} ({group.get('id')})"
    if kind in ("distribution list", "mail-enabled security group"):
        return f"{label} is a {kind}: Microsoft Graph cannot change its members; {WAYS}"
    if "DynamicMembership" in (group.get("groupTypes") or ()):
        return f"{label} is a {kind} with dynamic membership: its members follow its rule and cannot be written"
    if group.get("onPremisesSyncEnabled"):
        return (f"{label} is a {kind} synchronised from on-premises Active Directory: its members are mastered "
                "there; write them in AD (the `ldap` connector)")
    return None


class GraphGroups:
    def __init__(self, system: str, api: GraphApi, attributes: Iterable[str], *, ids: list[str],
                 filter: str | None, page_size: int, writable: bool) -> None:
        self.system = system
        self.api = api
        self.attrs = sorted(GROUP_ATTRS & set(attributes))
        self.ids = list(ids)
        self.filter = filter
        self.page_size = page_size
        self.writable = writable
        self.stats = {"members read": 0, "already members": 0, "already gone": 0}
        self.warned: set[str] = set()

    # --- reads -----------------------------------------------------------------------------------------------
    def read_full(self) -> tuple[list[Observation], dict[str, Any]]:
        ids = self.scope_ids()
        observed, links = self._first_rounds(ids)
        return observed, {"ids": ids, "links": links}

    def _first_rounds(self, ids: list[str]) -> tuple[list[Observation], list[str]]:
        """The first delta round of these groups (every member), 50 ids a query: observations and links."""
        links: list[str] = []
        groups: dict[str, dict[str, Any]] = {}
        select = ",".join((*PROPS, "members"))
        for i in range(0, len(ids), DELTA_IDS):
            chunk = ids[i:i + DELTA_IDS]
            clause = " or ".join(f"id eq '{_quote(g)}'" for g in chunk)
            entries, link = self.api.delta("/groups/delta", {"$select": select, "$filter": clause})
            if link is None:
                raise ReadFailed(f"{self.system}: a first groups/delta round was refused as expired")
            merge(entries, groups)
            links.append(link)
        for gid in set(ids) - set(groups):
            log.warning("%s: group %s is in scope but Graph did not return it (deleted? no permission?)",
                        self.system, gid)
        return [self.observe(g, tuple(sorted(g["members"]))) for g in groups.values() if not g["removed"]], links

    def read_delta(self, state: dict[str, Any]) -> tuple[list[Observation], dict[str, Any]] | None:
        """The groups changed since the cursor's delta links, read again whole, and the groups that came into
        the filter's scope since (their first round); None: a link expired."""
        changed: dict[str, dict[str, Any]] = {}
        links: list[str] = []
        for link in state.get("links") or ():
            entries, nxt = self.api.delta(str(link))
            if nxt is None:
                log.info("%s: a groups delta link expired: full read", self.system)
                return None
            merge(entries, changed)
            links.append(nxt)
        ids = list(state.get("ids") or [])
        scope = set(ids)
        out = []
        for gid in sorted(set(changed) & scope):
            if changed[gid]["removed"]:
                out.append(Observation(self.system, gid, {}, active=False, removed=True, kind=GROUP))
            else:
                out.append(self.reread(gid))
        if self.filter:  # one cheap listing of ids: a group that newly matches joins without a full read
            joined = [gid for gid in self.scope_ids() if gid not in scope]
            if joined:
                observed, more = self._first_rounds(joined)
                out += observed
                ids += joined
                links += more
        return out, {"ids": ids, "links": links}

    def scope_ids(self) -> list[str]:
        ids = dict.fromkeys(self.ids)
        if self.filter:
            found = self.api.listing("/groups", {"$filter": self.filter, "$select": "id", "$top": self.page_size})
            ids.update(dict.fromkeys(str(g["id"]) for g in found))
        return list(ids)

    def reread(self, gid: str) -> Observation:
        response = self.api.http.request("GET", f"/groups/{gid}", params={"$select": ",".join(PROPS)})
        if response.status_code == 404:
            return Observation(self.system, gid, {}, active=False, removed=True, kind=GROUP)
        if response.status_code != 200:
            raise ReadFailed(f"{self.system}: GET /groups/{gid}: {graph_error(response)}")
        return self.observe(response.json(), self.members(gid))

    def members(self, gid: str) -> tuple[str, ...]:
        """Every member's id, page by page; a page that fails fails the read (nobody is concluded gone)."""
        items = self.api.listing(f"/groups/{gid}/members", {"$select": "id", "$top": self.page_size})
        self.stats["members read"] += len(items)
        return tuple(sorted(str(m["id"]) for m in items if m.get("@odata.type", USER_TYPE) == USER_TYPE))

    def observe(self, group: dict[str, Any], members: tuple[str, ...]) -> Observation:
        gid = str(group["id"])
        if self.writable and gid not in self.warned and (why := not_writable(group)):
            self.warned.add(gid)
            log.warning("%s: %s", self.system, why)
        values = {a: group.get(a) or None for a in self.attrs if a != "members"}
        if "members" in self.attrs:
            values["members"] = members
        return Observation(self.system, gid, values, kind=GROUP)

    # --- writes ----------------------------------------------------------------------------------------------
    def apply(self, change: Write) -> WriteResult:
        if change.op == CREATE:
            raise PermanentError(f"{self.system}: creating groups through Microsoft Graph is not supported; create "
                                 f"the group in Entra ID and put its id in `groups.ids`")
        if change.op != UPDATE or not change.key:
            raise PermanentError(f"{self.system}: group {change.op} is not supported (membership and names only)")
        if "members" in change.attrs:  # a whole set would drop members others added: refused, never applied
            raise PermanentError(f"{self.system}: group members are written as adds and removes (Write.delta), "
                                 "never as a whole set")
        gid = change.key
        group = self._group(gid)
        d = change.delta.get("members") or {}
        adds, removes = [str(x) for x in d.get("add", ())], [str(x) for x in d.get("remove", ())]
        named = {k: v for k, v in change.attrs.items() if k in ("displayName", "description")}
        if adds or removes:
            why = not_writable(group)
            if why:
                raise PermanentError(f"{self.system}: {why}")
            self._members(gid, adds, removes)
        if named and any(group.get(k) != v for k, v in named.items()):
            response = self.api.http.request("PATCH", f"/groups/{gid}", json=named)
            if response.status_code not in (200, 204):
                raise PermanentError(f"{self.system}: update group {gid}: {graph_error(response)}")
        return WriteResult(gid)

    def _group(self, gid: str) -> dict[str, Any]:
        response = self.api.http.request("GET", f"/groups/{gid}", params={"$select": "id," + ",".join(PROPS)})
        if response.status_code == 404:
            raise PermanentError(f"{self.system}: group {gid} does not exist (deleted?)")
        if response.status_code != 200:
            raise PermanentError(f"{self.system}: read group {gid}: {graph_error(response)}")
        return dict(response.json())

    def _members(self, gid: str, adds: list[str], removes: list[str]) -> None:
        ref = f"{self.api.root}/directoryObjects/"
        requests: list[dict[str, Any]] = [{"id": f"a{i}", "method": "POST", "url": f"/groups/{gid}/members/$ref",
                                           "body": {"@odata.id": ref + uid}} for i, uid in enumerate(adds)]
        requests += [{"id": f"r{i}", "method": "DELETE", "url": f"/groups/{gid}/members/{uid}/$ref"}
                     for i, uid in enumerate(removes)]
        answers = self.api.batch(requests)
        refused = []
        for req, uid in zip(requests, adds + removes, strict=True):
            answer = answers[req["id"]]
            status, error = int(answer.get("status") or 0), _inner_error(answer)
            if 200 <= status < 300:
                continue
            if req["method"] == "POST" and status == 400 and "already exist" in error:
                self.stats["already members"] += 1  # what we wanted: done
                continue
            if req["method"] == "DELETE" and status == 404:
                self.stats["already gone"] += 1
                continue
            if "mail-enabled security groups and or distribution list" in error:
                raise PermanentError(f"{self.system}: group {gid}: Graph refused ({error}); {WAYS}")
            refused.append(f"{'add' if req['method'] == 'POST' else 'remove'} {uid}: {status} {error}")
        if refused:
            raise PermanentError(f"{self.system}: group {gid}: {len(refused)} of {len(requests)} membership changes "
                                 f"refused (the others were made): {'; '.join(refused[:3])}")


def merge(entries: list[dict[str, Any]], into: dict[str, dict[str, Any]]) -> None:
    """Fold delta entries into one record per group: the same group may come in several entries, each with
    a slice of `members@delta` (a member with `@removed` left the group)."""
    for e in entries:
        gid = str(e.get("id") or "")
        if not gid:
            continue
        g = into.setdefault(gid, {"id": gid, "members": set(), "removed": False})
        g["removed"] = "@removed" in e
        g.update({p: e[p] for p in PROPS if p in e})
        for m in e.get("members@delta") or ():
            if m.get("@odata.type", USER_TYPE) != USER_TYPE:
                continue
            if "@removed" in m:
                g["members"].discard(str(m["id"]))
            else:
                g["members"].add(str(m["id"]))


def _inner_error(answer: dict[str, Any]) -> str:
    body = answer.get("body")
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return f"{err.get('code')}: {err.get('message')}"
    return ""


def _quote(value: str) -> str:
    return value.replace("'", "''")
