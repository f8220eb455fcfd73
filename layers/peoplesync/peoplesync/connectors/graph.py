"""Microsoft Graph (Entra ID) as a peoplesync system (`connector: graph`): users read so that people link, and
Microsoft 365 and security groups whose membership the bridge reads and writes (`graph_groups.py`).

Users: `GET /users/delta?$select=id,accountEnabled,<mapped attributes>` (any user property: userPrincipalName,
mail, employeeId, displayName, jobTitle, ...). The first round is the full read; its `@odata.deltaLink` is the
cursor, and the next poll reads only the users that changed (each read again whole, in `$batch`es of 20, since
a delta entry may carry only the properties that changed). A user's key is its object id, the form group
members take; `active` is `accountEnabled`. Users are read only: writing profiles through Graph is not done
(a user write is refused, naming the reason).

Token: client credentials against `login_url/<tenant>/oauth2/v2.0/token` (`graph_api.GraphCredentials`, no
MSAL: see there and docs/graph.md). Requests share a token bucket (`requests_per_minute`) and one retry policy
(429 with Retry-After, 5xx), as the other HTTP connectors do. Configuration, permissions, simplifications:
docs/graph.md.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..model import GROUP, Observation, Write
from ..ports import (
    Capabilities,
    PermanentError,
    ReadFailed,
    ReadPage,
    ReadResult,
    SecretsPort,
    TransientError,
    WriteResult,
)
from ..retry import RetryPolicy
from . import graph_pages
from .base import BaseConnector, Harvest
from .checked_settings import settings_model
from .graph_api import GraphApi, graph_error
from .graph_groups import GraphGroups
from .ratelimit import BucketStore, TokenBucket, process_store

if TYPE_CHECKING:
    from .graph_settings import GraphSettings
    from .graph_settings import GraphSettings as Settings

log = logging.getLogger(__name__)

#: mapped attributes that are not user properties (group ones): never in a users $select
NOT_USER = frozenset({"members", "description", "groupTypes", "mailEnabled", "securityEnabled"})
_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def __getattr__(name: str) -> Any:
    """`Settings`, `GraphSettings`, `GraphGroupScope`: the pydantic models, imported when asked for
    (`graph_settings.py`)."""
    if name in ("Settings", "GraphSettings", "GraphGroupScope"):
        from . import graph_settings

        return getattr(graph_settings, "GraphSettings" if name == "Settings" else name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")




class GraphConnector(BaseConnector):
    Settings = settings_model("peoplesync.connectors.graph_settings:GraphSettings")
    credential_keys = ("client_id", "client_secret")
    credentials_required = True
    cursor_version = 1

    @classmethod
    def capabilities(cls, settings: Mapping[str, Any]) -> Capabilities:
        """Group membership is written; users are only read, and nothing is created, disabled or deleted."""
        return Capabilities(True, False, False, False, {
            "create": "the graph connector creates neither users nor groups: create them in Entra ID",
            "deactivate": "users are only read through Microsoft Graph", "delete": "users are only read"})

    def __init__(self, name: str, settings: GraphSettings, attributes: Iterable[str], *,
                 credentials: Mapping[str, Any] | None = None, writable: bool = True,
                 secrets: SecretsPort | None = None, buckets: BucketStore | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] | None = None,
                 rng: random.Random | None = None) -> None:
        super().__init__(name, settings, attributes, writable=writable, secrets=secrets, buckets=buckets)
        client_id, client_secret = (str((credentials or {}).get(k) or "") for k in self.credential_keys)
        if not client_id or not client_secret:
            raise PermanentError(f"system {name!r}: credentials holding client_id and client_secret are required")
        bad = [a for a in self.attributes if not _PROPERTY.match(a)]
        if bad:
            raise PermanentError(f"system {name!r}: {bad} are not Graph property names")
        self.user_attrs = [a for a in self.attributes if a not in NOT_USER]
        self.bucket = TokenBucket(f"graph:{settings.tenant_id}:{client_id}", settings.requests_per_minute,
                                  store=buckets or process_store(), clock=clock, sleep=sleep or time.sleep)
        policy = RetryPolicy.with_retries(settings.max_retries, max_retry_after=settings.max_retry_after,
                                          rng=rng or random.Random())
        self.api = GraphApi(settings.graph_url, f"{settings.login_url}/{settings.tenant_id}/oauth2/v2.0/token",
                            client_id, client_secret, bucket=self.bucket, policy=policy, clock=clock, sleep=sleep,
                            timeout=settings.timeout, name=name, batch_size=settings.batch_size)
        g = settings.groups
        self.groups = None if g is None else GraphGroups(
            name, self.api, self.attributes, ids=g.ids, filter=g.filter, page_size=settings.page_size,
            writable=writable and not g.read_only)

    # --- reads -------------------------------------------------------------------------------------------------
    def _read_full(self) -> ReadResult:
        entries, link = self.api.delta("/users/delta", {"$select": self.user_select()})
        if link is None:
            raise ReadFailed(f"{self.name}: a first users/delta round was refused as expired")
        observations = [self.observe_user(u) for u in entries if "@removed" not in u]
        state: dict[str, Any] = {"users": link}
        if self.groups is not None:
            groups, state["groups"] = self.groups.read_full()
            observations += groups
        return Harvest(observations, complete=True, state=state)

    def _read_delta(self, state: dict[str, Any]) -> ReadResult | None:
        if not state.get("users"):
            return None
        entries, link = self.api.delta(str(state["users"]))
        if link is None or (self.groups is not None and "groups" not in state):
            return None  # expired, or groups came into scope since: read in full
        removed = {str(u["id"]) for u in entries if "@removed" in u}
        changed = sorted({str(u["id"]) for u in entries} - removed)
        observations = [Observation(self.name, uid, {}, active=False, removed=True) for uid in sorted(removed)]
        observations += self._users(changed)
        new: dict[str, Any] = {"users": link}
        if self.groups is not None:
            delta = self.groups.read_delta(state["groups"])
            if delta is None:
                return None
            groups, new["groups"] = delta
            observations += groups
        return Harvest(observations, complete=False, state=new)

    def read_pages(self, cursor: str | None = None, *, full: bool = False, page_size: int | None = None,
                   start: str | None = None) -> Iterator[ReadPage]:
        """A full round in native pages (`graph_pages.py`) when `page_size` is given; a delta read (a cursor
        and no position) is one page, as `read` gives it."""
        delta = not full and start is None and self._decode(cursor) is not None
        if page_size is None or delta:
            yield from super().read_pages(cursor, full=full, page_size=page_size, start=start)
            return
        with self._session():
            try:
                yield from graph_pages.read_pages(self, page_size, start)
            except Exception as exc:
                failure = self._read_failure(exc)
                if failure is None:
                    raise
                raise failure from None

    def encode_state(self, state: dict[str, Any]) -> str | None:
        return self._encode(state)

    def _users(self, ids: list[str]) -> list[Observation]:
        """These users read again whole (a delta entry may hold only what changed); a 404 is a user gone."""
        select = self.user_select()
        answers = self.api.batch([{"id": uid, "method": "GET", "url": f"/users/{uid}?$select={select}"}
                                  for uid in ids])
        out = []
        for uid in ids:
            answer = answers[uid]
            if answer.get("status") == 404:
                out.append(Observation(self.name, uid, {}, active=False, removed=True))
            elif answer.get("status") != 200 or not isinstance(answer.get("body"), dict):
                raise ReadFailed(f"{self.name}: GET /users/{uid}: {answer.get('status')}")
            else:
                out.append(self.observe_user(answer["body"]))
        return out

    def read_keys(self, keys: list[str]) -> ReadResult:
        """Users and groups read again now. A key that is no user (404) may be a group's: a group is never
        mistaken for a removed user."""
        out = []
        try:
            for obs in self._users(sorted(set(keys))):
                if obs.removed and self.groups is not None:
                    group = self.groups.reread(obs.key)
                    obs = obs if group.removed else group
                out.append(obs)
        except (TransientError, PermanentError) as exc:  # outside the read template: said as a read failure
            raise ReadFailed(f"{self.name}: {exc}") from None
        return ReadResult(out, complete=False)

    def user_select(self) -> str:
        return ",".join(dict.fromkeys(["id", "accountEnabled", *self.user_attrs]))

    def observe_user(self, user: Mapping[str, Any]) -> Observation:
        attrs = {a: _blank(user.get(a)) for a in self.user_attrs}
        return Observation(self.name, str(user["id"]), attrs, active=user.get("accountEnabled") is not False)

    # --- writes ------------------------------------------------------------------------------------------------
    def _apply(self, change: Write) -> WriteResult:
        if change.kind == GROUP:
            if self.groups is None:
                raise PermanentError(f"{self.name}: group writes need `groups:` in this system's settings")
            if not self.groups.writable:
                raise PermanentError(f"{self.name}: groups are read_only in this system's settings")
            return self.groups.apply(change)
        raise PermanentError(f"{self.name}: writing users through Microsoft Graph is not supported (users are read "
                             f"so that people link); map user fields with this system as a source only")

    def _translate(self, exc: Exception) -> Any:
        import requests

        if isinstance(exc, requests.RequestException):  # reads turn it into a ReadFailed; writes are retried
            return TransientError(f"{self.name}: {type(exc).__name__}")
        return None


def _blank(value: Any) -> Any:
    if isinstance(value, list):  # a multi-valued property (businessPhones, proxyAddresses): a tuple
        return tuple(value) or None
    return None if value == "" else value


def _loopback(host: str) -> bool:
    from ipaddress import ip_address

    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


__all__ = ["CONNECTOR", "GraphConnector", "GraphSettings", "Settings", "graph_error"]

CONNECTOR = GraphConnector
