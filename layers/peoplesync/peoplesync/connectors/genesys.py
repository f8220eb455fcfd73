"""Genesys Cloud users as a peoplesync system (`connector: genesys_cloud`).

Reads list every user (active and inactive) with the expansions the mapped attributes need; an observation's
key is the user id, its marker the user's `version`, `active` is state == "active". Writes PATCH only the
mapped attributes that differ, with the version last seen; a version conflict re-reads the user and
decides again (see `_update`). Attribute paths: `genesys_attrs`; HTTP, auth and caches: `genesys_api`;
change events: `genesys_events`; groups and their membership (with `groups:` set): `genesys_groups`.
Configuration and simplifications: docs/genesys.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..model import ACTIVATE, CREATE, DEACTIVATE, DELETE, GROUP, UPDATE, Observation, Write
from ..ports import (
    AlreadyExists,
    PermanentError,
    ReadFailed,
    ReadPage,
    ReadResult,
    SecretsPort,
    TransientError,
    VersionConflict,
    WriteResult,
)
from . import genesys_attrs as ga
from . import resumable
from .base import BaseConnector
from .checked_settings import settings_model
from .genesys_groups import GROUP_ONLY, GenesysGroups
from .genesys_props import GenesysSettingsProps, _loopback  # noqa: F401 - _loopback: scim_client_settings' too
from .ratelimit import BucketStore, TokenBucket, process_store

if TYPE_CHECKING:
    from .genesys_settings import GenesysSettings

log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    """`Settings` (the name the registry and configuration checks look for), `GenesysSettings`,
    `GenesysGroupScope`: the pydantic models, imported when asked for (`genesys_settings.py`)."""
    if name in ("Settings", "GenesysSettings", "GenesysGroupScope"):
        from . import genesys_settings

        return getattr(genesys_settings, "GenesysSettings" if name == "Settings" else name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class GenesysConnector(BaseConnector):
    """Genesys Cloud users. The request budget's state comes from `buckets` (the process's by default)."""

    Settings = settings_model("peoplesync.connectors.genesys_settings:GenesysSettings")  # imported when first read
    settings_props = GenesysSettingsProps
    credential_keys = ("client_id", "client_secret")
    credentials_required = True

    def __init__(self, name: str, settings: GenesysSettings, attributes: Iterable[str], *,
                 credentials: Mapping[str, Any] | None = None, writable: bool = True,
                 secrets: SecretsPort | None = None,
                 buckets: BucketStore | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] | None = None) -> None:
        super().__init__(name, settings, attributes, writable=writable, secrets=secrets, buckets=buckets)
        from .genesys_api import GenesysApi

        client_id, client_secret = (str((credentials or {}).get(k) or "") for k in self.credential_keys)
        if not client_id or not client_secret:
            raise PermanentError(f"system {name!r}: credentials holding client_id and client_secret are required")
        try:
            self.paths = ga.parse_all(a for a in self.attributes if not (settings.groups and a in GROUP_ONLY))
        except ValueError as exc:
            hint = "; a group has name, description and members" if settings.groups else ""
            raise PermanentError(f"system {name!r}: {exc}{hint}") from None
        self.expand = ga.expansions(self.paths.values())
        api_url, login_url = settings.urls()
        self.bucket = TokenBucket(f"genesys:{api_url}:{client_id}", settings.requests_per_minute,
                                  store=buckets or process_store(), clock=clock, sleep=sleep or time.sleep)
        self.api = GenesysApi(api_url, login_url, client_id, client_secret, bucket=self.bucket, clock=clock,
                              sleep=sleep, timeout=settings.timeout, max_retries=settings.max_retries,
                              max_retry_after=settings.max_retry_after)
        self.client_id = client_id  # the flow tells the bridge's own edits from others' by it
        self._division: str | None = settings.division_id
        self.groups = GenesysGroups(name, settings.groups, self.api, self.attributes) if settings.groups else None

    # --- reads -----------------------------------------------------------------------------------------
    def _read_full(self) -> ReadResult:
        users, complete = self.api.list_users(self.expand, self.settings.page_size)
        return ReadResult([self.observe(u) for u in users if u.get("state") != "deleted"] + self.group_observations(),
                          complete=complete, confirm=not complete)  # page numbers shift: re-read who is missing

    def read_pages(self, cursor: str | None = None, *, full: bool = False, page_size: int | None = None,
                   start: str | None = None) -> Iterator[ReadPage]:
        """Native pages (`resumable.py`, by page number) when `page_size` is given: a position another
        invocation goes on from; groups in scope with the last page. Failures are `ReadFailed`, as `read`'s."""
        if page_size is None:
            yield from super().read_pages(cursor, full=full, page_size=page_size, start=start)
            return
        with self._session():
            try:
                yield from resumable.read_pages(
                    lambda n: self.api.users_page(self.expand, self.settings.page_size, n), 1,
                    lambda u: str(u["id"]), lambda u: None if u.get("state") == "deleted" else self.observe(u),
                    page_size, start, self.group_observations)
            except Exception as exc:
                failure = self._read_failure(exc)
                if failure is None:
                    raise
                raise failure from None

    def group_observations(self) -> list[Observation]:
        return self.groups.read() if self.groups else []  # a failed member read raises: nothing concluded

    def read_keys(self, keys: Iterable[str]) -> ReadResult:
        """Re-read some users (a change event named them). A user that is gone is observed as removed."""
        ids = sorted(set(keys))
        try:
            found = self.api.get_users(ids, self.expand)
        except (TransientError, PermanentError) as exc:
            raise ReadFailed(f"{self.name}: {exc}") from exc
        groups = self.groups.found(set(ids) - set(found)) if self.groups else {}  # a group's key, not a user's
        out = list(groups.values())
        for uid in (i for i in ids if i not in groups):
            user = found.get(uid)
            if user is None or user.get("state") == "deleted":
                out.append(Observation(self.name, uid, {}, active=False, removed=True,
                                       marker=None if user is None else user.get("version")))
            else:
                out.append(self.observe(user))
        return ReadResult(out, complete=False)

    def find_account(self, match: Mapping[str, Any]) -> Observation | None:
        """The one active or inactive user whose attributes equal `match`, by one `POST /api/v2/users/search`
        (EXACT criteria, see `genesys_attrs.search_criteria`); the users found are then checked against every
        value. A field only the PATCH after a create sets (employerInfo, manager, locations) may still be
        blank on the user: a create whose answer was lost never got that far, and that user is ours to link
        (the values it lacks are written next). None: none, several, or nothing searchable."""
        if set(match) - set(self.paths):
            return None
        wanted = {self.paths[a]: v for a, v in match.items()}
        criteria = ga.search_criteria(wanted)
        if not criteria:
            return None
        try:
            users, total = self.api.search_users(criteria, self.expand, page_size=ga.SEARCH_PAGE)
        except (TransientError, PermanentError) as exc:
            raise ReadFailed(f"{self.name}: {exc}") from exc
        if total > len(users):  # more than a page holds: certainly not "the one"
            return None
        found = [o for o in map(self.observe, users) if ga.holds(o.attrs, wanted)]
        return found[0] if len(found) == 1 else None

    def observe(self, user: Mapping[str, Any]) -> Observation:
        names = self._location_name if self.settings.locations_by == "name" else None
        attrs = {a: ga.read(user, p, names) for a, p in self.paths.items()}
        return Observation(self.name, str(user["id"]), attrs, active=user.get("state") == "active",
                           marker=user.get("version"))

    def _location_name(self, lid: str) -> str | None:
        return self.api.locations().get(lid)

    def _location_id(self, value: str) -> str:
        if self.settings.locations_by == "id":
            return value
        index = self.api.locations()
        if value in index:  # already an id
            return value
        matches = [lid for lid, name in index.items() if name.casefold() == value.casefold()]
        if len(matches) != 1:
            raise ValueError(f"location {value!r} " + ("is not defined in Genesys Cloud" if not matches
                                                        else "names several locations"))
        return matches[0]

    # --- writes ----------------------------------------------------------------------------------------
    def _apply(self, change: Write) -> WriteResult:
        if change.kind == GROUP:
            if self.groups is None:
                raise PermanentError(f"{self.name}: group writes need `groups:` in this system's settings")
            return self.groups.apply(change)
        if change.op == CREATE:
            return self._create(change)
        if not change.key:
            raise PermanentError(f"{self.name}: {change.op} needs the user id")
        if change.op == UPDATE:
            return self._update(change.key, {self.paths[a]: v for a, v in change.attrs.items()})
        if change.op in (DEACTIVATE, ACTIVATE):
            return self._set_state(change.key, "inactive" if change.op == DEACTIVATE else "active")
        if change.op == DELETE:
            response = self.api.delete_user(change.key)
            if response.status_code not in (200, 204, 404):  # 404: already gone, which is what we wanted
                raise PermanentError(f"{self.name}: delete {change.key}: {_err(response)}")
            return WriteResult(change.key)
        raise PermanentError(f"{self.name}: unknown operation {change.op!r}")

    def _current(self, uid: str, needs: tuple[str, ...], fresh: bool = False) -> dict[str, Any]:
        user = None if fresh else self.api.cache.get(uid, needs)
        if user is None:
            user = self.api.get_user(uid, tuple(sorted(set(needs) | set(self.expand))))
        if user is None or user.get("state") == "deleted":
            raise PermanentError(f"{self.name}: user {uid} does not exist (deleted?)")
        return user

    def _update(self, uid: str, changes: dict[ga.Path, Any], user: dict[str, Any] | None = None,
                attempts: int = 4) -> WriteResult:
        """PATCH the paths in `changes` with the version last seen (from the cache when there is one).

        A stale version is refused by the API. Then the user is read again: if a path we are about to
        overwrite changed meanwhile (to something other than what we want), the write is given back as a
        `VersionConflict`, so the engine re-reads and decides with the new value, never overwriting it
        blindly. Otherwise nothing we write was touched, and the PATCH is retried with the new version."""
        needs = ga.expansions(changes)
        fresh = user is not None
        user = user or self._current(uid, needs)
        for _ in range(attempts):
            body = self._body(user, changes)
            if not body:
                if not fresh:  # the cache says "already so": make sure before writing nothing
                    user, fresh = self._current(uid, needs, fresh=True), True
                    continue
                return WriteResult(uid, values=self._values(user, changes))
            response = self.api.patch_user(uid, {**body, "version": user["version"]})
            if response.status_code == 200:
                written = response.json()
                return WriteResult(uid, values=self._values(written, changes), marker=written.get("version"))
            if _version_mismatch(response):
                latest = self._current(uid, needs, fresh=True)
                moved = [p.attr for p in ga.changed_underneath(user, latest, changes)
                         if self._body(latest, {p: changes[p]})]
                if moved:
                    raise VersionConflict(f"{self.name}: user {uid} changed in Genesys Cloud while the bridge "
                                          f"was writing it ({', '.join(moved)}): re-read and decide again")
                user, fresh = latest, True
                continue
            if response.status_code == 404:
                self.api.cache.drop(uid)
                raise PermanentError(f"{self.name}: user {uid} does not exist (deleted?)")
            raise PermanentError(f"{self.name}: update {uid}: {_err(response)}")
        raise TransientError(f"{self.name}: user {uid} kept changing; the write will be retried")

    def _body(self, user: Mapping[str, Any], changes: Mapping[ga.Path, Any]) -> dict[str, Any]:
        try:
            return ga.patch_body(user, changes, self._location_id)
        except ValueError as exc:
            raise PermanentError(f"{self.name}: {exc}") from None

    def _values(self, user: Mapping[str, Any], changes: Mapping[ga.Path, Any]) -> dict[str, Any]:
        names = self._location_name if self.settings.locations_by == "name" else None
        return {p.attr: ga.read(user, p, names) for p in changes}

    def _set_state(self, uid: str, state: str) -> WriteResult:
        """A state change goes on a PATCH of its own: when `state` is present, nothing else changes."""
        user = self._current(uid, ())
        fresh = False
        for _ in range(4):
            if user.get("state") == state:
                if not fresh:
                    user, fresh = self._current(uid, (), fresh=True), True
                    continue
                return WriteResult(uid)
            response = self.api.patch_user(uid, {"state": state, "version": user["version"]})
            if response.status_code == 200:
                return WriteResult(uid, marker=response.json().get("version"))
            if _version_mismatch(response):
                user, fresh = self._current(uid, (), fresh=True), True
                continue
            raise PermanentError(f"{self.name}: set {uid} {state}: {_err(response)}")
        raise TransientError(f"{self.name}: user {uid} kept changing; the write will be retried")

    def _create(self, change: Write) -> WriteResult:
        """POST what a create accepts, then PATCH the rest (manager, employerInfo, locations can only be set
        on an existing user). If that second step fails, the user exists and is returned anyway: the next
        poll sees what is missing and the engine writes it, whereas failing would create a duplicate."""
        changes = {self.paths[a]: v for a, v in change.attrs.items()}
        first = {p: v for p, v in changes.items() if p.field in ga.CREATE_FIELDS}
        body = self._body({}, first)
        if not body.get("name") or not body.get("email"):
            raise PermanentError(f"{self.name}: creating a user needs name and email (both mapped and set)")
        if self._division is None:
            self._division = self.api.home_division()
        try:
            response = self.api.create_user({**body, "divisionId": self._division})
        except TransientError:  # no answer (a timeout, a 5xx): the user may have been created all the same
            landed = self._landed(changes)
            if landed is None:
                raise  # it did not land: the delivery is retried, and creates it then
            response = landed
        if response.status_code == 409:
            raise AlreadyExists(f"{self.name}: a user with e-mail {body['email']!r} already exists (perhaps "
                                f"deleted): {_err(response)}")
        if response.status_code != 200:
            raise PermanentError(f"{self.name}: create: {_err(response)}")
        user = response.json()
        uid, marker = str(user["id"]), user.get("version")
        values = self._values(user, first)
        rest = {p: v for p, v in changes.items() if p not in first}
        if rest:
            try:
                after = self._update(uid, rest, user=user)
                values.update(after.values)
                marker = after.marker if after.marker is not None else marker
            except (TransientError, PermanentError, VersionConflict) as exc:
                log.warning("%s: user %s created, but setting %s failed: %s", self.name, uid,
                            sorted(p.attr for p in rest), exc)
        return WriteResult(uid, values=values, marker=marker)

    def _landed(self, changes: dict[ga.Path, Any]) -> Any:
        """After a create whose answer was lost: the user it made, found by its e-mail (one users search, its
        employerInfo and other PATCH-only fields still blank or already as wanted), as a stand-in for the
        POST's answer; None when there is no such user (the create did not land)."""
        wanted = {p: v for p, v in changes.items() if (p.kind, p.name) == ("top", "email") or p.kind == "employer"}
        users, total = self.api.search_users(ga.search_criteria(wanted), self.expand, page_size=ga.SEARCH_PAGE)
        found = [u for u in users if ga.holds(self.observe(u).attrs, wanted)]
        if total > len(users) or len(found) != 1:
            return None
        log.warning("%s: a create's answer was lost; the user it made (%s) was found by e-mail", self.name,
                    found[0]["id"])
        return _Found(found[0])

    def event_keys(self, event: Any) -> list[str]:
        """The users a Genesys Cloud audit event (EventBridge partner bus) says to read again; never the
        bridge's own writes (recognised by its OAuth client)."""
        from .genesys_events import reread_requests

        return [r.key for r in reread_requests(event, system=self.name, own_client_ids={self.client_id})]


class _Found:
    """A user found by search, answering as the create's response would have."""

    status_code = 200

    def __init__(self, user: dict[str, Any]) -> None:
        self._user = user

    def json(self) -> dict[str, Any]:
        return self._user


def _version_mismatch(response: Any) -> bool:
    if response.status_code == 409:
        return True
    return response.status_code == 400 and "does not match the current version" in response.text


def _err(response: Any) -> str:
    from .rest import error_text

    return error_text(response)


CONNECTOR = GenesysConnector
